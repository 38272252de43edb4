// Tests only: a software WebAuthn authenticator and attestation CA built with
// OpenSSL and libcbor. It crafts clientDataJSON, authenticatorData and
// attestation objects byte by byte, so tests can get every field wrong on
// purpose.
#pragma once

#include <cbor.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/ed25519_key.h"
#include "common/encoding.h"
#include "common/openssl_handles.h"
#include "common/x509_builder.h"

namespace bastion::authn::testing {

inline std::string str(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }

inline std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}
inline std::string sha256s(const std::string& s) { return str(sha256(as_bytes(s))); }

using Cert = X509Ptr;

inline std::string der_of(X509* x) { return *certificate_der(x); }
inline std::string pem_of(X509* x) { return *certificate_pem(x); }

// A certificate for `key`, signed by `issuer_key` (self-signed when issuer is
// null), valid for 30 days; with the FIDO AAGUID extension when `aaguid_hex`
// (32 hex digits) is given.
inline Cert make_cert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key, bool ca,
                      const std::string& aaguid_hex = "") {
  CertificateSpec spec;
  if (ca) {
    spec = ca_spec(cn, 30L * 24 * 3600);
  } else {
    spec.common_name = cn;
    spec.lifetime_seconds = 30L * 24 * 3600;
    spec.basic_constraints = "critical,CA:FALSE";
  }
  spec.backdate_seconds = 3600;
  if (!aaguid_hex.empty()) {
    // 1.3.6.1.4.1.45724.1.1.4: OCTET STRING { OCTET STRING (16 bytes) }
    spec.raw_extensions.push_back({"1.3.6.1.4.1.45724.1.1.4", "\x04\x10" + from_hex(aaguid_hex.substr(0, 32))});
  }
  auto c = make_certificate(key, spec, issuer, issuer_key);
  if (!c) throw std::runtime_error(c.error().message);
  return std::move(*c);
}

