#include "common/encoding.h"

#include <array>

namespace bastion {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kHexDigits[] = "0123456789abcdef";

// The 6-bit value of a base64 character, or -1 if it is not in the alphabet.
int decode_char(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

void append_group(std::string& out, uint32_t v, size_t chars) {
  for (size_t k = 0; k < 4; ++k) {
    out += k < chars ? kAlphabet[(v >> (18 - 6 * k)) & 63] : '=';
  }
}

}  // namespace

std::string base64_encode(std::span<const uint8_t> in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    append_group(out, (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8) | in[i + 2], 4);
  }
  size_t rest = in.size() - i;
  if (rest == 1) append_group(out, uint32_t{in[i]} << 16, 2);
  if (rest == 2) append_group(out, (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8), 3);
  return out;
}

std::string base64_encode_unpadded(std::span<const uint8_t> bytes) {
  std::string s = base64_encode(bytes);
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

Result<std::vector<uint8_t>> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return make_error("base64 is invalid (length is not a multiple of 4)");
  std::vector<uint8_t> out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    std::array<int, 4> v{};
    size_t pad = 0;
    for (size_t j = 0; j < 4; ++j) {
      char c = text[i + j];
      if (c == '=') {
        // Padding: only in the last group, only in its last two positions.
        if (!last || j < 2) return make_error("base64 is invalid (misplaced padding)");
        ++pad;
        continue;
      }
      if (pad > 0) return make_error("base64 is invalid (misplaced padding)");
      v[j] = decode_char(c);
      if (v[j] < 0) return make_error("base64 is invalid (bad character)");
    }
    // SECURITY: unused bits must be zero, otherwise several texts decode to
    // the same bytes and a key could be enrolled twice under different lines.
    if ((pad == 2 && (v[1] & 0x0f) != 0) || (pad == 1 && (v[2] & 0x03) != 0)) {
      return make_error("base64 is invalid (non-zero unused bits)");
    }
    uint32_t x = (static_cast<uint32_t>(v[0]) << 18) | (static_cast<uint32_t>(v[1]) << 12) |
                 (static_cast<uint32_t>(v[2]) << 6) | static_cast<uint32_t>(v[3]);
    out.push_back(static_cast<uint8_t>(x >> 16));
    if (pad < 2) out.push_back(static_cast<uint8_t>(x >> 8));
    if (pad < 1) out.push_back(static_cast<uint8_t>(x));
  }
  return out;
}

std::string hex_encode(std::span<const uint8_t> bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out += kHexDigits[b >> 4];
    out += kHexDigits[b & 15];
  }
  return out;
}

}  // namespace bastion
