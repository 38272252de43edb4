// bastion-softkey: a SOFTWARE FIDO2 security key, for tests and the demo.
//
//   !!! TEST TOOL ONLY. NEVER INSTALL IT, NEVER USE IT FOR REAL ACCESS. !!!
//   !!! The private key lives INSIDE THE KEY HANDLE, i.e. in the OpenSSH !!!
//   !!! private-key file: whoever can read that file holds the key. No   !!!
//   !!! touch, no PIN, no hardware: the flags it reports are whatever    !!!
//   !!! the environment says. It proves nothing about a person.          !!!
//
// It is an OpenSSH SecurityKeyProvider (the sk-api of OpenSSH 9.2, API
// version 0x000a0000), loaded by ssh-sk-helper:
//   ssh-keygen -t ed25519-sk -w /path/libbastion-softkey.so -f key
//   ssh -o SecurityKeyProvider=/path/libbastion-softkey.so -i key host
// Algorithms: Ed25519 and ECDSA P-256. What it returns is what a real
// authenticator returns through OpenSSH's sk-usbhid middleware:
//   sign:   a signature over
//           sha256(application) || flags || counter (u32 BE) || sha256(data)
//           (Ed25519: 64 raw bytes in sig_r; ECDSA: r and s as big-endian
//           integers); the provider hashes `data` itself, as sk-usbhid does.
//   enroll: the public key, the key handle, and authenticator data (CBOR byte
//           string, as libfido2 hands it to OpenSSH); optionally a FIDO
//           "packed" attestation with an X.509 certificate.
//
// Environment (read at every operation; ssh passes its environment to
// ssh-sk-helper). A value it does not understand fails the operation
// (SSH_SK_ERR_GENERAL) with a message on stderr:
//   BASTION_SOFTKEY_FLAGS        "none" or a comma list of "up" (user present,
//                                0x01) and "uv" (user verified, 0x04).
//                                Default "up". Reported in signatures and in
//                                the enrollment authenticator data.
//   BASTION_SOFTKEY_COUNTER      decimal u32 signature counter. Default:
//                                seconds since the epoch (increases).
//   BASTION_SOFTKEY_ATTEST_KEY   PEM P-256 private key and PEM X.509
//   BASTION_SOFTKEY_ATTEST_CERT  certificate: both set = packed attestation
//                                (signature over authData || sha256(challenge)),
//                                neither = no attestation, one = error.
//   BASTION_SOFTKEY_AAGUID       32 hex digits (dashes allowed) for authData.
//                                Default all zero.
// Resident keys are not supported (enroll refuses, load returns none).
// Nothing is printed on stdout.
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/c_handle.h"

#define BASTION_SK_EXPORT extern "C" __attribute__((visibility("default")))

// The provider ABI of OpenSSH 9.2 (sk-api.h, API version 10), declared here
// field for field. ssh-sk.c frees every pointer in these structs with free(),
// so everything handed out is malloc'ed.
extern "C" {
struct sk_enroll_response {
  uint8_t flags;        // the key's flags as enrolled (SSH_SK_* below)
  uint8_t* public_key;  // Ed25519: 32 bytes; P-256: 65-byte uncompressed point
  size_t public_key_len;
  uint8_t* key_handle;  // credential id; stored in the private-key file
  size_t key_handle_len;
  uint8_t* signature;  // attestation signature (DER), may be empty
  size_t signature_len;
  uint8_t* attestation_cert;  // DER X.509, may be empty
  size_t attestation_cert_len;
  uint8_t* authdata;  // CBOR byte string wrapping the authenticator data
  size_t authdata_len;
};
struct sk_sign_response {
  uint8_t flags;     // authenticator flags that were signed
  uint32_t counter;  // signature counter that was signed
  uint8_t* sig_r;
  size_t sig_r_len;
  uint8_t* sig_s;
  size_t sig_s_len;
};
struct sk_resident_key {
  uint32_t alg;
  size_t slot;
  char* application;
  sk_enroll_response key;
  uint8_t flags;
  uint8_t* user_id;
  size_t user_id_len;
};
struct sk_option {  // a NULL-terminated array of these is passed in
  char* name;
  char* value;
  uint8_t required;
};
}