inline Pkey ec_key() { return Pkey(EVP_EC_gen("P-256")); }
inline Pkey ed_key() { return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")); }

inline std::string sign(EVP_PKEY* key, const std::string& data) {
  MdCtx ctx(EVP_MD_CTX_new());
  bool ed = EVP_PKEY_get_id(key) == EVP_PKEY_ED25519;
  EVP_DigestSignInit(ctx.get(), nullptr, ed ? nullptr : EVP_sha256(), nullptr, key);
  size_t len = 0;
  auto* d = reinterpret_cast<const unsigned char*>(data.data());
  EVP_DigestSign(ctx.get(), nullptr, &len, d, data.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, d, data.size());
  sig.resize(len);
  return sig;
}

// SubjectPublicKeyInfo DER, as a credential is stored.
inline std::string spki_der(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(key, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

inline std::string cbor_encode(cbor_item_t* item) {
  unsigned char* buf = nullptr;
  size_t size = 0;
  size_t len = cbor_serialize_alloc(item, &buf, &size);
  std::string out(reinterpret_cast<char*>(buf), len);
  free(buf);
  cbor_decref(&item);
  return out;
}

inline void put(cbor_item_t* map, cbor_item_t* k, cbor_item_t* v) { cbor_map_add(map, {cbor_move(k), cbor_move(v)}); }

inline cbor_item_t* bytes(const std::string& s) {
  return cbor_build_bytestring(reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

inline cbor_item_t* cose_int(int v) {
  return v >= 0 ? cbor_build_uint8(static_cast<uint8_t>(v)) : cbor_build_negint8(static_cast<uint8_t>(-1 - v));
}

// COSE_Key of a P-256 or Ed25519 public key.
inline std::string cose_key(EVP_PKEY* key) {
  cbor_item_t* m = cbor_new_definite_map(5);
  if (EVP_PKEY_get_id(key) == EVP_PKEY_ED25519) {
    unsigned char raw[32];
    size_t n = sizeof raw;
    EVP_PKEY_get_raw_public_key(key, raw, &n);
    put(m, cose_int(1), cose_int(1));
    put(m, cose_int(3), cose_int(-8));
    put(m, cose_int(-1), cose_int(6));
    put(m, cose_int(-2), bytes(std::string(reinterpret_cast<char*>(raw), n)));
  } else {
    unsigned char pt[65];
    size_t n = 0;
    EVP_PKEY_get_octet_string_param(key, "encoded-pub-key", pt, sizeof pt, &n);
    put(m, cose_int(1), cose_int(2));
    put(m, cose_int(3), cose_int(-7));
    put(m, cose_int(-1), cose_int(1));
    put(m, cose_int(-2), bytes(std::string(reinterpret_cast<char*>(pt + 1), 32)));
    put(m, cose_int(-3), bytes(std::string(reinterpret_cast<char*>(pt + 33), 32)));
  }
  return cbor_encode(m);
}

struct SoftAuthenticator {
  std::string rp_id = "gw.example.com";
  std::string origin = "https://gw.example.com:8443";
  uint8_t flags = 0x01 | 0x04;  // UP | UV
  uint32_t counter = 0;
  std::string aaguid_raw = std::string("\xb0\xa5\x7e\x11\x5e\x1f\x4b\x0a\x9a\x11\x00\x00\x00\x00\x00\x01", 16);
  std::string credential_id = "cred-0123456789abcdef";
  Pkey key;
  // Attestation: leaf key and its certificate chain (x5c), empty = "none".
  Pkey att_key;
  std::vector<std::string> x5c;
  // When set, the COSE_Key bytes put in the authenticator data instead of
  // the encoding of `key` (tests of broken keys).
  std::string cose_override;

  explicit SoftAuthenticator(bool eddsa) : key(eddsa ? ed_key() : ec_key()) {}

  std::string client_data(const std::string& type, const std::string& challenge) const {
    return "{\"type\":\"" + type + "\",\"challenge\":\"" + base64url_encode(as_bytes(challenge)) + "\",\"origin\":\"" +
           origin + "\",\"crossOrigin\":false}";
  }
  std::string auth_data(bool attested) const {
    std::string ad = sha256s(rp_id);
    ad += static_cast<char>(flags | (attested ? 0x40 : 0));
    for (int s = 24; s >= 0; s -= 8) ad += static_cast<char>((counter >> s) & 0xff);
    if (attested) {
      ad += aaguid_raw;
      ad += static_cast<char>(credential_id.size() >> 8);
      ad += static_cast<char>(credential_id.size() & 0xff);
      ad += credential_id;
      ad += cose_override.empty() ? cose_key(key.get()) : cose_override;
    }
    return ad;
  }
  // navigator.credentials.create(): {clientDataJSON, attestationObject}.
  std::pair<std::string, std::string> make_credential(const std::string& challenge) const {
    std::string cdj = client_data("webauthn.create", challenge);
    std::string ad = auth_data(true);
    cbor_item_t* stmt = cbor_new_definite_map(3);
    std::string fmt = "none";
    if (att_key) {
      fmt = "packed";
      put(stmt, cbor_build_string("alg"), cose_int(-7));
      put(stmt, cbor_build_string("sig"), bytes(sign(att_key.get(), ad + sha256s(cdj))));
      cbor_item_t* arr = cbor_new_definite_array(x5c.size());
      for (const auto& c : x5c) cbor_array_push(arr, cbor_move(bytes(c)));
      put(stmt, cbor_build_string("x5c"), arr);
    }
    cbor_item_t* obj = cbor_new_definite_map(3);
    put(obj, cbor_build_string("fmt"), cbor_build_string(fmt.c_str()));
    put(obj, cbor_build_string("attStmt"), stmt);
    put(obj, cbor_build_string("authData"), bytes(ad));
    return {cdj, cbor_encode(obj)};
  }
  struct Assertion {
    std::string client_data, auth_data, signature;
  };
  Assertion get_assertion(const std::string& challenge) {
    ++counter;
    Assertion a;
    a.client_data = client_data("webauthn.get", challenge);
    a.auth_data = auth_data(false);
    a.signature = sign(key.get(), a.auth_data + sha256s(a.client_data));
    return a;
  }
};

// A root CA and an attestation leaf under it (with the AAGUID extension).
struct TestCa {
  static inline int made = 0;
  Pkey root_key = ec_key();
  // Distinct names: chain building looks issuers up by name.
  Cert root =
      make_cert(root_key.get(), "bastion unit-test attestation root " + std::to_string(++made), nullptr, nullptr, true);
  Pkey leaf_key = ec_key();
  Cert leaf;
  explicit TestCa(const std::string& aaguid_hex = "b0a57e115e1f4b0a9a11000000000001")
      : leaf(make_cert(leaf_key.get(), "softkey", root.get(), root_key.get(), false, aaguid_hex)) {}
  void attest(SoftAuthenticator& a) const {
    a.att_key.reset(leaf_key.get());
    EVP_PKEY_up_ref(leaf_key.get());
    a.x5c = {der_of(leaf.get())};
  }
};

}  // namespace bastion::authn::testing
