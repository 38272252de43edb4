// Byte encodings: base64 (RFC 4648, standard alphabet) and hex.
//
// Contract: encoders are total. base64_decode() is a parser of untrusted
// input and is strict: it accepts exactly the strings base64_encode() can
// produce (standard alphabet, length a multiple of 4, '=' padding only at the
// end, unused bits zero, no whitespace), so every byte string has one
// encoding. Errors are one-line values. Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace bastion {

// Padded base64, e.g. "Zm8=".
std::string base64_encode(std::span<const uint8_t> bytes);
// Base64 without '=' padding, as in OpenSSH fingerprints ("SHA256:...").
std::string base64_encode_unpadded(std::span<const uint8_t> bytes);
// Strict decoding of padded base64 (see the contract above). "" decodes to {}.
Result<std::vector<uint8_t>> base64_decode(std::string_view text);
// Lower-case hex, two digits per byte.
std::string hex_encode(std::span<const uint8_t> bytes);

// The bytes of a string, without copying.
inline std::span<const uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace bastion
