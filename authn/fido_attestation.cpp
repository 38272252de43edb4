// SSH security-key attestation (ssh-sk-attest-v01), certificate chains and
// AAGUIDs. See fido_verify.h.
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>

#include "authn/cbor_guard.h"
#include "authn/fido_raii.h"
#include "authn/fido_verify.h"
#include "common/ed25519_key.h"
#include "common/encoding.h"
#include "common/openssl_handles.h"
#include "common/ssh_wire.h"

namespace bastion::authn {
namespace {

const unsigned char* bytes_of(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

X509Ptr from_der(const std::string& der) {
  const unsigned char* p = bytes_of(der);
  return X509Ptr(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}

X509Ptr from_pem(const std::string& pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return X509Ptr(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
}

std::string mem_text(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

std::string pem_of(X509* x) {
  Bio b(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(b.get(), x);
  return mem_text(b.get());
}

std::string subject_of(X509* x) {
  Bio b(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(b.get(), X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
  return mem_text(b.get());
}

// What an SSH security key names: COSE type, raw public key as libfido2
// reports it (EdDSA: 32 bytes; ES256: x || y), and the FIDO application.
struct SkKey {
  int cose = 0;
  std::string raw;
  std::string application;
};

Result<SkKey> parse_sk_key(const PublicKey& key) {
  WireReader r(key.blob);
  auto type = r.text();
  if (!type) return make_error("malformed key");
  SkKey k;
  if (*type == "sk-ssh-ed25519@openssh.com") {
    auto pk = r.string();
    if (!pk || pk->size() != 32 || ed25519_public_key_is_weak(*pk)) return make_error("malformed key");
    k.cose = COSE_EDDSA;
    k.raw.assign(pk->begin(), pk->end());
  } else if (*type == "sk-ecdsa-sha2-nistp256@openssh.com") {
    auto curve = r.text();
    auto q = r.string();
    if (!curve || *curve != "nistp256" || !q || q->size() != 65 || (*q)[0] != 0x04) return make_error("malformed key");
    k.cose = COSE_ES256;
    k.raw.assign(q->begin() + 1, q->end());
  } else {
    return make_error("only FIDO2 security keys (sk-ssh-ed25519, sk-ecdsa-sha2-nistp256) carry attestations");
  }
  auto app = r.text();
  if (!app || app->empty()) return make_error("malformed key: no application");
  k.application = *app;
  return k;
}

struct SkBlob {
  std::string cert, sig, authdata;
};

Result<SkBlob> parse_sk_blob(std::string_view blob) {
  WireReader r({bytes_of(blob), blob.size()});
  auto magic = r.text();
  if (!magic || *magic != "ssh-sk-attest-v01") {
    return make_error("malformed attestation: not an OpenSSH ssh-sk-attest-v01 file (ssh-keygen -O write-attestation)");
  }
  auto cert = r.string();
  auto sig = r.string();
  auto authdata = r.string();
  auto flags = r.u32();
  auto reserved = r.string();
  if (!cert || !sig || !authdata || !flags || !reserved || !r.at_end())
    return make_error("malformed attestation: truncated");
  if (cert->empty() || sig->empty()) {
    return make_error("malformed attestation: the security key gave no attestation certificate");
  }
  return SkBlob{std::string(cert->begin(), cert->end()), std::string(sig->begin(), sig->end()),
                std::string(authdata->begin(), authdata->end())};
}

Status check_aaguid(const std::string& from_authdata, const std::string& leaf_der, const AttestationTrust& trust) {
  auto ext = certificate_aaguid(leaf_der);
  if (!ext) return ext.error();
  // SECURITY: a model claim in the authenticator data must match the one the
  // vendor signed into the certificate.
  if (!ext->empty() && *ext != from_authdata) {
    return make_error("AAGUID mismatch: the authenticator data says " + from_authdata + ", its certificate " + *ext);
  }
  if (std::find(trust.allowed_aaguids.begin(), trust.allowed_aaguids.end(), from_authdata) ==
      trust.allowed_aaguids.end()) {
    return make_error("AAGUID not allowed: " + from_authdata + " (bastionctl fido aaguids add)");
  }
  return {};
}

}  // namespace

std::string format_aaguid(const uint8_t raw[16]) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += hex[raw[i] >> 4];
    out += hex[raw[i] & 15];
  }
  return out;
}

Result<std::string> normalize_aaguid(std::string_view text) {
  std::string hex;
  for (char c : text) {
    if (c == '-') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c)))
      return make_error("not an AAGUID (32 hex digits): " + std::string(text.substr(0, 48)));
    hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (hex.size() != 32) return make_error("not an AAGUID (32 hex digits): " + std::string(text.substr(0, 48)));
  uint8_t raw[16];
  for (size_t i = 0; i < 16; ++i) raw[i] = static_cast<uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  return format_aaguid(raw);
}

Result<std::string> certificate_aaguid(const std::string& der) {
  X509Ptr cert = from_der(der);
  if (!cert) return make_error("malformed attestation: the certificate is not DER X.509");
  Asn1Object oid(OBJ_txt2obj("1.3.6.1.4.1.45724.1.1.4", 1));
  int idx = X509_get_ext_by_OBJ(cert.get(), oid.get(), -1);
  if (idx < 0) return std::string();
  ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(X509_get_ext(cert.get(), idx));
  const unsigned char* p = data->data;
  Asn1OctetString inner(d2i_ASN1_OCTET_STRING(nullptr, &p, data->length));
  if (!inner || inner->length != 16) return make_error("malformed attestation: the certificate's AAGUID extension");
  return format_aaguid(inner->data);
}

Result<std::vector<std::string>> verify_attestation_chain(const std::string& leaf_der,
                                                          const std::vector<std::string>& extra_der,
                                                          const AttestationTrust& trust) {
  X509Ptr leaf = from_der(leaf_der);
  if (!leaf) return make_error("malformed attestation: the certificate is not DER X.509");
  if (trust.roots_pem.empty())
    return make_error("untrusted root: no attestation roots are configured (bastionctl fido roots add)");
  X509Store store(X509_STORE_new());
  X509Stack untrusted(sk_X509_new_null());
  if (!store || !untrusted) return make_error("out of memory");
  for (const auto& pem : trust.roots_pem) {
    X509Ptr root = from_pem(pem);
    if (root) X509_STORE_add_cert(store.get(), root.get());
  }
  for (const auto& pem : trust.intermediates_pem) {
    if (X509Ptr x = from_pem(pem)) sk_X509_push(untrusted.get(), x.release());
  }
  for (const auto& der : extra_der) {
    if (X509Ptr x = from_der(der)) sk_X509_push(untrusted.get(), x.release());
  }
  // A self-signed attestation certificate re-issued with new dates (the
  // Chromium virtual authenticator does so at each start) is trusted when a
  // trusted root has its subject and its key: the trust is in that key.
  for (const auto& pem : trust.roots_pem) {
    X509Ptr root = from_pem(pem);
    if (root && X509_check_issued(leaf.get(), leaf.get()) == X509_V_OK &&
        X509_NAME_cmp(X509_get_subject_name(root.get()), X509_get_subject_name(leaf.get())) == 0 &&
        EVP_PKEY_eq(X509_get0_pubkey(root.get()), X509_get0_pubkey(leaf.get())) == 1 &&
        X509_verify(leaf.get(), X509_get0_pubkey(leaf.get())) == 1 &&
        X509_cmp_current_time(X509_get0_notAfter(leaf.get())) > 0 &&
        X509_cmp_current_time(X509_get0_notBefore(leaf.get())) < 0) {
      return std::vector<std::string>{pem_of(leaf.get())};
    }
  }
  X509StoreCtx ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), untrusted.get()) != 1) {
    return make_error("out of memory");
  }
  // SECURITY: libfido2 checks the signature with the leaf's key but never
  // who issued the leaf; without this, any self-made certificate would do.
  if (X509_verify_cert(ctx.get()) != 1) {
    return make_error(std::string("untrusted root: ") +
                      X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get())) + " (certificate " +
                      subject_of(leaf.get()) + ")");
  }
  X509Stack chain(X509_STORE_CTX_get1_chain(ctx.get()));
  std::vector<std::string> out;
  for (int i = 0; chain && i < sk_X509_num(chain.get()); ++i) out.push_back(pem_of(sk_X509_value(chain.get(), i)));
  return out;
}

