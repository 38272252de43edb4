// The provider ABI called directly, the way ssh-sk-helper calls it (dlopen),
// with signatures checked by OpenSSL against the message format of OpenSSH's
// verifiers (ssh-ed25519-sk.c, ssh-ecdsa-sk.c).
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include "common/c_handle.h"
#include "tests/softkey/test_support.h"

namespace bastion::softkey_test {
namespace {

// The layouts of OpenSSH 9.2's sk-api.h, as a caller sees them.
struct EnrollResponse {
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
struct SignResponse {
  uint8_t flags;
  uint32_t counter;
  uint8_t* sig_r;
  size_t sig_r_len;
  uint8_t* sig_s;
  size_t sig_s_len;
};
struct Option {
  char* name;
  char* value;
  uint8_t required;
};
constexpr uint32_t kEcdsa = 0, kEd25519 = 1;

void free_enroll(EnrollResponse* r) {
  if (r == nullptr) return;
  for (uint8_t* p : {r->public_key, r->key_handle, r->signature, r->attestation_cert, r->authdata}) std::free(p);
  std::free(r);
}
void free_sign(SignResponse* r) {
  if (r == nullptr) return;
  std::free(r->sig_r);
  std::free(r->sig_s);
  std::free(r);
}
using Enrolled = bastion::CHandle<EnrollResponse, free_enroll>;
using Signed = bastion::CHandle<SignResponse, free_sign>;

// The library, loaded as ssh-sk-helper loads it.
class Provider {
 public:
  Provider() : handle_(dlopen(kLib.c_str(), RTLD_NOW | RTLD_LOCAL)) {
    if (handle_ == nullptr) return;
    version = reinterpret_cast<uint32_t (*)()>(dlsym(handle_, "sk_api_version"));
    enroll = reinterpret_cast<decltype(enroll)>(dlsym(handle_, "sk_enroll"));
    sign = reinterpret_cast<decltype(sign)>(dlsym(handle_, "sk_sign"));
    load = reinterpret_cast<decltype(load)>(dlsym(handle_, "sk_load_resident_keys"));
  }
  Provider(const Provider&) = delete;
  Provider& operator=(const Provider&) = delete;
  ~Provider() {
    if (handle_ != nullptr) dlclose(handle_);
  }
  bool loaded() const { return version && enroll && sign && load; }

  Enrolled enroll_key(uint32_t alg, const std::string& app, uint8_t flags, Option** opts = nullptr) {
    const uint8_t challenge[32] = {1, 2, 3};
    EnrollResponse* r = nullptr;
    last_rc = enroll(alg, challenge, sizeof challenge, app.c_str(), flags, nullptr, opts, &r);
    return Enrolled(r);
  }
  Signed sign_data(uint32_t alg, const Bytes& data, const std::string& app, const Bytes& handle) {
    SignResponse* r = nullptr;
    last_rc =
        sign(alg, data.data(), data.size(), app.c_str(), handle.data(), handle.size(), 0x01, nullptr, nullptr, &r);
    return Signed(r);
  }

  uint32_t (*version)() = nullptr;
  int (*enroll)(uint32_t, const uint8_t*, size_t, const char*, uint8_t, const char*, Option**,
                EnrollResponse**) = nullptr;
  int (*sign)(uint32_t, const uint8_t*, size_t, const char*, const uint8_t*, size_t, uint8_t, const char*, Option**,
              SignResponse**) = nullptr;
  int (*load)(const char*, Option**, void***, size_t*) = nullptr;
  int last_rc = 0;

 private:
  void* handle_;
};

// Sets an environment variable for one scope (the provider reads it in-process).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value, 1);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() {
    if (old_) setenv(name_.c_str(), old_->c_str(), 1);
    else unsetenv(name_.c_str());
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// What OpenSSH's verifier reconstructs and checks the signature over.
Bytes signed_message(const std::string& app, uint8_t flags, uint32_t counter, const Bytes& data) {
  Bytes m = sha256(Bytes(app.begin(), app.end()));
  m.push_back(flags);
  for (int shift = 24; shift >= 0; shift -= 8) m.push_back(static_cast<uint8_t>(counter >> shift));
  Bytes h = sha256(data);
  m.insert(m.end(), h.begin(), h.end());
  return m;
}

using Pkey = bastion::CHandle<EVP_PKEY, EVP_PKEY_free>;

Pkey public_key(uint32_t alg, const Bytes& pub) {
  if (alg == kEd25519) return Pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, pub.data(), pub.size()));
  bastion::CHandle<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free> bld(OSSL_PARAM_BLD_new());
  OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
  OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, pub.data(), pub.size());
  bastion::CHandle<OSSL_PARAM, OSSL_PARAM_free> params(OSSL_PARAM_BLD_to_param(bld.get()));
  bastion::CHandle<EVP_PKEY_CTX, EVP_PKEY_CTX_free> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* key = nullptr;
  if (EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    key = nullptr;
  }
  return Pkey(key);
}

