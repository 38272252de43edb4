// Fuzzes SSH security-key attestation checking (authn/fido_verify.h):
// verify_sk_attestation on OpenSSH "ssh-sk-attest-v01" blobs, and
// verify_attestation_chain, certificate_aaguid and normalize_aaguid on parts
// of them.
//
// Input: byte 0 is the mode: its low 2 bits pick the key the attestation is
// checked against (0 a fixed sk-ssh-ed25519@openssh.com key, 1 a fixed
// sk-ecdsa-sha2-nistp256@openssh.com key, 2 and 3 a key blob from the
// input), bit 0x80 also passes the challenge bytes to
// verify_attestation_chain as an extra certificate; the rest is cut at each
// kSep into
//   BLOB [kSep CHALLENGE [kSep KEY_BLOB]]
// (fuzz/make_seeds.py writes seeds from real ssh-keygen -O write-attestation
// files made with the software security key).
//
// Trust: one root certificate made at start-up with a fresh P-256 key that is
// thrown away at once, and an AAGUID allow-list. Nobody holds the root's key,
// so no input can chain to it: every verification must fail.
// Properties:
//   - verify_sk_attestation and verify_attestation_chain never succeed, and
//     their errors are non-empty;
//   - certificate_aaguid fails exactly when the bytes are not a DER X.509
//     certificate, and an AAGUID it returns is canonical;
//   - normalize_aaguid accepts exactly 32 hex digits with any dashes among
//     them, and returns their canonical form (idempotent).
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "authn/fido_verify.h"
#include "common/openssl_handles.h"
#include "common/ssh_wire.h"
#include "fuzz_support.h"

using namespace bastion;

namespace {

// Separates the parts of an input (in fuzz/dict/fuzz_sk_attestation.dict).
constexpr std::string_view kSep = "-=8<=-";

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

authn::AttestationTrust& trust() {
  static authn::AttestationTrust t;
  return t;
}

authn::PublicKey ed25519_key, ecdsa_key;

authn::PublicKey sk_key(std::string_view type, const std::vector<std::vector<uint8_t>>& fields,
                        std::string_view application) {
  WireWriter w;
  w.string(type);
  for (const auto& f : fields) w.string(f);
  w.string(application);
  return {std::string(type), w.bytes(), "fuzz"};
}

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", lower-case hex.
bool canonical_aaguid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !(is_hex(s[i]) && lower(s[i]) == s[i])) return false;
  }
  return true;
}

void check_normalize(std::string_view text) {
  std::string hex;
  bool only_hex = true;
  for (char c : text) {
    if (c == '-') continue;
    if (!is_hex(c)) only_hex = false;
    hex += lower(c);
  }
  const bool valid = only_hex && hex.size() == 32;
  auto n = authn::normalize_aaguid(text);
  if (bool(n) != valid) {
    std::fprintf(stderr, "normalize_aaguid: %s\n", n ? n->c_str() : n.error().message.c_str());
  }
  FUZZ_CHECK(bool(n) == valid);
  if (!n) {
    FUZZ_CHECK(!n.error().message.empty());
    return;
  }
  FUZZ_CHECK(canonical_aaguid(*n));
  std::string digits;
  for (char c : *n) {
    if (c != '-') digits += c;
  }
  FUZZ_CHECK(digits == hex);
  auto again = authn::normalize_aaguid(*n);
  FUZZ_CHECK(again && *again == *n);
}

// The certificate field of an ssh-sk-attest-v01 blob, read the way OpenSSH
// writes it; nullopt if the blob does not get that far.
std::optional<std::string> certificate_of(std::string_view blob) {
  WireReader r({reinterpret_cast<const uint8_t*>(blob.data()), blob.size()});
  auto magic = r.text();
  if (!magic || *magic != "ssh-sk-attest-v01") return std::nullopt;
  auto cert = r.string();
  if (!cert) return std::nullopt;
  return std::string(cert->begin(), cert->end());
}

bool parses_as_x509(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  return X509Ptr(d2i_X509(nullptr, &p, static_cast<long>(der.size()))) != nullptr;
}