Result<AttestationInfo> verify_sk_attestation(std::string_view blob, const PublicKey& key, std::string_view challenge,
                                              const AttestationTrust& trust) {
  auto sk = parse_sk_key(key);
  if (!sk) return sk.error();
  auto b = parse_sk_blob(blob);
  if (!b) return b.error();
  if (challenge.empty()) return make_error(ErrorCode::kWrongChallenge, "wrong challenge: empty");
  // SECURITY: the authenticator data is checked before libfido2 (and its
  // libcbor) decodes it: bounded CBOR, and a complete, non-weak key.
  auto inner = cbor_byte_string(as_bytes(b->authdata));
  if (!inner) return make_error("malformed attestation: authenticator data: " + inner.error().message);
  auto layout = parse_authenticator_data(*inner);
  if (!layout) return make_error("malformed attestation: " + layout.error().message);
  if ((layout->flags & 0x40) == 0) return make_error("malformed attestation: no attested credential data");
  if (auto alg = check_cose_key(layout->cose_key, sk->cose); !alg)
    return make_error("malformed attestation: " + alg.error().message);
  std::string format;
  int last = FIDO_OK;
  FidoCred verified;
  for (const char* fmt : {"packed", "fido-u2f"}) {
    FidoCred c(fido_cred_new());
    if (!c) return make_error("out of memory");
    if (fido_cred_set_type(c.get(), sk->cose) != FIDO_OK || fido_cred_set_fmt(c.get(), fmt) != FIDO_OK ||
        fido_cred_set_rp(c.get(), sk->application.c_str(), nullptr) != FIDO_OK ||
        fido_cred_set_clientdata(c.get(), bytes_of(challenge), challenge.size()) != FIDO_OK) {
      return make_error("malformed attestation: cannot set up verification");
    }
    if (fido_cred_set_authdata(c.get(), bytes_of(b->authdata), b->authdata.size()) != FIDO_OK) {
      return make_error("malformed attestation: authenticator data (or a key of another type)");
    }
    if (fido_cred_set_x509(c.get(), bytes_of(b->cert), b->cert.size()) != FIDO_OK ||
        fido_cred_set_sig(c.get(), bytes_of(b->sig), b->sig.size()) != FIDO_OK) {
      return make_error("malformed attestation: certificate or signature");
    }
    last = fido_cred_verify(c.get());
    if (last == FIDO_OK) {
      format = fmt;
      verified = std::move(c);
      break;
    }
  }
  if (!verified) {
    if (last == FIDO_ERR_INVALID_SIG) {
      return make_error(ErrorCode::kBadSignature, "bad signature (or not made with this challenge)");
    }
    return make_error(std::string("malformed attestation: ") + fido_strerr(last));
  }
  std::string attested(reinterpret_cast<const char*>(fido_cred_pubkey_ptr(verified.get())),
                       fido_cred_pubkey_len(verified.get()));
  if (attested != sk->raw) return make_error("key mismatch: the attestation is for another key");
  auto chain = verify_attestation_chain(b->cert, {}, trust);
  if (!chain) return chain.error();
  if (fido_cred_aaguid_len(verified.get()) != 16) return make_error("malformed attestation: no AAGUID");
  std::string aaguid = format_aaguid(fido_cred_aaguid_ptr(verified.get()));
  if (auto st = check_aaguid(aaguid, b->cert, trust); !st) return st.error();
  AttestationInfo info;
  info.format = format;
  info.aaguid = aaguid;
  info.subject = subject_of(from_der(b->cert).get());
  info.chain_pem = std::move(*chain);
  return info;
}

// Shared with webauthn_verify.cpp.
Status check_attestation_aaguid(const std::string& aaguid, const std::string& leaf_der, const AttestationTrust& trust) {
  return check_aaguid(aaguid, leaf_der, trust);
}

std::string der_to_pem(const std::string& der) {
  X509Ptr x = from_der(der);
  return x ? pem_of(x.get()) : std::string();
}

std::string certificate_subject(const std::string& der) {
  X509Ptr x = from_der(der);
  return x ? subject_of(x.get()) : std::string();
}

}  // namespace bastion::authn