// SECURITY: a layout drift would make ssh-sk-helper read garbage lengths;
// pin the LP64 layout of OpenSSH 9.2 so the build fails instead.
static_assert(sizeof(void*) != 8 || sizeof(sk_enroll_response) == 88, "sk_enroll_response layout");
static_assert(sizeof(void*) != 8 || offsetof(sk_sign_response, sig_r) == 8, "sk_sign_response layout");
static_assert(sizeof(void*) != 8 || sizeof(sk_sign_response) == 40, "sk_sign_response layout");
static_assert(sizeof(void*) != 8 || sizeof(sk_resident_key) == 136, "sk_resident_key layout");
static_assert(sizeof(void*) != 8 || sizeof(sk_option) == 24, "sk_option layout");

namespace {

constexpr uint32_t kApiVersion = 0x000a0000;  // SSH_SK_VERSION_MAJOR of 9.2
constexpr uint32_t kAlgEcdsa = 0x00;
constexpr uint32_t kAlgEd25519 = 0x01;
constexpr int kErrGeneral = -1;
constexpr int kErrUnsupported = -2;
constexpr uint8_t kUserPresent = 0x01;
constexpr uint8_t kUserVerified = 0x04;
constexpr uint8_t kResidentKey = 0x20;
constexpr uint8_t kAttestedData = 0x40;   // authData flag AT
constexpr uint8_t kExtensionData = 0x80;  // authData flag ED

using Bytes = std::vector<uint8_t>;

// ---- RAII for OpenSSL handles -------------------------------------------
using Pkey = bastion::CHandle<EVP_PKEY, EVP_PKEY_free>;
using PkeyCtx = bastion::CHandle<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using MdCtx = bastion::CHandle<EVP_MD_CTX, EVP_MD_CTX_free>;
using Bignum = bastion::CHandle<BIGNUM, BN_clear_free>;
using ParamBld = bastion::CHandle<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using Params = bastion::CHandle<OSSL_PARAM, OSSL_PARAM_free>;
using EcdsaSig = bastion::CHandle<ECDSA_SIG, ECDSA_SIG_free>;
using X509Ptr = bastion::CHandle<X509, X509_free>;
using Bio = bastion::CHandle<BIO, BIO_free>;

// Bytes that hold private key material; wiped when they go away.
class SecretBytes {
 public:
  explicit SecretBytes(size_t n) : bytes_(n) {}
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }
  uint8_t* data() { return bytes_.data(); }
  const uint8_t* data() const { return bytes_.data(); }
  size_t size() const { return bytes_.size(); }

 private:
  Bytes bytes_;
};

void complain(const std::string& what) { std::fprintf(stderr, "bastion-softkey: %s\n", what.c_str()); }