// Ed25519: sig_r is the 64-byte signature. ECDSA: r and s are re-encoded as
// DER, exactly as ssh-ecdsa-sk.c rebuilds them from the SSH signature.
bool verifies(uint32_t alg, const Bytes& pub, const Bytes& msg, const SignResponse& s) {
  Pkey key = public_key(alg, pub);
  if (!key) return false;
  Bytes sig(s.sig_r, s.sig_r + s.sig_r_len);
  if (alg == kEcdsa) {
    bastion::CHandle<ECDSA_SIG, ECDSA_SIG_free> es(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(s.sig_r, static_cast<int>(s.sig_r_len), nullptr);
    BIGNUM* ss = BN_bin2bn(s.sig_s, static_cast<int>(s.sig_s_len), nullptr);
    if (!es || ECDSA_SIG_set0(es.get(), r, ss) != 1) return false;
    unsigned char* der = nullptr;
    int n = i2d_ECDSA_SIG(es.get(), &der);
    if (n <= 0) return false;
    sig.assign(der, der + n);
    OPENSSL_free(der);
  }
  bastion::CHandle<EVP_MD_CTX, EVP_MD_CTX_free> ctx(EVP_MD_CTX_new());
  return EVP_DigestVerifyInit(ctx.get(), nullptr, alg == kEcdsa ? EVP_sha256() : nullptr, nullptr, key.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), msg.data(), msg.size()) == 1;
}

TEST(SoftKeyAbi, ExportsExactlyTheProviderAbiOfOpenSsh92) {
  Provider p;
  ASSERT_TRUE(p.loaded()) << dlerror();
  EXPECT_EQ(p.version(), 0x000a0000u);
  auto nm = run({"nm", "-D", "--defined-only", kLib});
  ASSERT_EQ(nm.exit_code, 0) << nm.err;
  std::set<std::string> names;
  std::istringstream lines(nm.out);
  for (std::string line; std::getline(lines, line);) names.insert(line.substr(line.rfind(' ') + 1));
  EXPECT_EQ(names, (std::set<std::string>{"sk_api_version", "sk_enroll", "sk_sign", "sk_load_resident_keys"}));
}

class SoftKeyAbiAlg : public ::testing::TestWithParam<uint32_t> {
 protected:
  Provider p;
  uint32_t alg = GetParam();
  std::string app = "ssh:abi-test";
};

TEST_P(SoftKeyAbiAlg, SignaturesAreWhatOpenSshVerifies) {
  ASSERT_TRUE(p.loaded());
  Enrolled e = p.enroll_key(alg, app, 0x01);
  ASSERT_EQ(p.last_rc, 0);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->flags, 0x01);
  ASSERT_EQ(e->public_key_len, alg == kEd25519 ? 32u : 65u);
  EXPECT_EQ(e->attestation_cert_len, 0u) << "no attestation unless configured";
  EXPECT_EQ(e->signature_len, 0u);
  EXPECT_GT(e->authdata_len, 37u);
  const Bytes pub(e->public_key, e->public_key + e->public_key_len);
  const Bytes handle(e->key_handle, e->key_handle + e->key_handle_len);
  const Bytes data = {'d', 'a', 't', 'a', 0, 0xff};

  ScopedEnv flags("BASTION_SOFTKEY_FLAGS", "up,uv");
  ScopedEnv counter("BASTION_SOFTKEY_COUNTER", "3000000000");
  Signed s = p.sign_data(alg, data, app, handle);
  ASSERT_EQ(p.last_rc, 0);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->flags, 0x05);
  EXPECT_EQ(s->counter, 3000000000u);
  if (alg == kEd25519) {
    EXPECT_EQ(s->sig_r_len, 64u);
  }
  EXPECT_TRUE(verifies(alg, pub, signed_message(app, 0x05, 3000000000u, data), *s));
  EXPECT_FALSE(verifies(alg, pub, signed_message(app, 0x01, 3000000000u, data), *s)) << "flags are signed";
  EXPECT_FALSE(verifies(alg, pub, signed_message(app, 0x05, 3000000001u, data), *s)) << "counter is signed";
  EXPECT_FALSE(verifies(alg, pub, signed_message("ssh:", 0x05, 3000000000u, data), *s)) << "application is signed";
}

