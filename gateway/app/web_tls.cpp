#include "gateway/app/web_tls.h"

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "common/files.h"
#include "common/openssl_handles.h"

namespace bastion::gateway {
namespace {

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct X509ExtFree {
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};

bool add_ext(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, X509ExtFree> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

std::string bio_text(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  return std::string(data, static_cast<size_t>(n));
}

}  // namespace

Status make_self_signed_tls(const std::string& cert_path, const std::string& key_path, const std::string& host) {
  Pkey key(EVP_EC_gen("P-256"));
  if (!key) return make_error("cannot generate the web TLS key");
  std::unique_ptr<X509, X509Free> cert(X509_new());
  if (!cert) return make_error("out of memory");
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return make_error("no randomness for the certificate serial");
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 365L * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(host.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), key.get());
  std::string san = "DNS:" + host;
  if (host == "localhost") san += ",IP:127.0.0.1,IP:::1";
  if (!add_ext(cert.get(), NID_subject_alt_name, san) || !add_ext(cert.get(), NID_basic_constraints, "critical,CA:FALSE") ||
      !add_ext(cert.get(), NID_key_usage, "critical,digitalSignature") ||
      !add_ext(cert.get(), NID_ext_key_usage, "serverAuth")) {
    return make_error("cannot build the web TLS certificate for " + host);
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) return make_error("cannot sign the web TLS certificate");
  Bio kb(BIO_new(BIO_s_mem())), cb(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(kb.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      PEM_write_bio_X509(cb.get(), cert.get()) != 1) {
    return make_error("cannot encode the web TLS pair");
  }
  std::string key_pem = bio_text(kb.get());
  Status st = write_file_atomic(key_path, key_pem, 0600, false);
  OPENSSL_cleanse(key_pem.data(), key_pem.size());
  if (!st) return st;
  return write_file_atomic(cert_path, bio_text(cb.get()), 0644, false);
}

}  // namespace bastion::gateway