void append(Bytes& out, const uint8_t* p, size_t n) { out.insert(out.end(), p, p + n); }
void append(Bytes& out, const Bytes& b) { out.insert(out.end(), b.begin(), b.end()); }
void append_u16(Bytes& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
void append_u32(Bytes& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

Bytes sha256(const uint8_t* p, size_t n) {
  Bytes d(SHA256_DIGEST_LENGTH);
  SHA256(p, n, d.data());
  return d;
}
Bytes sha256(std::string_view s) { return sha256(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }

// A malloc'ed copy for OpenSSH to free(). Never NULL on success.
uint8_t* malloc_copy(const uint8_t* p, size_t n) {
  auto* out = static_cast<uint8_t*>(std::malloc(n == 0 ? 1 : n));
  if (out != nullptr && n > 0) std::memcpy(out, p, n);
  return out;
}

// ---- environment: the test controls ----------------------------------
std::optional<uint8_t> flags_from_env() {
  const char* env = std::getenv("BASTION_SOFTKEY_FLAGS");
  std::string_view s = env != nullptr ? env : "up";
  if (s == "none") return uint8_t{0};
  uint8_t flags = 0;
  while (true) {
    size_t comma = s.find(',');
    std::string_view item = s.substr(0, comma);
    if (item == "up") flags |= kUserPresent;
    else if (item == "uv") flags |= kUserVerified;
    else {
      complain("BASTION_SOFTKEY_FLAGS: '" + std::string(item) + "' is not up or uv (or use none alone)");
      return std::nullopt;
    }
    if (comma == std::string_view::npos) return flags;
    s.remove_prefix(comma + 1);
  }
}

std::optional<uint32_t> counter_from_env() {
  const char* env = std::getenv("BASTION_SOFTKEY_COUNTER");
  if (env == nullptr) return static_cast<uint32_t>(std::time(nullptr));
  std::string_view s = env;
  uint64_t v = 0;
  bool ok = !s.empty() && s.size() <= 10;
  for (char c : s) {
    ok = ok && c >= '0' && c <= '9';
    if (ok) v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (!ok || v > 0xffffffffULL) {
    complain("BASTION_SOFTKEY_COUNTER must be a decimal number 0..4294967295");
    return std::nullopt;
  }
  return static_cast<uint32_t>(v);
}

std::optional<Bytes> aaguid_from_env() {
  const char* env = std::getenv("BASTION_SOFTKEY_AAGUID");
  if (env == nullptr) return Bytes(16, 0);
  Bytes out;
  int pending = -1;
  for (const char* p = env; *p != '\0'; ++p) {
    if (*p == '-') continue;
    int nibble = OPENSSL_hexchar2int(static_cast<unsigned char>(*p));
    if (nibble < 0 || out.size() == 16) {
      out.clear();
      break;
    }
    if (pending < 0) {
      pending = nibble;
    } else {
      out.push_back(static_cast<uint8_t>(pending << 4 | nibble));
      pending = -1;
    }
  }
  if (out.size() != 16 || pending >= 0) {
    complain("BASTION_SOFTKEY_AAGUID must be 32 hex digits (dashes allowed)");
    return std::nullopt;
  }
  return out;
}

// Options from ssh-sk.c: "device" and (enroll) "user" are accepted and
// ignored; an unknown option marked required refuses, as sk-usbhid does.
bool options_acceptable(sk_option** options, bool enrolling) {
  for (size_t i = 0; options != nullptr && options[i] != nullptr; ++i) {
    std::string_view name = options[i]->name != nullptr ? options[i]->name : "";
    if (name == "device" || (enrolling && name == "user")) continue;
    if (options[i]->required != 0) {
      complain("unsupported required option '" + std::string(name) + "'");
      return false;
    }
  }
  return true;
}

// ---- keys ----------------------------------------------------------------
constexpr size_t kScalarLen = 32;  // Ed25519 seed or P-256 private scalar

Pkey generate_key(uint32_t alg) {
  return Pkey(alg == kAlgEd25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                                 : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
}

bool private_scalar(EVP_PKEY* key, uint32_t alg, SecretBytes& out) {
  if (alg == kAlgEd25519) {
    size_t len = out.size();
    return EVP_PKEY_get_raw_private_key(key, out.data(), &len) == 1 && len == kScalarLen;
  }
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &raw) != 1) return false;
  Bignum d(raw);
  return BN_bn2binpad(d.get(), out.data(), static_cast<int>(out.size())) == static_cast<int>(kScalarLen);
}

Pkey key_from_scalar(uint32_t alg, const uint8_t* scalar) {
  if (alg == kAlgEd25519) return Pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, scalar, kScalarLen));
  Bignum d(BN_bin2bn(scalar, static_cast<int>(kScalarLen), nullptr));
  ParamBld bld(OSSL_PARAM_BLD_new());
  if (!d || !bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, d.get()) != 1) {
    return nullptr;
  }
  Params params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_KEYPAIR, params.get()) != 1) {
    return nullptr;
  }
  Pkey key(raw);
  // SECURITY: 0 or a scalar >= the group order is not a key; refuse it
  // rather than sign with a degenerate value.
  PkeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_private_check(check.get()) != 1) return nullptr;
  return key;
}

// Ed25519: 32 raw bytes. P-256: the 65-byte uncompressed point.
std::optional<Bytes> public_key_bytes(EVP_PKEY* key, uint32_t alg) {
  Bytes out(alg == kAlgEd25519 ? 32 : 65);
  size_t len = out.size();
  int ok = alg == kAlgEd25519
               ? EVP_PKEY_get_raw_public_key(key, out.data(), &len)
               : EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, out.data(), out.size(), &len);
  if (ok != 1 || len != out.size() || (alg == kAlgEcdsa && out[0] != 0x04)) return std::nullopt;
  return out;
}

