// Enrollment attestation: `ssh-keygen -O write-attestation` with the software
// key, checked by libfido2's own verifier (fido_cred_verify, what sk-usbhid
// runs on a real key's answer) and by OpenSSL for the chain to a test CA.
#include <fido.h>
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/c_handle.h"
#include "tests/softkey/test_support.h"

namespace bastion::softkey_test {
namespace {

// The ssh-sk-attest-v01 blob that ssh-keygen writes.
struct AttestationFile {
  Bytes cert, signature, authdata_cbor;
};

std::optional<AttestationFile> read_attestation(const std::string& path) {
  std::string text = read_text(path);
  Wire w(Bytes(text.begin(), text.end()));
  if (w.text() != "ssh-sk-attest-v01") return std::nullopt;
  AttestationFile a{w.string(), w.string(), w.string()};
  uint32_t reserved_flags = w.u32();
  Bytes reserved = w.string();
  if (!w.ok() || !w.at_end() || reserved_flags != 0 || !reserved.empty()) return std::nullopt;
  return a;
}

using Cred = bastion::CHandle<fido_cred_t, fido_cred_free>;

// Loads the enrollment into libfido2 as a relying party would and returns
// fido_cred_verify's verdict; `cred` is kept for inspecting what was parsed.
int fido_verify(Cred& cred, int cose_alg, const std::string& rp, const Bytes& challenge, const AttestationFile& a,
                int cred_prot = 0) {
  fido_init(0);
  cred.reset(fido_cred_new());
  int r = FIDO_OK;
  for (int step :
       {fido_cred_set_type(cred.get(), cose_alg),
        fido_cred_set_clientdata(cred.get(), challenge.data(), challenge.size()),
        fido_cred_set_rp(cred.get(), rp.c_str(), nullptr),
        fido_cred_set_authdata(cred.get(), a.authdata_cbor.data(), a.authdata_cbor.size()),
        fido_cred_set_x509(cred.get(), a.cert.data(), a.cert.size()),
        fido_cred_set_sig(cred.get(), a.signature.data(), a.signature.size()), fido_cred_set_fmt(cred.get(), "packed"),
        cred_prot != 0 ? fido_cred_set_prot(cred.get(), cred_prot) : FIDO_OK}) {
    if (r == FIDO_OK) r = step;
  }
  return r == FIDO_OK ? fido_cred_verify(cred.get()) : r;
}

class SoftKeyAttestation : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir.path().empty());
    // A test CA and an attestation certificate it issued, as a vendor would.
    const std::vector<std::vector<std::string>> steps = {
        {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
         dir / "ca.key", "-out", dir / "ca.pem", "-subj", "/CN=bastion test attestation CA", "-days", "2"},
        {"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
         dir / "att.key", "-out", dir / "att.csr", "-subj",
         "/C=XX/O=bastion test/OU=Authenticator Attestation/CN=bastion softkey"},
        {"openssl", "x509", "-req", "-in", dir / "att.csr", "-CA", dir / "ca.pem", "-CAkey", dir / "ca.key",
         "-set_serial", "1", "-days", "2", "-out", dir / "att.pem"}};
    for (const auto& argv : steps) {
      auto r = run(argv);
      ASSERT_EQ(r.exit_code, 0) << argv[1] << ": " << r.err;
    }
    write_text(dir / "challenge", "a relying party's enrollment challenge");
  }

  RunResult enroll(const Env& env, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {"ssh-keygen", "-q",
                                     "-t",         GetParam(),
                                     "-w",         kLib,
                                     "-N",         "",
                                     "-f",         dir / "key",
                                     "-O",         "challenge=" + dir / "challenge",
                                     "-O",         "application=ssh:bastion-test",
                                     "-O",         "write-attestation=" + dir / "attestation"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run(argv, env);
  }
  Env attesting() const {
    return {{"BASTION_SOFTKEY_ATTEST_KEY", dir / "att.key"}, {"BASTION_SOFTKEY_ATTEST_CERT", dir / "att.pem"}};
  }
  int cose_alg() const { return GetParam() == "ed25519-sk" ? COSE_EDDSA : COSE_ES256; }
  Bytes challenge() const {
    std::string c = read_text(dir / "challenge");
    return Bytes(c.begin(), c.end());
  }

  TempDir dir;
};

