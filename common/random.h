// Randomness for secrets and ids, from OpenSSL's CSPRNG (seeded by the
// kernel's getrandom()).
//
// Failure policy: if the CSPRNG fails, the process aborts with a message on
// stderr. Every caller turns these bytes into something nobody may guess
// (WebAuthn challenges, invitation tokens, step-up codes, certificate nonces
// and serials, ids); a failure leaves nothing safe to do, and returning an
// error would put a check in every caller where one forgotten check hands
// out predictable secrets. RAND_bytes fails only when the kernel gives
// OpenSSL no entropy at all, so this does not happen in a running system
// (OpenSSH's arc4random is fatal in the same case).
// Thread-safe (OpenSSL's default generator is).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace bastion {

// Fills `out` with random bytes.
void random_fill(std::span<uint8_t> out);
// `n` random bytes.
std::string random_bytes(size_t n);
// 8 characters of Crockford base32 (0-9 and A-Z without I, L, O, U): 40
// random bits, easy to read aloud and type ("7K2M9QXD").
std::string random_base32_8();
// PREFIX-XXXXXXXX: an id people type, e.g. "REQ-7K2M9QXD", "GRT-0B4N8W1C".
std::string random_id(std::string_view prefix);

}  // namespace bastion