// ---- the key handle --------------------------------------------------------
// Layout: "BSKH" | version (1) | alg (1) | private scalar (32) | tag (16),
// tag = first 16 bytes of sha256(label | everything before it | application).
// SECURITY: the tag is an integrity check, not a secret MAC: it makes a
// corrupted, truncated or foreign handle, or one used for another
// application, fail loudly instead of signing with a wrong key. There is no
// confidentiality at all: the handle IS the private key.
constexpr std::array<uint8_t, 4> kHandleMagic = {'B', 'S', 'K', 'H'};
constexpr uint8_t kHandleVersion = 1;
constexpr size_t kHandleHeaderLen = kHandleMagic.size() + 2;
constexpr size_t kHandleTagLen = 16;
constexpr size_t kHandleLen = kHandleHeaderLen + kScalarLen + kHandleTagLen;

Bytes handle_tag(const uint8_t* body, size_t body_len, std::string_view application) {
  Bytes input;
  static constexpr std::string_view kLabel = "bastion-softkey key handle v1";
  append(input, reinterpret_cast<const uint8_t*>(kLabel.data()), kLabel.size());
  append(input, body, body_len);
  append(input, reinterpret_cast<const uint8_t*>(application.data()), application.size());
  Bytes tag = sha256(input.data(), input.size());
  OPENSSL_cleanse(input.data(), input.size());
  tag.resize(kHandleTagLen);
  return tag;
}

void make_handle(uint32_t alg, const SecretBytes& scalar, std::string_view application, SecretBytes& out) {
  uint8_t* p = out.data();
  std::memcpy(p, kHandleMagic.data(), kHandleMagic.size());
  p[4] = kHandleVersion;
  p[5] = static_cast<uint8_t>(alg);
  std::memcpy(p + kHandleHeaderLen, scalar.data(), kScalarLen);
  Bytes tag = handle_tag(p, kHandleHeaderLen + kScalarLen, application);
  std::memcpy(p + kHandleHeaderLen + kScalarLen, tag.data(), tag.size());
}

Pkey key_from_handle(uint32_t alg, const uint8_t* handle, size_t len, std::string_view application) {
  if (handle == nullptr || len != kHandleLen || std::memcmp(handle, kHandleMagic.data(), kHandleMagic.size()) != 0 ||
      handle[4] != kHandleVersion || handle[5] != alg) {
    return nullptr;
  }
  Bytes tag = handle_tag(handle, kHandleHeaderLen + kScalarLen, application);
  if (CRYPTO_memcmp(tag.data(), handle + kHandleHeaderLen + kScalarLen, kHandleTagLen) != 0) return nullptr;
  return key_from_scalar(alg, handle + kHandleHeaderLen);
}

// ---- signatures ------------------------------------------------------------
// Ed25519 signs the message itself; ECDSA signs sha256(message) and the
// result is DER. Returns the raw signature bytes as OpenSSL made them.
std::optional<Bytes> evp_sign(EVP_PKEY* key, bool prehash_sha256, const Bytes& msg) {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, prehash_sha256 ? EVP_sha256() : nullptr, nullptr, key) != 1) {
    return std::nullopt;
  }
  size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, msg.data(), msg.size()) != 1) return std::nullopt;
  Bytes sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, msg.data(), msg.size()) != 1) return std::nullopt;
  sig.resize(len);
  return sig;
}

bool bignum_out(const BIGNUM* bn, uint8_t*& ptr, size_t& len) {
  Bytes b(static_cast<size_t>(BN_num_bytes(bn)));
  BN_bn2bin(bn, b.data());
  ptr = malloc_copy(b.data(), b.size());
  len = b.size();
  return ptr != nullptr;
}

// Fills sig_r (and sig_s) of `r` in the form ssh-sk.c expects.
bool fill_signature(EVP_PKEY* key, uint32_t alg, const Bytes& msg, sk_sign_response& r) {
  auto sig = evp_sign(key, alg == kAlgEcdsa, msg);
  if (!sig) return false;
  if (alg == kAlgEd25519) {
    if (sig->size() != 64) return false;
    r.sig_r = malloc_copy(sig->data(), sig->size());
    r.sig_r_len = sig->size();
    return r.sig_r != nullptr;
  }
  const unsigned char* p = sig->data();
  EcdsaSig parsed(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig->size())));
  if (!parsed) return false;
  const BIGNUM* br = nullptr;
  const BIGNUM* bs = nullptr;
  ECDSA_SIG_get0(parsed.get(), &br, &bs);
  return bignum_out(br, r.sig_r, r.sig_r_len) && bignum_out(bs, r.sig_s, r.sig_s_len);
}

