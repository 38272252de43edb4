// bastion-softkey: a SOFTWARE FIDO2 security key for tests and the demo.
//
//   !!! TEST TOOL. The private key is stored inside the key handle, i.e. in
//   !!! the OpenSSH private-key file. Anyone with that file has the key. It
//   !!! is never installed and must never be used for real access.
//
// It implements the OpenSSH SecurityKeyProvider C ABI (sk-api version 10, as
// in OpenSSH 9.x): `ssh-keygen -t ed25519-sk -w libbastion-softkey.so`,
// `ssh -o SecurityKeyProvider=libbastion-softkey.so`. Signatures are what a
// real authenticator produces: ES256 or Ed25519 over
//   sha256(application) || flags || counter (big-endian) || sha256(data).
//
// Test control, read at each operation (ssh passes its environment to
// ssh-sk-helper, which loads this library):
//   BASTION_SOFTKEY_FLAGS    "up" (default), "uv", "up,uv" or "none": the
//                            user-presence (0x01) / user-verified (0x04) flags
//                            the signature claims.
//   BASTION_SOFTKEY_COUNTER  decimal signature counter (default: seconds
//                            since the epoch, so it increases).
// An unparsable value fails the operation (fail closed).
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#define EXPORT extern "C" __attribute__((visibility("default")))

namespace {

// The OpenSSH SecurityKeyProvider ABI, version 10 (OpenSSH 9.x). Declared here
// from the published interface; layouts must match exactly.
constexpr uint32_t kApiVersion = 0x000a0000;
constexpr uint32_t kAlgEcdsa = 0x00;
constexpr uint32_t kAlgEd25519 = 0x01;
constexpr int kErrGeneral = -1;
constexpr int kErrUnsupported = -2;
constexpr uint8_t kFlagUserPresence = 0x01;
constexpr uint8_t kFlagUserVerified = 0x04;

}  // namespace

extern "C" {
struct sk_enroll_response {
  uint8_t flags;
  uint8_t* public_key;
  size_t public_key_len;
  uint8_t* key_handle;
  size_t key_handle_len;
  uint8_t* signature;
  size_t signature_len;
  uint8_t* attestation_cert;
  size_t attestation_cert_len;
  uint8_t* authdata;
  size_t authdata_len;
};
struct sk_sign_response {
  uint8_t flags;
  uint32_t counter;
  uint8_t* sig_r;
  size_t sig_r_len;
  uint8_t* sig_s;
  size_t sig_s_len;
};
struct sk_resident_key;
struct sk_option {
  char* name;
  char* value;
  uint8_t required;
};
}

namespace {

const char kMagic[4] = {'B', 'S', 'K', '1'};

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct SigFree {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

void complain(const char* what) { std::fprintf(stderr, "bastion-softkey: %s\n", what); }

uint8_t* copy_out(const std::vector<uint8_t>& v) {
  auto* p = static_cast<uint8_t*>(std::malloc(v.empty() ? 1 : v.size()));
  if (p != nullptr && !v.empty()) std::memcpy(p, v.data(), v.size());
  return p;
}

bool read_flags(uint8_t& out) {
  const char* env = std::getenv("BASTION_SOFTKEY_FLAGS");
  std::string s = env ? env : "up";
  if (s == "none") {
    out = 0;
    return true;
  }
  out = 0;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (item == "up") out |= kFlagUserPresence;
    else if (item == "uv") out |= kFlagUserVerified;
    else return false;
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return true;
}

bool read_counter(uint32_t& out) {
  const char* env = std::getenv("BASTION_SOFTKEY_COUNTER");
  if (env == nullptr) {
    out = static_cast<uint32_t>(std::time(nullptr));
    return true;
  }
  char* end = nullptr;
  unsigned long v = std::strtoul(env, &end, 10);
  if (*env == '\0' || *end != '\0' || v > 0xffffffffUL) return false;
  out = static_cast<uint32_t>(v);
  return true;
}

std::vector<uint8_t> sha256(const uint8_t* p, size_t n) {
  std::vector<uint8_t> d(SHA256_DIGEST_LENGTH);
  SHA256(p, n, d.data());
  return d;
}

// The public key as OpenSSH wants it: 32 raw bytes, or a 65-byte P-256 point.
bool public_key_bytes(EVP_PKEY* key, uint32_t alg, std::vector<uint8_t>& out) {
  if (alg == kAlgEd25519) {
    out.resize(32);
    size_t len = out.size();
    return EVP_PKEY_get_raw_public_key(key, out.data(), &len) == 1 && len == 32;
  }
  size_t len = 0;
  if (EVP_PKEY_get_octet_string_param(key, "encoded-pub-key", nullptr, 0, &len) != 1) return false;
  out.resize(len);
  return EVP_PKEY_get_octet_string_param(key, "encoded-pub-key", out.data(), len, &len) == 1 && len == 65;
}

Pkey key_from_handle(uint32_t alg, const uint8_t* handle, size_t len) {
  if (handle == nullptr || len < 6 || len > 4096 || std::memcmp(handle, kMagic, 4) != 0 || handle[4] != alg) {
    return nullptr;
  }
  const unsigned char* p = handle + 5;
  Pkey key(d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(len - 5)));
  if (!key || p != handle + len) return nullptr;
  int id = EVP_PKEY_get_id(key.get());
  if ((alg == kAlgEd25519 && id != EVP_PKEY_ED25519) || (alg == kAlgEcdsa && id != EVP_PKEY_EC)) return nullptr;
  return key;
}

bool sign_bytes(EVP_PKEY* key, uint32_t alg, const std::vector<uint8_t>& msg, sk_sign_response* r) {
  MdCtx ctx(EVP_MD_CTX_new());
  const EVP_MD* md = alg == kAlgEd25519 ? nullptr : EVP_sha256();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key) != 1) return false;
  size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, msg.data(), msg.size()) != 1) return false;
  std::vector<uint8_t> sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, msg.data(), msg.size()) != 1) return false;
  sig.resize(len);
  if (alg == kAlgEd25519) {
    r->sig_r = copy_out(sig);
    r->sig_r_len = sig.size();
    return r->sig_r != nullptr && sig.size() == 64;
  }
  const unsigned char* p = sig.data();
  std::unique_ptr<ECDSA_SIG, SigFree> ecsig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())));
  if (!ecsig) return false;
  const BIGNUM *br = nullptr, *bs = nullptr;
  ECDSA_SIG_get0(ecsig.get(), &br, &bs);
  std::vector<uint8_t> rr(static_cast<size_t>(BN_num_bytes(br))), ss(static_cast<size_t>(BN_num_bytes(bs)));
  BN_bn2bin(br, rr.data());
  BN_bn2bin(bs, ss.data());
  r->sig_r = copy_out(rr);
  r->sig_r_len = rr.size();
  r->sig_s = copy_out(ss);
  r->sig_s_len = ss.size();
  return r->sig_r != nullptr && r->sig_s != nullptr;
}

}  // namespace

