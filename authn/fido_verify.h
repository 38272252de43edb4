// FIDO verification with libfido2 and OpenSSL: SSH security-key attestations
// (ssh-keygen -O write-attestation) and WebAuthn registrations and
// assertions. No libfido2 type appears here.
//
// Contract: every function takes untrusted bytes and returns a value or an
// Error whose message starts with a stable reason the CLI and the audit log
// show verbatim ("bad signature", "wrong challenge", "key mismatch",
// "untrusted root: ...", "AAGUID not allowed: ...", "AAGUID mismatch: ...",
// "wrong origin", "wrong RP ID", "user presence missing", "user verification
// missing", "counter regression: ...", "malformed ..."). Callers that act on
// the reason ask the code: ErrorCode::kBadSignature, kWrongChallenge,
// kCounterRegression. Thread-safe (no state).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "authn/public_key.h"
#include "common/result.h"

namespace bastion::authn {

// Trust for attestation: PEM roots, PEM intermediates (only used to build
// chains), allowed AAGUIDs (canonical lower-case).
struct AttestationTrust {
  std::vector<std::string> roots_pem;
  std::vector<std::string> intermediates_pem;
  std::vector<std::string> allowed_aaguids;
};

struct AttestationInfo {
  std::string format;                  // "packed", "fido-u2f" or "none"
  std::string aaguid;                  // canonical lower-case
  std::string subject;                 // leaf certificate subject (RFC 2253)
  std::vector<std::string> chain_pem;  // leaf first, up to the root that verified it
};

// An OpenSSH "ssh-sk-attest-v01" blob for `key`, made with the challenge
// bytes `challenge` (the file given to ssh-keygen -O challenge=; OpenSSH has
// libfido2 hash it as client data). Verifies, with fido_cred_verify, format
// packed then fido-u2f, rp = the key's application; that the attested key is
// `key`; the certificate chain up to a trusted root (OpenSSL X509_STORE); the
// AAGUID (authenticator data, and the certificate's FIDO AAGUID extension
// 1.3.6.1.4.1.45724.1.1.4 when present, which must agree) on the allow-list.
// A signature that fails with `challenge` is reported as "bad signature (or
// not made with this challenge)": the two cannot be told apart.
Result<AttestationInfo> verify_sk_attestation(std::string_view blob, const PublicKey& key, std::string_view challenge,
                                              const AttestationTrust& trust);

// Builds and verifies a chain from a DER leaf (plus DER extras, e.g. the rest
// of x5c) to a trusted root; returns it as PEM, leaf first.
Result<std::vector<std::string>> verify_attestation_chain(const std::string& leaf_der,
                                                          const std::vector<std::string>& extra_der,
                                                          const AttestationTrust& trust);
// The FIDO AAGUID extension of a DER certificate, canonical; empty if absent.
Result<std::string> certificate_aaguid(const std::string& der);

// "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (any case, dashes optional) -> canonical.
Result<std::string> normalize_aaguid(std::string_view text);
std::string format_aaguid(const uint8_t raw[16]);

struct WebauthnCredential {
  std::string credential_id;   // raw bytes
  int cose_alg = 0;            // -7 ES256, -8 EdDSA
  std::string public_key_der;  // SubjectPublicKeyInfo
  uint32_t sign_count = 0;
  AttestationInfo attestation;
  bool user_verified = false;
};

struct RegistrationCheck {
  std::string rp_id;      // "gw.example.com"
  std::string origin;     // "https://gw.example.com:8443"
  std::string challenge;  // raw bytes the server issued
  bool allow_none_attestation = false;
  const AttestationTrust* trust = nullptr;
};
// navigator.credentials.create(): clientDataJSON and the CBOR attestationObject.
// `presented` (optional) gets the attestation format and certificates the
// authenticator sent, verified or not (for the audit record of a refusal:
// an administrator may decide to trust that vendor's root).
Result<WebauthnCredential> verify_registration(std::string_view client_data_json, std::string_view attestation_object,
                                               const RegistrationCheck& check, AttestationInfo* presented = nullptr);

struct AssertionCheck {
  std::string rp_id, origin, challenge;
  const WebauthnCredential* credential = nullptr;  // stored: alg, key, last counter
};
struct AssertionResult {
  uint32_t sign_count = 0;
};
// navigator.credentials.get(): user presence and verification required.
Result<AssertionResult> verify_assertion(std::string_view credential_id, std::string_view client_data_json,
                                         std::string_view authenticator_data, std::string_view signature,
                                         const AssertionCheck& check);

}  // namespace bastion::authn
