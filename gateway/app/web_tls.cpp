#include "gateway/app/web_tls.h"

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>

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

namespace {
std::string asn1_time(const ASN1_TIME* t) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || ASN1_TIME_print(bio.get(), t) != 1) return "?";
  char* p = nullptr;
  long n = BIO_get_mem_data(bio.get(), &p);
  return {p, static_cast<size_t>(n)};
}
}  // namespace

Result<TlsPairInfo> check_tls_pair(const std::string& cert_path, const std::string& key_path) {
  auto cert_pem = read_file(cert_path, 1 << 20);
  if (!cert_pem) return cert_pem.error().prefixed("tls_cert: ");
  auto key_pem = read_file(key_path, 1 << 20);
  if (!key_pem) return key_pem.error().prefixed("tls_key: ");
  Bio cbio(BIO_new_mem_buf(cert_pem->data(), static_cast<int>(cert_pem->size())));
  X509Ptr cert(PEM_read_bio_X509(cbio.get(), nullptr, nullptr, nullptr));
  if (!cert) return make_error("tls_cert " + cert_path + ": no PEM certificate in it");
  Bio kbio(BIO_new_mem_buf(key_pem->data(), static_cast<int>(key_pem->size())));
  Pkey key(PEM_read_bio_PrivateKey(kbio.get(), nullptr, nullptr, nullptr));
  OPENSSL_cleanse(key_pem->data(), key_pem->size());
  if (!key) return make_error("tls_key " + key_path + ": no PEM private key in it");
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return make_error("tls_key " + key_path + " is not the key of the certificate in " + cert_path);
  }
  if (X509_cmp_current_time(X509_get0_notAfter(cert.get())) <= 0) {
    return make_error("tls_cert " + cert_path + " expired on " + asn1_time(X509_get0_notAfter(cert.get())));
  }
  if (X509_cmp_current_time(X509_get0_notBefore(cert.get())) > 0) {
    return make_error("tls_cert " + cert_path + " is not valid before " + asn1_time(X509_get0_notBefore(cert.get())));
  }
  TlsPairInfo info;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (X509_digest(cert.get(), EVP_sha256(), md, &len) != 1) return make_error("cannot hash the certificate");
  info.fingerprint = "SHA256:";
  for (unsigned i = 0; i < len; ++i) {
    char hex[3];
    std::snprintf(hex, sizeof hex, "%02x", md[i]);
    info.fingerprint += hex;
  }
  char subject[512] = {};
  X509_NAME_oneline(X509_get_subject_name(cert.get()), subject, sizeof subject - 1);
  info.subject = subject;
  info.not_after = asn1_time(X509_get0_notAfter(cert.get()));
  return info;
}

}  // namespace bastion::gateway
