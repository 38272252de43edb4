#include "gateway/app/session_id.h"

#include <openssl/rand.h>

#include <cstdint>
#include <cstdio>
#include <stdexcept>

namespace bastion::gateway {

std::string new_session_id() {
  unsigned char b[8];
  if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("RAND_bytes failed");
  char out[2 + 16 + 1];
  std::snprintf(out, sizeof out, "s-%02x%02x%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4],
                b[5], b[6], b[7]);
  return out;
}

bool looks_like_session_id(const std::string& s) {
  return s.size() == 18 && s.starts_with("s-") && s.find_first_not_of("0123456789abcdef", 2) == std::string::npos;
}

std::string new_elevation_id(const char* prefix) {
  static constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  unsigned char b[5];
  if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("RAND_bytes failed");
  uint64_t bits = 0;
  for (unsigned char c : b) bits = (bits << 8) | c;
  std::string out = std::string(prefix) + "-";
  for (int i = 7; i >= 0; --i) out += kAlphabet[(bits >> (5 * i)) & 31];
  return out;
}

}  // namespace bastion::gateway
