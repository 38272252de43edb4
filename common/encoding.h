// Byte encodings: base64 (strict) and hex.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace bastion {

std::string base64_encode(std::span<const uint8_t> bytes);
// Without '=' padding (OpenSSH fingerprints).
std::string base64_encode_unpadded(std::span<const uint8_t> bytes);
// Strict: standard alphabet, length a multiple of 4, padding only at the end.
Result<std::vector<uint8_t>> base64_decode(std::string_view text);
std::string hex_encode(std::span<const uint8_t> bytes);

inline std::span<const uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace bastion
