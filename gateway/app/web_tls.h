// A self-signed TLS pair for the web endpoint (bastionctl init): EC P-256,
// one year, SAN = host (plus 127.0.0.1 and ::1 for localhost), serverAuth.
// Browsers will warn about it; production uses a real certificate.
#pragma once

#include <string>

#include "common/result.h"

namespace bastion::gateway {

// Writes key_path (mode 0600) and cert_path; refuses to overwrite either.
Status make_self_signed_tls(const std::string& cert_path, const std::string& key_path, const std::string& host);

// What a TLS pair on disk is, once checked: the certificate (the first of a
// PEM chain) parses, the key is its key, and it is within its validity.
struct TlsPairInfo {
  std::string fingerprint;  // "SHA256:<hex>" of the certificate (DER)
  std::string subject;      // one line
  std::string not_after;    // as OpenSSL prints it
};
Result<TlsPairInfo> check_tls_pair(const std::string& cert_path, const std::string& key_path);

}  // namespace bastion::gateway
