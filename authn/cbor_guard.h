// Checks on untrusted CBOR and WebAuthn authenticator data made before any
// of it reaches libcbor or libfido2. Internal to authn/.
//
// Why: libcbor reserves room for a definite array or map as soon as it reads
// the header, so five bytes (9a 10 00 00 00) declare an array of 2^28 items
// and cost gigabytes before the decoder notices the input ends. These checks
// walk the headers without allocating anything.
//
// Contract: pure functions of their input; errors start with "malformed".
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/result.h"

namespace bastion::authn {

constexpr int kMaxCborDepth = 16;

// The size in bytes of the one CBOR data item at the start of `in`, once it
// is known that: every length is definite; no string, array or map declares
// more than the bytes left could hold (an element takes at least a byte, a
// map pair two); nesting (arrays, maps, tags) is at most kMaxCborDepth deep;
// no reserved header is used.
Result<size_t> cbor_bounded_item(std::span<const uint8_t> in);

// The same, and the item is all of `in`.
Status cbor_bounded(std::span<const uint8_t> in);

// The content of the definite CBOR byte string that is all of `in`.
Result<std::span<const uint8_t>> cbor_byte_string(std::span<const uint8_t> in);

// WebAuthn authenticator data (WebAuthn section 6.1), split up.
struct AuthDataLayout {
  uint8_t flags = 0;
  uint32_t sign_count = 0;
  std::span<const uint8_t> aaguid;         // 16 bytes when attested credential data is present
  std::span<const uint8_t> credential_id;  // likewise
  std::span<const uint8_t> cose_key;       // one bounded CBOR map, likewise
  std::span<const uint8_t> extensions;     // one bounded CBOR map when the ED flag is set
};
// rpIdHash, flags and counter, then attested credential data exactly when
// the AT flag is set, extensions exactly when ED is, and nothing after.
Result<AuthDataLayout> parse_authenticator_data(std::span<const uint8_t> ad);

// A COSE_Key of ES256 (-7) or EdDSA (-8), and `expected_alg` when that is
// not 0, with the members libfido2 would otherwise quietly leave zero: kty,
// alg, crv and x (and y for EC2), of the right types and sizes; an Ed25519 x
// that is not weak (ed25519_public_key_is_weak). Returns the algorithm. Does
// not check that a P-256 point is on the curve (OpenSSL does when the key is
// used).
Result<int> check_cose_key(std::span<const uint8_t> cose_key, int expected_alg = 0);

}  // namespace bastion::authn