// ---- authenticator data and attestation ------------------------------------
// Minimal CBOR (RFC 8949) writer: just the item heads needed here.
void cbor_head(Bytes& out, uint8_t major, uint64_t value) {
  const uint8_t m = static_cast<uint8_t>(major << 5);
  if (value < 24) {
    out.push_back(static_cast<uint8_t>(m | value));
  } else if (value <= 0xff) {
    out.push_back(m | 24);
    out.push_back(static_cast<uint8_t>(value));
  } else if (value <= 0xffff) {
    out.push_back(m | 25);
    append_u16(out, static_cast<uint32_t>(value));
  } else {
    out.push_back(m | 26);
    append_u32(out, static_cast<uint32_t>(value));
  }
}
void cbor_int(Bytes& out, int64_t v) {
  if (v >= 0) cbor_head(out, 0, static_cast<uint64_t>(v));
  else cbor_head(out, 1, static_cast<uint64_t>(-1 - v));
}
void cbor_pair(Bytes& out, int64_t key, int64_t value) {
  cbor_int(out, key);
  cbor_int(out, value);
}
void cbor_bytes(Bytes& out, const uint8_t* p, size_t n) {
  cbor_head(out, 2, n);
  append(out, p, n);
}
void cbor_text(Bytes& out, std::string_view s) {
  cbor_head(out, 3, s.size());
  append(out, reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// The credential public key as a COSE_Key, keys in canonical CBOR order.
Bytes cose_key(uint32_t alg, const Bytes& pub) {
  Bytes out;
  if (alg == kAlgEd25519) {
    cbor_head(out, 5, 4);
    cbor_pair(out, 1, 1);   // kty: OKP
    cbor_pair(out, 3, -8);  // alg: EdDSA
    cbor_pair(out, -1, 6);  // crv: Ed25519
    cbor_int(out, -2);      // x
    cbor_bytes(out, pub.data(), 32);
  } else {
    cbor_head(out, 5, 5);
    cbor_pair(out, 1, 2);   // kty: EC2
    cbor_pair(out, 3, -7);  // alg: ES256
    cbor_pair(out, -1, 1);  // crv: P-256
    cbor_int(out, -2);      // x
    cbor_bytes(out, pub.data() + 1, 32);
    cbor_int(out, -3);  // y
    cbor_bytes(out, pub.data() + 33, 32);
  }
  return out;
}

// Raw authenticator data of a makeCredential (WebAuthn §6.1): rpIdHash,
// flags, counter, attested credential data, and the credProtect extension
// that a CTAP 2.1 key adds for a verify-required credential.
Bytes make_authdata(std::string_view application, uint8_t key_flags, uint8_t reported_flags, uint32_t counter,
                    const Bytes& aaguid, const SecretBytes& handle, uint32_t alg, const Bytes& pub) {
  const bool cred_protect = (key_flags & kUserVerified) != 0;
  Bytes out = sha256(application);
  out.push_back(static_cast<uint8_t>(reported_flags | kAttestedData | (cred_protect ? kExtensionData : 0)));
  append_u32(out, counter);
  append(out, aaguid);
  append_u16(out, static_cast<uint32_t>(handle.size()));
  append(out, handle.data(), handle.size());
  append(out, cose_key(alg, pub));
  if (cred_protect) {
    cbor_head(out, 5, 1);
    cbor_text(out, "credProtect");
    cbor_int(out, 3);  // userVerificationRequired
  }
  return out;
}

struct Attestation {
  Bytes cert_der;
  Bytes signature;
};

Pkey read_private_key_pem(const char* path) {
  Bio bio(BIO_new_file(path, "r"));
  // SECURITY: a callback that yields no passphrase, so an encrypted key
  // fails instead of prompting on the terminal of whoever runs ssh.
  auto no_passphrase = [](char*, int, int, void*) -> int { return 0; };
  return Pkey(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr) : nullptr);
}

X509Ptr read_cert_pem(const char* path) {
  Bio bio(BIO_new_file(path, "r"));
  return X509Ptr(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
}

bool is_p256(EVP_PKEY* key) {
  char group[64] = {};
  size_t len = 0;
  return EVP_PKEY_is_a(key, "EC") == 1 &&
         EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) == 1 &&
         std::string_view(group, len) == "prime256v1";
}

// Packed attestation with x5c (WebAuthn §8.2): an ES256 signature by the
// attestation key over authData || clientDataHash, where clientDataHash is
// sha256(challenge) as libfido2 computes it for OpenSSH. nullopt = error;
// an empty Attestation = not configured.
std::optional<Attestation> attest(const Bytes& authdata, const uint8_t* challenge, size_t challenge_len) {
  const char* key_path = std::getenv("BASTION_SOFTKEY_ATTEST_KEY");
  const char* cert_path = std::getenv("BASTION_SOFTKEY_ATTEST_CERT");
  if (key_path == nullptr && cert_path == nullptr) return Attestation{};
  if (key_path == nullptr || cert_path == nullptr) {
    complain("set both BASTION_SOFTKEY_ATTEST_KEY and BASTION_SOFTKEY_ATTEST_CERT, or neither");
    return std::nullopt;
  }
  Pkey key = read_private_key_pem(key_path);
  X509Ptr cert = read_cert_pem(cert_path);
  if (!key || !cert) {
    complain("cannot read the attestation key or certificate (unencrypted PEM expected)");
    return std::nullopt;
  }
  // SECURITY: verifiers assume ES256 (the OpenSSH attestation blob carries
  // no algorithm), and a cert that does not match the key would make every
  // attestation fail later and less clearly.
  if (!is_p256(key.get()) || X509_check_private_key(cert.get(), key.get()) != 1) {
    complain("the attestation key must be P-256 and match the attestation certificate");
    return std::nullopt;
  }
  Bytes to_sign = authdata;
  append(to_sign, sha256(challenge, challenge_len));
  auto sig = evp_sign(key.get(), true, to_sign);
  int der_len = i2d_X509(cert.get(), nullptr);
  if (!sig || der_len <= 0) return std::nullopt;
  Attestation out{Bytes(static_cast<size_t>(der_len)), std::move(*sig)};
  unsigned char* p = out.cert_der.data();
  if (i2d_X509(cert.get(), &p) != der_len) return std::nullopt;
  return out;
}

// ---- responses -------------------------------------------------------------
void free_enroll(sk_enroll_response* r) {
  if (r == nullptr) return;
  if (r->key_handle != nullptr) OPENSSL_cleanse(r->key_handle, r->key_handle_len);
  std::free(r->public_key);
  std::free(r->key_handle);
  std::free(r->signature);
  std::free(r->attestation_cert);
  std::free(r->authdata);
  std::free(r);
}
void free_sign(sk_sign_response* r) {
  if (r == nullptr) return;
  std::free(r->sig_r);
  std::free(r->sig_s);
  std::free(r);
}
using EnrollResponse = bastion::CHandle<sk_enroll_response, free_enroll>;
using SignResponse = bastion::CHandle<sk_sign_response, free_sign>;

bool out_bytes(const Bytes& b, uint8_t*& ptr, size_t& len) {
  ptr = malloc_copy(b.data(), b.size());
  len = b.size();
  return ptr != nullptr;
}

int enroll(uint32_t alg, const uint8_t* challenge, size_t challenge_len, std::string_view application, uint8_t flags,
           sk_enroll_response** out) {
  const auto reported = flags_from_env();
  const auto counter = counter_from_env();
  const auto aaguid = aaguid_from_env();
  if (!reported || !counter || !aaguid) return kErrGeneral;
  Pkey key = generate_key(alg);
  SecretBytes scalar(kScalarLen);
  std::optional<Bytes> pub;
  if (!key || !private_scalar(key.get(), alg, scalar) || !(pub = public_key_bytes(key.get(), alg))) {
    complain("key generation failed");
    return kErrGeneral;
  }
  SecretBytes handle(kHandleLen);
  make_handle(alg, scalar, application, handle);
  Bytes authdata = make_authdata(application, flags, *reported, *counter, *aaguid, handle, alg, *pub);
  auto attestation = attest(authdata, challenge, challenge_len);
  if (!attestation) return kErrGeneral;
  Bytes authdata_cbor;
  cbor_bytes(authdata_cbor, authdata.data(), authdata.size());

  EnrollResponse r(static_cast<sk_enroll_response*>(std::calloc(1, sizeof(sk_enroll_response))));
  if (!r) return kErrGeneral;
  r->flags = flags;
  r->key_handle = malloc_copy(handle.data(), handle.size());
  r->key_handle_len = handle.size();
  if (r->key_handle == nullptr || !out_bytes(*pub, r->public_key, r->public_key_len) ||
      !out_bytes(attestation->signature, r->signature, r->signature_len) ||
      !out_bytes(attestation->cert_der, r->attestation_cert, r->attestation_cert_len) ||
      !out_bytes(authdata_cbor, r->authdata, r->authdata_len)) {
    complain("out of memory");
    return kErrGeneral;
  }
  *out = r.release();
  return 0;
}

int sign(uint32_t alg, const uint8_t* data, size_t data_len, std::string_view application, const uint8_t* handle,
         size_t handle_len, sk_sign_response** out) {
  const auto flags = flags_from_env();
  const auto counter = counter_from_env();
  if (!flags || !counter) return kErrGeneral;
  Pkey key = key_from_handle(alg, handle, handle_len, application);
  if (!key) {
    complain("key handle is corrupt, not from this software key, or for another application or algorithm");
    return kErrGeneral;
  }
  Bytes msg = sha256(application);
  msg.push_back(*flags);
  append_u32(msg, *counter);
  append(msg, sha256(data, data_len));

  SignResponse r(static_cast<sk_sign_response*>(std::calloc(1, sizeof(sk_sign_response))));
  if (!r) return kErrGeneral;
  r->flags = *flags;
  r->counter = *counter;
  if (!fill_signature(key.get(), alg, msg, *r)) {
    complain("signing failed");
    return kErrGeneral;
  }
  *out = r.release();
  return 0;
}

}  // namespace

