#include "gateway/app/web_tls.h"

#include <openssl/crypto.h>

#include "common/files.h"
#include "common/openssl_handles.h"
#include "common/x509_builder.h"

namespace bastion::gateway {

Status make_self_signed_tls(const std::string& cert_path, const std::string& key_path, const std::string& host) {
  Pkey key(EVP_EC_gen("P-256"));
  if (!key) return make_error("cannot generate the web TLS key");
  auto cert = make_certificate(key.get(), tls_server_spec(host, 365L * 24 * 3600));
  if (!cert) return cert.error().prefixed("web TLS certificate: ");
  auto cert_pem = certificate_pem(cert->get());
  auto key_pem = private_key_pem(key.get());
  if (!cert_pem || !key_pem) return make_error("cannot encode the web TLS pair");
  Status st = write_file_atomic(key_path, *key_pem, 0600, false);
  OPENSSL_cleanse(key_pem->data(), key_pem->size());
  if (!st) return st;
  return write_file_atomic(cert_path, *cert_pem, 0644, false);
}

}  // namespace bastion::gateway
