// Byte encodings: base64 and base64url (strict), hex; a UTF-8 check.
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
// base64url (RFC 4648 section 5) without padding, as WebAuthn uses it. Decoding
// is strict: URL alphabet only, no padding, no non-zero unused bits.
std::string base64url_encode(std::span<const uint8_t> bytes);
Result<std::vector<uint8_t>> base64url_decode(std::string_view text);
// Whether `s` is well-formed UTF-8 (no overlongs, surrogates or code points
// past U+10FFFF). JSON and the audit trail only take text that is.
bool is_valid_utf8(std::string_view s);
// Appends code point `c` as UTF-8; a surrogate or a value past U+10FFFF
// becomes U+FFFD.
void append_utf8(std::string& out, uint32_t c);

// Untrusted bytes made fit for an error message or a log line: at most
// `max` bytes, every byte outside printable ASCII shown as '?', "..." when
// cut.
std::string printable_ascii(std::string_view s, size_t max = 80);

// Free text one person writes and another reads (reasons, names shown on a
// terminal): printable UTF-8 only. Tabs and line breaks become spaces; other
// control characters (C0, DEL, C1: terminal escapes), bidirectional
// overrides and line/paragraph separators are dropped; invalid UTF-8 becomes
// U+FFFD.
std::string clean_text(std::string_view s);

inline std::span<const uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace bastion