void check_certificate(const std::string& der, std::string_view extra) {
  auto aaguid = authn::certificate_aaguid(der);
  FUZZ_CHECK(bool(aaguid) || !aaguid.error().message.empty());
  if (!parses_as_x509(der)) FUZZ_CHECK(!aaguid);
  if (aaguid && !aaguid->empty()) {
    FUZZ_CHECK(canonical_aaguid(*aaguid));
    auto n = authn::normalize_aaguid(*aaguid);
    FUZZ_CHECK(n && *n == *aaguid);
  }
  std::vector<std::string> extras;
  if (!extra.empty()) extras.emplace_back(extra);
  auto chain = authn::verify_attestation_chain(der, extras, trust());
  if (chain)
    std::fprintf(stderr, "a certificate chained to a root whose key nobody has (%zu certificates)\n", chain->size());
  FUZZ_CHECK(!chain);
  FUZZ_CHECK(!chain.error().message.empty());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  authn::AttestationTrust& t = trust();
  t.roots_pem.push_back(fuzz::make_untouchable_root("bastion fuzz attestation root"));
  t.allowed_aaguids = {"00112233-4455-6677-8899-aabbccddeeff", "b0a57e11-5e1f-4b0a-9a11-000000000001",
                       "cb69481e-8ff7-4039-93ec-0a2729a154a8", "00000000-0000-0000-0000-000000000000"};
  // Fixed keys with OpenSSH's default application; the P-256 point is the
  // curve's generator (a valid point; the attestation signer is what counts).
  std::vector<uint8_t> ed(32);
  for (size_t i = 0; i < ed.size(); ++i) ed[i] = static_cast<uint8_t>(0x5a ^ (i * 37));
  ed25519_key = sk_key("sk-ssh-ed25519@openssh.com", {ed}, "ssh:");
  const std::string_view nistp256_g =
      "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
      "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";
  std::vector<uint8_t> q;
  for (size_t i = 0; i + 1 < nistp256_g.size(); i += 2) {
    q.push_back(static_cast<uint8_t>(std::stoi(std::string(nistp256_g.substr(i, 2)), nullptr, 16)));
  }
  FUZZ_CHECK(q.size() == 65);
  ecdsa_key = sk_key("sk-ecdsa-sha2-nistp256@openssh.com",
                     {std::vector<uint8_t>{'n', 'i', 's', 't', 'p', '2', '5', '6'}, q}, "ssh:");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  auto parts = split(fuzz::as_text(data + 1, size - 1), 3);
  const std::string_view blob = parts[0];
  const std::string_view challenge = parts.size() > 1 ? parts[1] : std::string_view();
  const std::string_view key_part = parts.size() > 2 ? parts[2] : std::string_view();

  authn::PublicKey from_input;
  const authn::PublicKey* key = &ed25519_key;
  switch (mode & 3) {
    case 0: key = &ed25519_key; break;
    case 1: key = &ecdsa_key; break;
    default: {
      from_input.blob.assign(key_part.begin(), key_part.end());
      WireReader r(from_input.blob);
      if (auto type = r.text()) from_input.type = *type;
      key = &from_input;
    }
  }

  auto info = authn::verify_sk_attestation(blob, *key, challenge, trust());
  if (info) {
    std::fprintf(stderr, "attestation accepted: format %s, AAGUID %s, subject %s\n", info->format.c_str(),
                 info->aaguid.c_str(), info->subject.c_str());
  }
  FUZZ_CHECK(!info);  // only a signature chaining to the fuzzer's root (nobody has its key) could pass
  FUZZ_CHECK(!info.error().message.empty());

  // The blob's certificate (or, when the blob is not one, the blob itself),
  // with the challenge bytes as an extra (intermediate) certificate.
  check_certificate(certificate_of(blob).value_or(std::string(blob)), (mode & 0x80) != 0 ? challenge : "");
  check_normalize(challenge);
  if (parts.size() > 2) check_normalize(key_part);
  return 0;
}