TEST_P(SoftKeyAbiAlg, ForeignOrDamagedKeyHandlesAreRefusedCleanly) {
  ASSERT_TRUE(p.loaded());
  Enrolled e = p.enroll_key(alg, app, 0x01);
  ASSERT_NE(e, nullptr);
  const Bytes good(e->key_handle, e->key_handle + e->key_handle_len);
  const Bytes data = {1, 2, 3};
  ASSERT_NE(p.sign_data(alg, data, app, good), nullptr);

  auto refused = [&](const Bytes& handle, uint32_t a, const std::string& application) {
    SignResponse* out = reinterpret_cast<SignResponse*>(&p);  // must be reset to NULL
    int rc = p.sign(a, data.data(), data.size(), application.c_str(), handle.data(), handle.size(), 0x01, nullptr,
                    nullptr, &out);
    return rc == -1 && out == nullptr;
  };
  EXPECT_TRUE(refused(good, alg, "ssh:another-application"));
  EXPECT_TRUE(refused(good, alg == kEd25519 ? kEcdsa : kEd25519, app));
  EXPECT_TRUE(refused(good, 7, app));
  for (size_t i = 0; i < good.size(); ++i) {
    Bytes bad = good;
    bad[i] ^= 0x80;
    EXPECT_TRUE(refused(bad, alg, app)) << "flipped byte " << i;
  }
  EXPECT_TRUE(refused(Bytes(good.begin(), good.end() - 1), alg, app));
  Bytes longer = good;
  longer.push_back(0);
  EXPECT_TRUE(refused(longer, alg, app));
  EXPECT_TRUE(refused({}, alg, app));
  Bytes garbage(300);
  ASSERT_EQ(RAND_bytes(garbage.data(), static_cast<int>(garbage.size())), 1);
  EXPECT_TRUE(refused(garbage, alg, app));
  SignResponse* out = nullptr;
  EXPECT_EQ(p.sign(alg, data.data(), data.size(), app.c_str(), nullptr, 0, 0x01, nullptr, nullptr, &out), -1);
  EXPECT_EQ(out, nullptr);
}

INSTANTIATE_TEST_SUITE_P(Algs, SoftKeyAbiAlg, ::testing::Values(kEd25519, kEcdsa),
                         [](const ::testing::TestParamInfo<uint32_t>& param_info) {
                           return param_info.param == kEd25519 ? "ed25519" : "ecdsa";
                         });

TEST(SoftKeyAbi, OptionsResidentKeysAndBadArguments) {
  Provider p;
  ASSERT_TRUE(p.loaded());
  EXPECT_EQ(p.enroll_key(kEd25519, "ssh:", 0x21), nullptr);
  EXPECT_EQ(p.last_rc, -2) << "resident keys: unsupported";
  EXPECT_EQ(p.enroll_key(9, "ssh:", 0x01), nullptr);
  EXPECT_EQ(p.last_rc, -2) << "unknown algorithm: unsupported";
  EXPECT_EQ(p.enroll_key(kEd25519, "", 0x01), nullptr);
  EXPECT_EQ(p.last_rc, -1);

  char device[] = "device", user[] = "user", odd[] = "frobnicate", value[] = "x";
  Option dev{device, value, 1}, usr{user, value, 1}, optional{odd, value, 0}, required{odd, value, 1};
  Option* accepted[] = {&dev, &usr, &optional, nullptr};
  EXPECT_NE(p.enroll_key(kEd25519, "ssh:", 0x01, accepted), nullptr);
  Option* refused[] = {&dev, &required, nullptr};
  EXPECT_EQ(p.enroll_key(kEd25519, "ssh:", 0x01, refused), nullptr);
  EXPECT_EQ(p.last_rc, -2);

  ScopedEnv flags("BASTION_SOFTKEY_FLAGS", "up,maybe");
  EXPECT_EQ(p.enroll_key(kEd25519, "ssh:", 0x01), nullptr);
  EXPECT_EQ(p.last_rc, -1) << "bad control values fail enrollment too";

  void** rks = reinterpret_cast<void**>(&p);
  size_t n = 99;
  EXPECT_EQ(p.load(nullptr, nullptr, &rks, &n), 0);
  EXPECT_EQ(rks, nullptr);
  EXPECT_EQ(n, 0u);
}

}  // namespace
}  // namespace bastion::softkey_test
