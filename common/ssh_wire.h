// SSH wire encoding (RFC 4251 section 5): the data types inside SSH keys,
// certificates, signatures and SFTP packets.
//
// WireWriter builds a byte buffer. It never throws (beyond std::bad_alloc) and
// never writes a wrong length: a string longer than 2^32-1 bytes is refused and
// makes ok() false for good; a caller that cannot rule that out checks ok()
// before using bytes().
//
// WireReader is a parser of untrusted input over a borrowed span (which must
// outlive it and the spans it returns). Every read is bounds-checked and
// returns an Error on truncation or a length larger than the data; a failed
// read consumes nothing; it never throws and never reads past the end.
// Thread-safety: plain values, one thread per object.
#pragma once

#include <cstddef>
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
  // uint32 length followed by the bytes.
  void string(std::span<const uint8_t> bytes);
  void string(std::string_view text);
  // mpint from an unsigned big-endian magnitude: leading zero bytes dropped,
  // one 0x00 added when the top bit is set; zero is the empty string.
  void mpint(std::span<const uint8_t> magnitude);
  // Bytes appended as they are, without a length.
  void raw(std::span<const uint8_t> bytes) { buf_.insert(buf_.end(), bytes.begin(), bytes.end()); }

  // False once a string was too long to encode; bytes() is then incomplete.
  [[nodiscard]] bool ok() const { return ok_; }
  [[nodiscard]] const std::vector<uint8_t>& bytes() const { return buf_; }

 private:
  std::vector<uint8_t> buf_;
  bool ok_ = true;
};

class WireReader {
 public:
  explicit WireReader(std::span<const uint8_t> data) : data_(data) {}

  Result<uint8_t> u8();
  Result<uint32_t> u32();
  Result<uint64_t> u64();
  // A uint32-length-prefixed byte string, as a view into the data.
  Result<std::span<const uint8_t>> string();
  // A string that is text: refused if it contains a NUL byte.
  Result<std::string> text();
  // A non-negative mpint in minimal form (RFC 4251); returns the big-endian
  // magnitude without a leading zero (empty for zero). Negative or padded
  // encodings are refused.
  Result<std::span<const uint8_t>> mpint();

  [[nodiscard]] bool at_end() const { return pos_ == data_.size(); }
  [[nodiscard]] size_t remaining() const { return data_.size() - pos_; }
  // Bytes consumed so far.
  [[nodiscard]] size_t offset() const { return pos_; }

 private:
  Result<uint64_t> big_endian(size_t width);

  std::span<const uint8_t> data_;
  size_t pos_ = 0;
};

}  // namespace bastion