// ---- the exported provider ABI ------------------------------------------------

BASTION_SK_EXPORT uint32_t sk_api_version(void) { return kApiVersion; }

BASTION_SK_EXPORT int sk_enroll(uint32_t alg, const uint8_t* challenge, size_t challenge_len, const char* application,
                                uint8_t flags, const char* /*pin*/, sk_option** options,
                                sk_enroll_response** enroll_response) {
  if (enroll_response == nullptr) return kErrGeneral;
  *enroll_response = nullptr;
  if (application == nullptr || *application == '\0' || (challenge == nullptr && challenge_len > 0)) {
    complain("enroll: missing application or challenge");
    return kErrGeneral;
  }
  if (alg != kAlgEd25519 && alg != kAlgEcdsa) {
    complain("enroll: unsupported algorithm");
    return kErrUnsupported;
  }
  if (!options_acceptable(options, true)) return kErrUnsupported;
  if ((flags & kResidentKey) != 0) {
    complain("resident keys are not supported by the software key");
    return kErrUnsupported;
  }
  // SECURITY: no exception may cross into ssh-sk-helper's C code.
  try {
    return enroll(alg, challenge, challenge_len, application, flags, enroll_response);
  } catch (const std::exception& e) {
    complain(std::string("enroll failed: ") + e.what());
    return kErrGeneral;
  }
}

