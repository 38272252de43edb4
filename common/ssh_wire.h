// SSH wire encoding (RFC 4251 section 5): the types inside keys,
// certificates and signatures.
//
// WireReader is a parser of untrusted input: every read is bounds-checked and
// returns an error on truncation; it never throws and never reads past the end.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace bastion {

class WireWriter {
 public:
  void u8(uint8_t v) { buf_.push_back(v); }
  void u32(uint32_t v);
  void u64(uint64_t v);
  void string(std::span<const uint8_t> bytes);
  void string(std::string_view text);
  // mpint from an unsigned big-endian magnitude (adds a 0x00 when the top bit is set).
  void mpint(std::span<const uint8_t> magnitude);
  void raw(std::span<const uint8_t> bytes) { buf_.insert(buf_.end(), bytes.begin(), bytes.end()); }
  [[nodiscard]] const std::vector<uint8_t>& bytes() const { return buf_; }

 private:
  std::vector<uint8_t> buf_;
};

class WireReader {
 public:
  explicit WireReader(std::span<const uint8_t> data) : data_(data) {}
  Result<uint8_t> u8();
  Result<uint32_t> u32();
  Result<uint64_t> u64();
  Result<std::span<const uint8_t>> string();
  Result<std::string> text();
  [[nodiscard]] bool at_end() const { return pos_ == data_.size(); }
  [[nodiscard]] size_t remaining() const { return data_.size() - pos_; }

 private:
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
};

}  // namespace bastion
