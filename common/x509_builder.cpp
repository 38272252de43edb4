#include "common/x509_builder.h"

#include <openssl/objects.h>
#include <openssl/pem.h>

#include "common/random.h"

namespace bastion {
namespace {

Status add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  if (value.empty()) return {};
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509Extension ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return make_error(std::string("cannot add the certificate extension ") + OBJ_nid2sn(nid) + "=" + value);
  }
  return {};
}

Status add_raw_ext(X509* cert, const CertificateSpec::RawExtension& raw) {
  Asn1Object oid(OBJ_txt2obj(raw.oid.c_str(), 1));
  Asn1OctetString value(ASN1_OCTET_STRING_new());
  if (!oid || !value ||
      ASN1_OCTET_STRING_set(value.get(), reinterpret_cast<const unsigned char*>(raw.der.data()),
                            static_cast<int>(raw.der.size())) != 1) {
    return make_error("cannot encode the certificate extension " + raw.oid);
  }
  X509Extension ext(X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), 0, value.get()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1)
    return make_error("cannot add the certificate extension " + raw.oid);
  return {};
}

// 128 random bits, positive (RFC 5280 asks for at most 20 octets, positive).
Status set_random_serial(X509* cert) {
  uint8_t serial[16];
  random_fill(serial);
  serial[0] &= 0x7f;
  Bignum bn(BN_bin2bn(serial, sizeof serial, nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    return make_error("cannot set the certificate serial");
  }
  return {};
}

Status set_names_and_times(X509* cert, const CertificateSpec& spec, X509* issuer) {
  X509_NAME* name = X509_get_subject_name(cert);
  const auto* cn = reinterpret_cast<const unsigned char*>(spec.common_name.c_str());
  if (X509_set_version(cert, 2) != 1 || X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, cn, -1, -1, 0) != 1 ||
      X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name) != 1 ||
      X509_gmtime_adj(X509_getm_notBefore(cert), -spec.backdate_seconds) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert), spec.lifetime_seconds) == nullptr) {
    return make_error("cannot set the certificate's name or validity for " + spec.common_name);
  }
  return {};
}

std::string bio_text(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

}  // namespace

CertificateSpec tls_server_spec(const std::string& host, int64_t lifetime_seconds) {
  CertificateSpec s;
  s.common_name = host;
  s.lifetime_seconds = lifetime_seconds;
  s.subject_alt_name = "DNS:" + host;
  if (host == "localhost") s.subject_alt_name += ",IP:127.0.0.1,IP:::1";
  s.basic_constraints = "critical,CA:FALSE";
  s.key_usage = "critical,digitalSignature";
  s.extended_key_usage = "serverAuth";
  return s;
}

CertificateSpec ca_spec(const std::string& common_name, int64_t lifetime_seconds) {
  CertificateSpec s;
  s.common_name = common_name;
  s.lifetime_seconds = lifetime_seconds;
  s.basic_constraints = "critical,CA:TRUE";
  s.key_usage = "critical,keyCertSign,cRLSign";
  return s;
}

Result<X509Ptr> make_certificate(EVP_PKEY* subject_key, const CertificateSpec& spec, X509* issuer,
                                 EVP_PKEY* issuer_key) {
  X509Ptr cert(X509_new());
  if (!cert || subject_key == nullptr) return make_error("cannot create a certificate for " + spec.common_name);
  if (auto st = set_random_serial(cert.get()); !st) return st.error();
  if (auto st = set_names_and_times(cert.get(), spec, issuer); !st) return st.error();
  if (X509_set_pubkey(cert.get(), subject_key) != 1) return make_error("cannot set the certificate's key");
  X509* ext_issuer = issuer ? issuer : cert.get();
  for (auto [nid, value] :
       {std::pair{NID_subject_alt_name, &spec.subject_alt_name},
        std::pair{NID_basic_constraints, &spec.basic_constraints}, std::pair{NID_key_usage, &spec.key_usage},
        std::pair{NID_ext_key_usage, &spec.extended_key_usage}}) {
    if (auto st = add_ext(cert.get(), ext_issuer, nid, *value); !st) return st.error();
  }
  for (const auto& raw : spec.raw_extensions) {
    if (auto st = add_raw_ext(cert.get(), raw); !st) return st.error();
  }
  if (X509_sign(cert.get(), issuer_key ? issuer_key : subject_key, EVP_sha256()) <= 0) {
    return make_error("cannot sign the certificate for " + spec.common_name);
  }
  return cert;
}

Result<std::string> certificate_pem(X509* cert) {
  Bio b(BIO_new(BIO_s_mem()));
  if (!b || PEM_write_bio_X509(b.get(), cert) != 1) return make_error("cannot encode the certificate as PEM");
  return bio_text(b.get());
}

Result<std::string> certificate_der(X509* cert) {
  unsigned char* der = nullptr;
  int n = i2d_X509(cert, &der);
  if (n <= 0) return make_error("cannot encode the certificate as DER");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

Result<std::string> private_key_pem(EVP_PKEY* key) {
  Bio b(BIO_new(BIO_s_mem()));
  if (!b || PEM_write_bio_PrivateKey(b.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return make_error("cannot encode the private key as PEM");
  }
  return bio_text(b.get());
}

}  // namespace bastion
