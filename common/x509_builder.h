// X.509 certificates bastion makes: the web endpoint's self-signed TLS
// certificate (bastionctl init), and the certificates of tests and fuzzers
// (TLS for test servers, attestation roots and chains). One builder, so the
// rules (v3, random serial, backdating for clock skew, SHA-256 signature)
// are written once.
//
// Contract: make_certificate signs with `issuer_key` (the subject's own key
// when no issuer is given: self-signed). Extensions are given in OpenSSL's
// config syntax ("critical,CA:TRUE"); an empty one is left out.
// Thread-safe: no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/openssl_handles.h"
#include "common/result.h"

namespace bastion {

struct CertificateSpec {
  std::string common_name;
  int64_t backdate_seconds = 300;  // notBefore = now - this (clock skew)
  int64_t lifetime_seconds = 365L * 24 * 3600;
  std::string subject_alt_name;  // "DNS:gw.example.com,IP:127.0.0.1"
  std::string basic_constraints;
  std::string key_usage;
  std::string extended_key_usage;
  // Extensions OpenSSL has no config syntax for: an OID and the DER of its
  // value (e.g. FIDO's AAGUID, 1.3.6.1.4.1.45724.1.1.4), not critical.
  struct RawExtension {
    std::string oid;
    std::string der;
  };
  std::vector<RawExtension> raw_extensions;
};

// A TLS server certificate for `host`: SAN DNS:host (plus 127.0.0.1 and ::1
// for localhost), not a CA, digitalSignature, serverAuth.
CertificateSpec tls_server_spec(const std::string& host, int64_t lifetime_seconds);
// A CA certificate: critical CA:TRUE, keyCertSign and cRLSign.
CertificateSpec ca_spec(const std::string& common_name, int64_t lifetime_seconds);

Result<X509Ptr> make_certificate(EVP_PKEY* subject_key, const CertificateSpec& spec, X509* issuer = nullptr,
                                 EVP_PKEY* issuer_key = nullptr);

Result<std::string> certificate_pem(X509* cert);
Result<std::string> certificate_der(X509* cert);
// Unencrypted PKCS#8 PEM; the caller wipes it (OPENSSL_cleanse) when done.
Result<std::string> private_key_pem(EVP_PKEY* key);

}  // namespace bastion