TEST_P(SoftKeyAttestation, PackedAttestationVerifiesLikeARealKeys) {
  Env env = attesting();
  env.emplace_back("BASTION_SOFTKEY_AAGUID", "00112233-4455-6677-8899-aabbccddeeff");
  auto r = enroll(env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto a = read_attestation(dir / "attestation");
  ASSERT_TRUE(a.has_value());

  Cred cred(nullptr);
  ASSERT_EQ(fido_verify(cred, cose_alg(), "ssh:bastion-test", challenge(), *a), FIDO_OK);
  const Bytes aaguid(fido_cred_aaguid_ptr(cred.get()),
                     fido_cred_aaguid_ptr(cred.get()) + fido_cred_aaguid_len(cred.get()));
  EXPECT_EQ(aaguid,
            (Bytes{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}));
  EXPECT_EQ(fido_cred_flags(cred.get()) & 0x45, 0x41) << "UP and AT set, UV not claimed by default";
  // The attested credential is the key in the .pub file.
  Bytes pub = sk_public_key(read_text(dir / "key.pub"));
  ASSERT_FALSE(pub.empty());
  if (pub.size() == 65) pub.erase(pub.begin());  // libfido2 holds x || y
  EXPECT_EQ(
      Bytes(fido_cred_pubkey_ptr(cred.get()), fido_cred_pubkey_ptr(cred.get()) + fido_cred_pubkey_len(cred.get())),
      pub);
  // The attestation certificate is the configured one, issued by the test CA.
  const unsigned char* der = a->cert.data();
  bastion::CHandle<X509, X509_free> cert(d2i_X509(nullptr, &der, static_cast<long>(a->cert.size())));
  bastion::CHandle<FILE, std::fclose> ca_file(std::fopen((dir / "ca.pem").c_str(), "r"));
  ASSERT_TRUE(cert && ca_file);
  bastion::CHandle<X509, X509_free> ca(PEM_read_X509(ca_file.get(), nullptr, nullptr, nullptr));
  ASSERT_TRUE(ca);
  EXPECT_EQ(X509_verify(cert.get(), X509_get0_pubkey(ca.get())), 1);

  // The verifier really checks: another challenge or relying party fails.
  Bytes other = challenge();
  other[0] ^= 1;
  EXPECT_NE(fido_verify(cred, cose_alg(), "ssh:bastion-test", other, *a), FIDO_OK);
  EXPECT_NE(fido_verify(cred, cose_alg(), "ssh:", challenge(), *a), FIDO_OK);
}

TEST_P(SoftKeyAttestation, VerifyRequiredKeysCarryCredProtectAndUv) {
  Env env = attesting();
  env.emplace_back("BASTION_SOFTKEY_FLAGS", "up,uv");
  auto r = enroll(env, {"-O", "verify-required"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto a = read_attestation(dir / "attestation");
  ASSERT_TRUE(a.has_value());
  Cred cred(nullptr);
  EXPECT_EQ(fido_verify(cred, cose_alg(), "ssh:bastion-test", challenge(), *a, FIDO_CRED_PROT_UV_REQUIRED), FIDO_OK);
  EXPECT_EQ(fido_cred_prot(cred.get()), FIDO_CRED_PROT_UV_REQUIRED);
  EXPECT_EQ(fido_cred_flags(cred.get()) & 0xc5, 0xc5) << "UP, UV, AT and ED";
}

TEST_P(SoftKeyAttestation, WithoutConfigurationThereIsNoAttestation) {
  auto r = enroll({});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto a = read_attestation(dir / "attestation");
  ASSERT_TRUE(a.has_value());
  EXPECT_TRUE(a->cert.empty());
  EXPECT_TRUE(a->signature.empty());
  EXPECT_FALSE(a->authdata_cbor.empty());
}

TEST_P(SoftKeyAttestation, HalfOrMismatchedConfigurationFailsClosed) {
  auto half = enroll({{"BASTION_SOFTKEY_ATTEST_KEY", dir / "att.key"}});
  EXPECT_NE(half.exit_code, 0);
  EXPECT_NE(half.err.find("bastion-softkey: set both"), std::string::npos) << half.err;
  auto mismatched =
      enroll({{"BASTION_SOFTKEY_ATTEST_KEY", dir / "ca.key"}, {"BASTION_SOFTKEY_ATTEST_CERT", dir / "att.pem"}});
  EXPECT_NE(mismatched.exit_code, 0);
  EXPECT_NE(mismatched.err.find("bastion-softkey: the attestation key must"), std::string::npos) << mismatched.err;
  auto missing =
      enroll({{"BASTION_SOFTKEY_ATTEST_KEY", dir / "nope.key"}, {"BASTION_SOFTKEY_ATTEST_CERT", dir / "att.pem"}});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_FALSE(std::filesystem::exists(dir / "key.pub"));
}

INSTANTIATE_TEST_SUITE_P(Types, SoftKeyAttestation, ::testing::Values("ed25519-sk", "ecdsa-sk"));

}  // namespace
}  // namespace bastion::softkey_test