BASTION_SK_EXPORT int sk_sign(uint32_t alg, const uint8_t* data, size_t data_len, const char* application,
                              const uint8_t* key_handle, size_t key_handle_len, uint8_t /*flags*/, const char* /*pin*/,
                              sk_option** options, sk_sign_response** sign_response) {
  if (sign_response == nullptr) return kErrGeneral;
  *sign_response = nullptr;
  if (application == nullptr || (data == nullptr && data_len > 0)) {
    complain("sign: missing application or data");
    return kErrGeneral;
  }
  if (!options_acceptable(options, false)) return kErrUnsupported;
  try {
    return sign(alg, data, data_len, application, key_handle, key_handle_len, sign_response);
  } catch (const std::exception& e) {
    complain(std::string("sign failed: ") + e.what());
    return kErrGeneral;
  }
}

// No credentials live on this "device": an empty list, which `ssh-keygen -K`
// reports as "No keys to download".
BASTION_SK_EXPORT int sk_load_resident_keys(const char* /*pin*/, sk_option** options, sk_resident_key*** rks,
                                            size_t* nrks) {
  if (rks == nullptr || nrks == nullptr) return kErrGeneral;
  *rks = nullptr;
  *nrks = 0;
  if (!options_acceptable(options, false)) return kErrUnsupported;
  return 0;
}
