// Fuzzes WebAuthn verification (authn/fido_verify.h): verify_registration
// (clientDataJSON + CBOR attestationObject) and verify_assertion
// (clientDataJSON, authenticatorData, signature); and, on every input,
// base64url_decode / base64url_encode and is_valid_utf8 (common/encoding.h).
//
// Input: byte 0 is the mode; the rest is cut at each kSep into parts.
//   mode % 4 == 0  registration:   CDJ kSep ATTESTATION_OBJECT
//   mode % 4 == 1  assertion with the fixed ES256 credential:
//                  CDJ kSep AUTH_DATA kSep SIGNATURE [kSep CREDENTIAL_ID]
//   mode % 4 == 2  the same with the fixed EdDSA credential
//   mode % 4 == 3  registration, then an assertion with the credential it
//                  registered: CDJ kSep ATT_OBJ kSep CDJ kSep AUTH_DATA kSep SIGNATURE
//   mode & 0x80    registrations run without attestation trust (nullptr)
// The relying party is fixed: RP ID gw.example.com, origin
// https://gw.example.com:8443, challenge 32 bytes 0x5a (as in
// authn/soft_webauthn_test_support.h); fuzz/make_seeds.py writes matching
// seeds, with real signatures.
//
// The attestation root is made at start-up with a key thrown away at once,
// and the fixed credentials' keys too: no input can carry a signature by any
// of them. Properties:
//   - a registration that requires attestation never succeeds; one that
//     allows "none" may, and then the strict one failed only for want of an
//     attestation; the credential is self-consistent (non-empty id found in
//     the authenticator data, alg -7 or -8, its DER SubjectPublicKeyInfo a
//     key of that algorithm whose raw bytes are in the attestation object,
//     format "none", canonical AAGUID), and no assertion passes for it
//     without its private key (Ed25519: R = identity or the key, S = 0);
//   - an assertion with a fixed credential never succeeds; one with a
//     credential the input registered may (the seeds sign theirs), and then
//     its counter is the authenticator data's and moved forward, and the same
//     assertion fails for another origin, RP ID or credential id;
//   - every refusal has a reason;
//   - base64url: a text that decodes encodes back to itself, and any bytes
//     encode to a text that decodes back to them;
//   - is_valid_utf8 agrees with a reference decoder (Unicode 15, table 3-7)
//     and with nlohmann::json's parser on the same bytes as a JSON string.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "authn/fido_verify.h"
#include "common/ed25519_key.h"
#include "common/encoding.h"
#include "common/openssl_handles.h"
#include "fuzz_support.h"

using namespace bastion;

namespace {

// Separates the parts of an input (in fuzz/dict/fuzz_webauthn.dict).
constexpr std::string_view kSep = "-=8<=-";

const std::string kRpId = "gw.example.com";
const std::string kOrigin = "https://gw.example.com:8443";
const std::string kChallenge(32, '\x5a');
const std::string kCredentialId = "cred-0123456789abcdef";

std::vector<std::string_view> split(std::string_view in, size_t max_parts) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    size_t at = in.find(kSep);
    if (at == std::string_view::npos) break;
    parts.push_back(in.substr(0, at));
    in.remove_prefix(at + kSep.size());
  }
  parts.push_back(in);
  return parts;
}

std::string_view part(const std::vector<std::string_view>& parts, size_t i) {
  return i < parts.size() ? parts[i] : std::string_view();
}