EXPORT uint32_t sk_api_version(void) { return kApiVersion; }

EXPORT int sk_enroll(uint32_t alg, const uint8_t* /*challenge*/, size_t /*challenge_len*/,
                     const char* application, uint8_t flags, const char* /*pin*/, sk_option** /*options*/,
                     sk_enroll_response** out) {
  if (out == nullptr || application == nullptr) return kErrGeneral;
  *out = nullptr;
  if (alg != kAlgEd25519 && alg != kAlgEcdsa) return kErrUnsupported;
  Pkey key(alg == kAlgEd25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                              : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  std::vector<uint8_t> pub;
  if (!key || !public_key_bytes(key.get(), alg, pub)) {
    complain("key generation failed");
    return kErrGeneral;
  }
  unsigned char* der = nullptr;
  int der_len = i2d_PrivateKey(key.get(), &der);
  if (der_len <= 0) return kErrGeneral;
  std::vector<uint8_t> handle(kMagic, kMagic + 4);
  handle.push_back(static_cast<uint8_t>(alg));
  handle.insert(handle.end(), der, der + der_len);
  OPENSSL_clear_free(der, static_cast<size_t>(der_len));
  auto* r = static_cast<sk_enroll_response*>(std::calloc(1, sizeof(sk_enroll_response)));
  if (r == nullptr) return kErrGeneral;
  r->flags = flags;
  r->public_key = copy_out(pub);
  r->public_key_len = pub.size();
  r->key_handle = copy_out(handle);
  r->key_handle_len = handle.size();
  OPENSSL_cleanse(handle.data(), handle.size());
  *out = r;
  return 0;
}

EXPORT int sk_sign(uint32_t alg, const uint8_t* data, size_t data_len, const char* application,
                   const uint8_t* key_handle, size_t key_handle_len, uint8_t /*flags*/, const char* /*pin*/,
                   sk_option** /*options*/, sk_sign_response** out) {
  if (out == nullptr || application == nullptr || (data == nullptr && data_len > 0)) return kErrGeneral;
  *out = nullptr;
  uint8_t sig_flags = 0;
  uint32_t counter = 0;
  if (!read_flags(sig_flags)) {
    complain("BASTION_SOFTKEY_FLAGS must be none or a comma list of up, uv");
    return kErrGeneral;
  }
  if (!read_counter(counter)) {
    complain("BASTION_SOFTKEY_COUNTER must be a decimal 32-bit number");
    return kErrGeneral;
  }
  Pkey key = key_from_handle(alg, key_handle, key_handle_len);
  if (!key) {
    complain("key handle is not one of ours, or is corrupt");
    return kErrGeneral;
  }
  auto app_hash = sha256(reinterpret_cast<const uint8_t*>(application), std::strlen(application));
  auto data_hash = sha256(data, data_len);
  std::vector<uint8_t> msg = app_hash;
  msg.push_back(sig_flags);
  for (int s = 24; s >= 0; s -= 8) msg.push_back(static_cast<uint8_t>(counter >> s));
  msg.insert(msg.end(), data_hash.begin(), data_hash.end());
  auto* r = static_cast<sk_sign_response*>(std::calloc(1, sizeof(sk_sign_response)));
  if (r == nullptr) return kErrGeneral;
  r->flags = sig_flags;
  r->counter = counter;
  if (!sign_bytes(key.get(), alg, msg, r)) {
    std::free(r->sig_r);
    std::free(r->sig_s);
    std::free(r);
    complain("signing failed");
    return kErrGeneral;
  }
  *out = r;
  return 0;
}

EXPORT int sk_load_resident_keys(const char* /*pin*/, sk_option** /*options*/, sk_resident_key*** rks,
                                 size_t* nrks) {
  if (rks != nullptr) *rks = nullptr;
  if (nrks != nullptr) *nrks = 0;
  return kErrUnsupported;  // the software key keeps no resident credentials
}
