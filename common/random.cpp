#include "common/random.h"

#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>

namespace bastion {

void random_fill(std::span<uint8_t> out) {
  // SECURITY: see the failure policy in random.h: guessable secrets are
  // worse than a stopped process.
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    std::fprintf(stderr, "bastion: the random number generator failed; stopping\n");
    std::abort();
  }
}

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  random_fill({reinterpret_cast<uint8_t*>(out.data()), n});
  return out;
}

std::string random_base32_8() {
  static constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  uint8_t b[5];
  random_fill(b);
  uint64_t bits = 0;
  for (uint8_t c : b) bits = (bits << 8) | c;
  std::string out;
  for (int i = 7; i >= 0; --i) out += kAlphabet[(bits >> (5 * i)) & 31];
  return out;
}

std::string random_id(std::string_view prefix) { return std::string(prefix) + "-" + random_base32_8(); }

}  // namespace bastion
