#include "common/ssh_wire.h"

#include <algorithm>
#include <limits>

namespace bastion {

void WireWriter::u32(uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) buf_.push_back(static_cast<uint8_t>(v >> s));
}

void WireWriter::u64(uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) buf_.push_back(static_cast<uint8_t>(v >> s));
}

void WireWriter::string(std::span<const uint8_t> bytes) {
  // SECURITY: a silently truncated length would make the reader see
  // attacker-chosen bytes as the next fields; refuse instead.
  if (bytes.size() > std::numeric_limits<uint32_t>::max()) {
    ok_ = false;
    return;
  }
  u32(static_cast<uint32_t>(bytes.size()));
  raw(bytes);
}

void WireWriter::string(std::string_view text) {
  string(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

void WireWriter::mpint(std::span<const uint8_t> magnitude) {
  auto first = std::find_if(magnitude.begin(), magnitude.end(), [](uint8_t b) { return b != 0; });
  auto m = magnitude.subspan(static_cast<size_t>(first - magnitude.begin()));
  if (m.empty() || (m[0] & 0x80) == 0) {
    string(m);
    return;
  }
  if (m.size() >= std::numeric_limits<uint32_t>::max()) {
    ok_ = false;
    return;
  }
  u32(static_cast<uint32_t>(m.size() + 1));
  u8(0);
  raw(m);
}

Result<uint64_t> WireReader::big_endian(size_t width) {
  if (remaining() < width) return make_error("truncated data");
  uint64_t v = 0;
  for (size_t i = 0; i < width; ++i) v = (v << 8) | data_[pos_ + i];
  pos_ += width;
  return v;
}

Result<uint8_t> WireReader::u8() {
  auto v = big_endian(1);
  if (!v) return v.error();
  return static_cast<uint8_t>(*v);
}

Result<uint32_t> WireReader::u32() {
  auto v = big_endian(4);
  if (!v) return v.error();
  return static_cast<uint32_t>(*v);
}

Result<uint64_t> WireReader::u64() { return big_endian(8); }

Result<std::span<const uint8_t>> WireReader::string() {
  const size_t start = pos_;
  auto len = u32();
  if (!len) return len.error();
  if (*len > remaining()) {
    std::string message = "string length " + std::to_string(*len) + " exceeds the remaining " +
                          std::to_string(remaining()) + " bytes";
    pos_ = start;
    return make_error(std::move(message));
  }
  auto out = data_.subspan(pos_, *len);
  pos_ += *len;
  return out;
}

Result<std::string> WireReader::text() {
  const size_t start = pos_;
  auto s = string();
  if (!s) return s.error();
  // SECURITY: C consumers (sshd, logs, file systems) stop at a NUL, so
  // "root\0x" would mean different things to us and to them.
  if (std::find(s->begin(), s->end(), uint8_t{0}) != s->end()) {
    pos_ = start;
    return make_error("string contains a NUL byte");
  }
  return std::string(s->begin(), s->end());
}

Result<std::span<const uint8_t>> WireReader::mpint() {
  const size_t start = pos_;
  auto s = string();
  if (!s) return s.error();
  std::span<const uint8_t> m = *s;
  const char* problem = nullptr;
  if (!m.empty() && (m[0] & 0x80) != 0) {
    problem = "mpint is negative";
  } else if (!m.empty() && m[0] == 0 && (m.size() == 1 || (m[1] & 0x80) == 0)) {
    // SECURITY: one number, one encoding; fingerprints hash the encoding.
    problem = "mpint has an unnecessary leading zero";
  }
  if (problem != nullptr) {
    pos_ = start;
    return make_error(problem);
  }
  return m.empty() ? m : m.subspan(m[0] == 0 ? 1 : 0);
}

}  // namespace bastion