// The SubjectPublicKeyInfo of a fresh key whose private half is dropped.
std::string untouchable_spki(bool eddsa) {
  Pkey key(eddsa ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519") : EVP_EC_gen("P-256"));
  FUZZ_CHECK(key);
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(key.get(), &der);
  FUZZ_CHECK(n > 0);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

authn::AttestationTrust trust;
authn::WebauthnCredential es256_credential, eddsa_credential;

authn::AssertionCheck assertion_check(const authn::WebauthnCredential& c) { return {kRpId, kOrigin, kChallenge, &c}; }

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

bool canonical_aaguid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    char c = s[i];
    if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

uint32_t counter_of(std::string_view ad) {
  uint32_t v = 0;
  for (size_t i = 33; i < 37; ++i) v = (v << 8) | static_cast<uint8_t>(ad[i]);
  return v;
}

// No assertion may pass for `c` without its private key. An Ed25519 key of
// small order A (e.g. 32 zero bytes) fails that: the signature R || S with
// S = 0 verifies whenever R == -[k]A, k = H(R || A || message), so R = the
// identity or R = A passes for about 1 message in ord(A) <= 8.
void check_unforgeable(const authn::WebauthnCredential& c, std::string_view raw_key) {
  if (c.cose_alg != -8) return;  // P-256 has no small subgroup
  authn::WebauthnCredential fresh = c;
  fresh.sign_count = 0;
  const std::string cdj = "{\"type\":\"webauthn.get\",\"challenge\":\"" + base64url_encode(as_bytes(kChallenge)) +
                          "\",\"origin\":\"" + kOrigin + "\"}";
  const auto rp_hash = sha256(as_bytes(kRpId));
  std::string identity(32, '\0');
  identity[0] = 1;
  for (uint32_t counter = 1; counter <= 24; ++counter) {
    std::string ad(rp_hash.begin(), rp_hash.end());
    ad += '\x05';  // UP | UV
    for (int shift = 24; shift >= 0; shift -= 8) ad += static_cast<char>((counter >> shift) & 0xff);
    for (std::string_view r : {std::string_view(identity), raw_key}) {
      std::string sig = std::string(r) + std::string(32, '\0');
      auto forged = authn::verify_assertion(c.credential_id, cdj, ad, sig, assertion_check(fresh));
      if (forged) std::fprintf(stderr, "assertion forged without a private key (counter %u)\n", counter);
      FUZZ_CHECK(!forged);
    }
  }
}

// A registered credential must describe one key of its algorithm, taken from
// the attestation object.
void check_credential(const authn::WebauthnCredential& c, std::string_view att_object) {
  FUZZ_CHECK(!c.credential_id.empty());
  FUZZ_CHECK(contains(att_object, c.credential_id));
  FUZZ_CHECK(c.cose_alg == -7 || c.cose_alg == -8);
  FUZZ_CHECK(c.user_verified);
  FUZZ_CHECK(c.attestation.format == "none");  // nothing can chain to the fuzzer's root
  FUZZ_CHECK(c.attestation.aaguid.empty() || canonical_aaguid(c.attestation.aaguid));
  FUZZ_CHECK(c.attestation.chain_pem.empty());

  const unsigned char* p = reinterpret_cast<const unsigned char*>(c.public_key_der.data());
  Pkey key(d2i_PUBKEY(nullptr, &p, static_cast<long>(c.public_key_der.size())));
  FUZZ_CHECK(key);
  FUZZ_CHECK(p == reinterpret_cast<const unsigned char*>(c.public_key_der.data()) + c.public_key_der.size());
  unsigned char raw[65];
  size_t raw_len = 0;
  if (c.cose_alg == -8) {
    FUZZ_CHECK(EVP_PKEY_get_id(key.get()) == EVP_PKEY_ED25519);
    raw_len = sizeof raw;
    FUZZ_CHECK(EVP_PKEY_get_raw_public_key(key.get(), raw, &raw_len) == 1 && raw_len == 32);
    check_unforgeable(c, std::string_view(reinterpret_cast<char*>(raw), 32));
    FUZZ_CHECK(contains(att_object, std::string_view(reinterpret_cast<char*>(raw), 32)));
  } else {
    FUZZ_CHECK(EVP_PKEY_get_id(key.get()) == EVP_PKEY_EC);
    char group[64] = {};
    size_t group_len = 0;
    FUZZ_CHECK(EVP_PKEY_get_group_name(key.get(), group, sizeof group, &group_len) == 1);
    FUZZ_CHECK(std::string_view(group) == "prime256v1");
    FUZZ_CHECK(EVP_PKEY_get_octet_string_param(key.get(), "encoded-pub-key", raw, sizeof raw, &raw_len) == 1);
    FUZZ_CHECK(raw_len == 65 && raw[0] == 0x04);
    FUZZ_CHECK(contains(att_object, std::string_view(reinterpret_cast<char*>(raw + 1), 32)));   // x
    FUZZ_CHECK(contains(att_object, std::string_view(reinterpret_cast<char*>(raw + 33), 32)));  // y
  }
}

// Returns the credential when the "none"-tolerant registration succeeds.
std::optional<authn::WebauthnCredential> registration(std::string_view cdj, std::string_view att, bool no_trust) {
  authn::RegistrationCheck strict{kRpId, kOrigin, kChallenge, false, no_trust ? nullptr : &trust};
  authn::RegistrationCheck lax = strict;
  lax.allow_none_attestation = true;

  authn::AttestationInfo presented;
  auto refused = authn::verify_registration(cdj, att, strict, &presented);
  if (refused) std::fprintf(stderr, "attested registration accepted: format %s\n", refused->attestation.format.c_str());
  FUZZ_CHECK(!refused);
  FUZZ_CHECK(!refused.error().message.empty());
  for (const auto& pem : presented.chain_pem)
    FUZZ_CHECK(pem.empty() || pem.rfind("-----BEGIN CERTIFICATE-----", 0) == 0);
  FUZZ_CHECK(presented.aaguid.empty() || canonical_aaguid(presented.aaguid));

  auto cred = authn::verify_registration(cdj, att, lax);
  if (!cred) {
    FUZZ_CHECK(!cred.error().message.empty());
    return std::nullopt;
  }
  // Allowing "none" is the only difference between the two checks.
  if (refused.error().message.rfind("attestation required", 0) != 0) {
    std::fprintf(stderr, "strict registration refused for another reason: %s\n", refused.error().message.c_str());
  }
  FUZZ_CHECK(refused.error().message.rfind("attestation required", 0) == 0);
  check_credential(*cred, att);
  return std::move(*cred);
}

void assertion_with_fixed(const authn::WebauthnCredential& c, const std::vector<std::string_view>& parts) {
  std::string_view id = parts.size() > 3 ? parts[3] : std::string_view(kCredentialId);
  auto r = authn::verify_assertion(id, part(parts, 0), part(parts, 1), part(parts, 2), assertion_check(c));
  if (r) std::fprintf(stderr, "assertion accepted for a key nobody has (counter %u)\n", r->sign_count);
  FUZZ_CHECK(!r);
  FUZZ_CHECK(!r.error().message.empty());
}

void assertion_with_registered(const authn::WebauthnCredential& c, std::string_view cdj, std::string_view ad,
                               std::string_view sig) {
  auto r = authn::verify_assertion(c.credential_id, cdj, ad, sig, assertion_check(c));
  if (!r) {
    FUZZ_CHECK(!r.error().message.empty());
    return;
  }
  FUZZ_CHECK(ad.size() >= 37);
  FUZZ_CHECK(ad.substr(0, 32) == std::string_view(reinterpret_cast<const char*>(sha256(as_bytes(kRpId)).data()), 32));
  FUZZ_CHECK((static_cast<uint8_t>(ad[32]) & 0x05) == 0x05);  // UP and UV
  FUZZ_CHECK(r->sign_count == counter_of(ad));
  FUZZ_CHECK((c.sign_count == 0 && r->sign_count == 0) || r->sign_count > c.sign_count);
  // The same assertion for someone else must fail.
  auto other = assertion_check(c);
  other.origin = "https://evil.example.com";
  FUZZ_CHECK(!authn::verify_assertion(c.credential_id, cdj, ad, sig, other));
  other = assertion_check(c);
  other.rp_id = "example.com";
  FUZZ_CHECK(!authn::verify_assertion(c.credential_id, cdj, ad, sig, other));
  FUZZ_CHECK(!authn::verify_assertion(c.credential_id + "x", cdj, ad, sig, assertion_check(c)));
  // A counter the server has already seen is a regression.
  authn::WebauthnCredential seen = c;
  seen.sign_count = r->sign_count;
  if (seen.sign_count != 0) {
    auto again = authn::verify_assertion(c.credential_id, cdj, ad, sig, assertion_check(seen));
    FUZZ_CHECK(!again && again.error().code == ErrorCode::kCounterRegression);
  }
}

// --- encodings ---------------------------------------------------------------

void check_base64url(std::string_view text) {
  auto decoded = base64url_decode(text);
  if (decoded) {
    FUZZ_CHECK(base64url_encode(*decoded) == text);
  } else {
    FUZZ_CHECK(!decoded.error().message.empty());
  }
  std::string encoded = base64url_encode(as_bytes(text));
  FUZZ_CHECK(encoded.find_first_of("+/=") == std::string::npos);
  auto back = base64url_decode(encoded);
  FUZZ_CHECK(back && std::string_view(reinterpret_cast<const char*>(back->data()), back->size()) == text);
}

// Well-formed UTF-8 byte sequences, Unicode 15.0 table 3-7.
bool reference_utf8(std::string_view s) {
  auto byte = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t b = byte(i);
    if (b <= 0x7f) {
      ++i;
      continue;
    }
    uint8_t lo = 0x80, hi = 0xbf;  // range of the second byte
    size_t len;
    if (b >= 0xc2 && b <= 0xdf) {
      len = 2;
    } else if (b >= 0xe0 && b <= 0xef) {
      len = 3;
      if (b == 0xe0) lo = 0xa0;
      if (b == 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      len = 4;
      if (b == 0xf0) lo = 0x90;
      if (b == 0xf4) hi = 0x8f;
    } else {
      return false;
    }
    if (s.size() - i < len) return false;
    if (byte(i + 1) < lo || byte(i + 1) > hi) return false;
    for (size_t k = 2; k < len; ++k) {
      if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return false;
    }
    i += len;
  }
  return true;
}

// Whether nlohmann::json takes `s` as the contents of a JSON string (ASCII
// controls, quote and backslash escaped, everything else as is).
bool json_takes_utf8(std::string_view s) {
  static const char* hex = "0123456789abcdef";
  std::string doc = "\"";
  for (char c : s) {
    auto u = static_cast<uint8_t>(c);
    if (u < 0x20 || c == '"' || c == '\\') {
      doc += "\\u00";
      doc += hex[u >> 4];
      doc += hex[u & 15];
    } else {
      doc += c;
    }
  }
  doc += '"';
  auto j = nlohmann::json::parse(doc, nullptr, false);
  if (j.is_discarded()) return false;
  FUZZ_CHECK(j.is_string() && j.get<std::string>() == s);
  return true;
}

void check_utf8(std::string_view s) {
  const bool ours = is_valid_utf8(s);
  const bool ref = reference_utf8(s);
  if (ours != ref) std::fprintf(stderr, "is_valid_utf8 says %d, the reference %d\n", ours, ref);
  FUZZ_CHECK(ours == ref);
  FUZZ_CHECK(json_takes_utf8(s) == ref);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  trust.roots_pem.push_back(fuzz::make_untouchable_root("bastion fuzz WebAuthn attestation root"));
  trust.allowed_aaguids = {"b0a57e11-5e1f-4b0a-9a11-000000000001", "00112233-4455-6677-8899-aabbccddeeff",
                           "00000000-0000-0000-0000-000000000000"};
  es256_credential.credential_id = kCredentialId;
  es256_credential.cose_alg = -7;
  es256_credential.public_key_der = untouchable_spki(false);
  es256_credential.sign_count = 5;
  es256_credential.user_verified = true;
  eddsa_credential = es256_credential;
  eddsa_credential.cose_alg = -8;
  eddsa_credential.public_key_der = untouchable_spki(true);
  eddsa_credential.sign_count = 0;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const std::string_view payload = fuzz::as_text(data + 1, size - 1);
  const bool no_trust = (mode & 0x80) != 0;

  switch (mode % 4) {
    case 0: {
      auto parts = split(payload, 2);
      registration(part(parts, 0), part(parts, 1), no_trust);
      break;
    }
    case 1:
    case 2: {
      auto parts = split(payload, 4);
      assertion_with_fixed(mode % 4 == 1 ? es256_credential : eddsa_credential, parts);
      break;
    }
    default: {
      auto parts = split(payload, 5);
      auto cred = registration(part(parts, 0), part(parts, 1), no_trust);
      if (cred) assertion_with_registered(*cred, part(parts, 2), part(parts, 3), part(parts, 4));
      break;
    }
  }

  check_base64url(payload);
  check_utf8(payload);
  return 0;
}
