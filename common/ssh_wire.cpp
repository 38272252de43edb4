#include "common/ssh_wire.h"

namespace bastion {

void WireWriter::u32(uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) buf_.push_back(static_cast<uint8_t>(v >> s));
}

void WireWriter::u64(uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) buf_.push_back(static_cast<uint8_t>(v >> s));
}

void WireWriter::string(std::span<const uint8_t> bytes) {
  u32(static_cast<uint32_t>(bytes.size()));
  raw(bytes);
}

void WireWriter::string(std::string_view text) {
  string(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

void WireWriter::mpint(std::span<const uint8_t> magnitude) {
  size_t skip = 0;
  while (skip < magnitude.size() && magnitude[skip] == 0) ++skip;
  auto m = magnitude.subspan(skip);
  bool pad = !m.empty() && (m[0] & 0x80);
  u32(static_cast<uint32_t>(m.size() + (pad ? 1 : 0)));
  if (pad) u8(0);
  raw(m);
}

Result<uint8_t> WireReader::u8() {
  if (remaining() < 1) return make_error("truncated data");
  return data_[pos_++];
}

Result<uint32_t> WireReader::u32() {
  if (remaining() < 4) return make_error("truncated data");
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | data_[pos_++];
  return v;
}

Result<uint64_t> WireReader::u64() {
  if (remaining() < 8) return make_error("truncated data");
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | data_[pos_++];
  return v;
}

Result<std::span<const uint8_t>> WireReader::string() {
  auto len = u32();
  if (!len) return len.error();
  if (*len > remaining()) return make_error("string length exceeds data");
  auto out = data_.subspan(pos_, *len);
  pos_ += *len;
  return out;
}

Result<std::string> WireReader::text() {
  auto s = string();
  if (!s) return s.error();
  return std::string(s->begin(), s->end());
}

}  // namespace bastion
