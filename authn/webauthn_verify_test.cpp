#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "authn/fido_verify.h"
#include "authn/soft_webauthn_test_support.h"
#include "common/ssh_wire.h"

namespace bastion::authn {
namespace {

using testing::SoftAuthenticator;
using testing::TestCa;

const std::string kAaguid = "b0a57e11-5e1f-4b0a-9a11-000000000001";

std::string read(const std::string& rel) {
  std::ifstream in(std::string(BASTION_SOURCE_DIR) + "/" + rel);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class WebauthnTest : public ::testing::Test {
 protected:
  TestCa ca;
  AttestationTrust trust{{testing::pem_of(ca.root.get())}, {}, {kAaguid}};
  std::string challenge = std::string(32, '\x5a');
  RegistrationCheck reg_check(const SoftAuthenticator& a) { return {a.rp_id, a.origin, challenge, false, &trust}; }
  Result<WebauthnCredential> registered(SoftAuthenticator& a) {
    auto [cdj, att] = a.make_credential(challenge);
    return verify_registration(cdj, att, reg_check(a));
  }
  static std::string err(const Result<WebauthnCredential>& r) { return r ? "ok" : r.error().message; }
  static std::string err(const Result<AssertionResult>& r) { return r ? "ok" : r.error().message; }
};

TEST_F(WebauthnTest, RegistersEs256AndEdDsaWithATrustedPackedAttestation) {
  for (bool eddsa : {false, true}) {
    SoftAuthenticator a(eddsa);
    ca.attest(a);
    auto c = registered(a);
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->cose_alg, eddsa ? -8 : -7);
    EXPECT_EQ(c->credential_id, a.credential_id);
    EXPECT_EQ(c->attestation.format, "packed");
    EXPECT_EQ(c->attestation.aaguid, kAaguid);
    EXPECT_EQ(c->attestation.chain_pem.size(), 2u);
    EXPECT_NE(c->attestation.subject.find("CN=softkey"), std::string::npos);
  }
}

TEST_F(WebauthnTest, RegistrationRefusalsNameTheirReason) {
  SoftAuthenticator a(false);
  ca.attest(a);
  auto [cdj, att] = a.make_credential(challenge);
  auto check = reg_check(a);
  check.challenge = std::string(32, '\x01');
  EXPECT_EQ(err(verify_registration(cdj, att, check)), "wrong challenge");
  check = reg_check(a);
  check.origin = "https://evil.example.com";
  EXPECT_EQ(err(verify_registration(cdj, att, check)).rfind("wrong origin", 0), 0u);
  check = reg_check(a);
  check.rp_id = "other.example.com";
  EXPECT_EQ(err(verify_registration(cdj, att, check)), "wrong RP ID");
  // The assertion's type in a registration.
  std::string get_type = a.client_data("webauthn.get", challenge);
  EXPECT_EQ(err(verify_registration(get_type, att, reg_check(a))).rfind("wrong type", 0), 0u);
  // Flags.
  a.flags = 0x04;
  auto no_up = a.make_credential(challenge);
  EXPECT_EQ(err(verify_registration(no_up.first, no_up.second, reg_check(a))), "user presence missing");
  a.flags = 0x01;
  auto no_uv = a.make_credential(challenge);
  EXPECT_EQ(err(verify_registration(no_uv.first, no_uv.second, reg_check(a))), "user verification missing");
  a.flags = 0x05;
  // A signature over something else.
  auto [cdj2, att2] = a.make_credential(challenge);
  std::string tampered = cdj2;
  tampered.insert(tampered.size() - 1, ",\"x\":1");
  EXPECT_EQ(err(verify_registration(tampered, att2, reg_check(a))), "bad signature");
  EXPECT_EQ(err(verify_registration(cdj2, "garbage", reg_check(a))).rfind("malformed", 0), 0u);
}

TEST_F(WebauthnTest, AttestationTrustIsEnforced) {
  SoftAuthenticator a(false);
  // None: only when policy allows it.
  auto none = a.make_credential(challenge);
  EXPECT_EQ(err(verify_registration(none.first, none.second, reg_check(a))).rfind("attestation required", 0), 0u);
  auto allowed = reg_check(a);
  allowed.allow_none_attestation = true;
  auto ok = verify_registration(none.first, none.second, allowed);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->attestation.format, "none");
  // Another CA.
  TestCa rogue;
  rogue.attest(a);
  EXPECT_EQ(err(registered(a)).rfind("untrusted root", 0), 0u);
  // A model not on the list.
  ca.attest(a);
  trust.allowed_aaguids = {"cb69481e-8ff7-4039-93ec-0a2729a154a8"};
  EXPECT_EQ(err(registered(a)).rfind("AAGUID not allowed: " + kAaguid, 0), 0u);
  trust.allowed_aaguids = {kAaguid};
  // The certificate names another model than the authenticator data.
  TestCa other_model("cb69481e8ff7403993ec0a2729a154a8");
  trust.roots_pem.push_back(testing::pem_of(other_model.root.get()));
  other_model.attest(a);
  auto mism = registered(a);
  EXPECT_EQ(err(mism).rfind("AAGUID mismatch", 0), 0u) << err(mism);
}

TEST_F(WebauthnTest, AssertionsNeedPresenceVerificationTheRightOriginAndAForwardCounter) {
  for (bool eddsa : {false, true}) {
    SoftAuthenticator a(eddsa);
    ca.attest(a);
    auto cred = registered(a);
    ASSERT_TRUE(cred) << cred.error().message;
    AssertionCheck check{a.rp_id, a.origin, challenge, &*cred};
    auto s = a.get_assertion(challenge);
    auto ok = verify_assertion(a.credential_id, s.client_data, s.auth_data, s.signature, check);
    ASSERT_TRUE(ok) << ok.error().message;
    EXPECT_EQ(ok->sign_count, 1u);
    cred->sign_count = ok->sign_count;
    // Replayed: the same assertion again.
    EXPECT_EQ(err(verify_assertion(a.credential_id, s.client_data, s.auth_data, s.signature, check)),
              "counter regression: stored 1, got 1");
    // An old or foreign challenge.
    auto other = check;
    other.challenge = std::string(32, '\x01');
    auto s2 = a.get_assertion(challenge);
    EXPECT_EQ(err(verify_assertion(a.credential_id, s2.client_data, s2.auth_data, s2.signature, other)),
              "wrong challenge");
    other = check;
    other.origin = "https://phish.example.net";
    EXPECT_EQ(err(verify_assertion(a.credential_id, s2.client_data, s2.auth_data, s2.signature, other))
                  .rfind("wrong origin", 0),
              0u);
    other = check;
    other.rp_id = "phish.example.net";
    EXPECT_EQ(err(verify_assertion(a.credential_id, s2.client_data, s2.auth_data, s2.signature, other)), "wrong RP ID");
    std::string bad_sig = s2.signature;
    bad_sig[bad_sig.size() / 2] ^= 0x01;
    EXPECT_EQ(err(verify_assertion(a.credential_id, s2.client_data, s2.auth_data, bad_sig, check)), "bad signature");
    EXPECT_EQ(err(verify_assertion("someone-else", s2.client_data, s2.auth_data, s2.signature, check)),
              "unknown credential");
    std::string create_type = a.client_data("webauthn.create", challenge);
    EXPECT_EQ(
        err(verify_assertion(a.credential_id, create_type, s2.auth_data, s2.signature, check)).rfind("wrong type", 0),
        0u);
    a.flags = 0x04;
    auto no_up = a.get_assertion(challenge);
    EXPECT_EQ(err(verify_assertion(a.credential_id, no_up.client_data, no_up.auth_data, no_up.signature, check)),
              "user presence missing");
    a.flags = 0x01;
    auto no_uv = a.get_assertion(challenge);
    EXPECT_EQ(err(verify_assertion(a.credential_id, no_uv.client_data, no_uv.auth_data, no_uv.signature, check)),
              "user verification missing");
    a.flags = 0x05;
    // A clone that went back in time.
    a.counter = 0;
    auto clone = a.get_assertion(challenge);
    EXPECT_EQ(err(verify_assertion(a.credential_id, clone.client_data, clone.auth_data, clone.signature, check))
                  .rfind("counter regression", 0),
              0u);
  }
}

// COSE_Key bytes for an Ed25519 x (kty OKP, alg EdDSA, crv Ed25519).
std::string eddsa_cose(const std::string& x) { return std::string("\xa4\x01\x01\x03\x27\x20\x06\x21\x58\x20", 10) + x; }

TEST_F(WebauthnTest, RefusesCredentialKeysLibfido2WouldFillWithZeros) {
  SoftAuthenticator ed(true);
  auto check = reg_check(ed);
  check.allow_none_attestation = true;
  auto reg = [&](SoftAuthenticator& a) {
    auto [cdj, att] = a.make_credential(challenge);
    return err(verify_registration(cdj, att, check));
  };
  ASSERT_EQ(reg(ed), "ok");
  // No x at all (the fuzzer's forged-assertion finding).
  ed.cose_override = std::string("\xa3\x01\x01\x03\x27\x20\x06", 7);
  EXPECT_EQ(reg(ed), "malformed credential key: x missing or not 32 bytes");
  // All zeros, the identity, a point of order 8 with its sign bit, and y = p
  // (a non-canonical 0).
  std::string order8 = testing::from_hex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85");
  std::string y_is_p = testing::from_hex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
  for (const std::string& x : {std::string(32, '\0'), "\x01" + std::string(31, '\0'), order8, y_is_p}) {
    ed.cose_override = eddsa_cose(x);
    EXPECT_EQ(reg(ed), "malformed credential key: a weak Ed25519 key");
  }
  // The wrong kty or crv for the algorithm.
  ed.cose_override = std::string("\xa4\x01\x02\x03\x27\x20\x06\x21\x58\x20", 10) + std::string(32, '\x11');
  EXPECT_EQ(reg(ed), "malformed credential key: kty 2, expected 1");
  // ES256 without y.
  SoftAuthenticator ec(false);
  ASSERT_EQ(reg(ec), "ok");
  std::string full = testing::cose_key(ec.key.get());
  ec.cose_override = std::string("\xa4", 1) + full.substr(1, full.size() - 1 - 35);
  EXPECT_EQ(reg(ec), "malformed credential key: y missing or not 32 bytes");
}

TEST_F(WebauthnTest, RefusesCborThatWouldMakeLibcborAllocateGigabytes) {
  SoftAuthenticator a(true);
  auto check = reg_check(a);
  check.allow_none_attestation = true;
  std::string cdj = a.client_data("webauthn.create", challenge);
  auto reason = [&](const std::string& att) { return err(verify_registration(cdj, att, check)); };
  // An attestation object declaring an array of 2^28 items in five bytes.
  EXPECT_EQ(reason(std::string("\x9a\x10\x00\x00\x00", 5)),
            "malformed attestation object: malformed CBOR: an array larger than the input");
  EXPECT_EQ(reason(std::string("\xba\x10\x00\x00\x00", 5)),
            "malformed attestation object: malformed CBOR: a map larger than the input");
  EXPECT_EQ(reason(std::string("\xbf\xff", 2)), "malformed attestation object: malformed CBOR: indefinite length");
  EXPECT_EQ(reason(std::string(20, '\x81') + '\x00'),
            "malformed attestation object: malformed CBOR: nested too deeply");
  // The same inside the authenticator data, after the credential id.
  a.cose_override = std::string("\xba\x10\x00\x00\x00", 5);
  auto [cdj2, att] = a.make_credential(challenge);
  EXPECT_EQ(err(verify_registration(cdj2, att, check)),
            "malformed authenticator data: the credential key: malformed CBOR: a map larger than the input");
  // An assertion's extensions (ED flag) likewise.
  a.cose_override.clear();
  auto cred = verify_registration(cdj2, a.make_credential(challenge).second, check);
  ASSERT_TRUE(cred) << cred.error().message;
  auto s = a.get_assertion(challenge);
  std::string ad = s.auth_data;
  ad[32] = static_cast<char>(ad[32] | 0x80);
  ad += std::string("\xba\x10\x00\x00\x00", 5);
  AssertionCheck ac{a.rp_id, a.origin, challenge, &*cred};
  EXPECT_EQ(err(verify_assertion(a.credential_id, s.client_data, ad, s.signature, ac)),
            "malformed authenticator data: the extensions: malformed CBOR: a map larger than the input");
  EXPECT_EQ(err(verify_assertion(a.credential_id, s.client_data, s.auth_data + "x", s.signature, ac)),
            "malformed authenticator data: trailing bytes");
}

TEST_F(WebauthnTest, AStoredWeakEd25519KeyVerifiesNothing) {
  // A credential stored before keys were checked: the all-zero key, with the
  // forged signature R = identity, S = 0 that it would accept.
  SoftAuthenticator a(true);
  Pkey zero(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                        reinterpret_cast<const unsigned char*>(std::string(32, '\0').data()), 32));
  ASSERT_TRUE(zero);
  WebauthnCredential cred;
  cred.credential_id = a.credential_id;
  cred.cose_alg = -8;
  cred.public_key_der = testing::spki_der(zero.get());
  auto s = a.get_assertion(challenge);
  std::string forged = "\x01" + std::string(63, '\0');
  AssertionCheck ac{a.rp_id, a.origin, challenge, &cred};
  EXPECT_EQ(err(verify_assertion(a.credential_id, s.client_data, s.auth_data, forged, ac)),
            "malformed stored credential key: a weak Ed25519 key");
}

TEST_F(WebauthnTest, ErrorMessagesShowOnlyPrintableAscii) {
  SoftAuthenticator a(true);
  a.origin = "https://ph\xc3\x28ish\x1b[2J.example";
  auto [cdj, att] = a.make_credential(challenge);
  std::string e = err(verify_registration(cdj, att, reg_check(a)));
  // Not even parseable as JSON with a broken UTF-8 sequence: either way, no raw byte.
  for (unsigned char c : e) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << e;
  a.origin = "https://ph\\u001b[2Jish.example";  // JSON-escaped ESC
  auto [cdj2, att2] = a.make_credential(challenge);
  e = err(verify_registration(cdj2, att2, reg_check(a)));
  EXPECT_EQ(e.rfind("wrong origin: https://ph?[2Jish.example", 0), 0u) << e;
}

// ssh-sk-attest-v01 blobs, built the way OpenSSH writes them.
class SkAttestationTest : public WebauthnTest {
 protected:
  SoftAuthenticator a{true};
  void SetUp() override {
    a.rp_id = "ssh:";
    ca.attest(a);
  }
  PublicKey ssh_key(EVP_PKEY* k) {
    unsigned char raw[32];
    size_t n = sizeof raw;
    EVP_PKEY_get_raw_public_key(k, raw, &n);
    WireWriter w;
    w.string(std::string("sk-ssh-ed25519@openssh.com"));
    w.string(std::vector<uint8_t>(raw, raw + n));
    w.string(std::string("ssh:"));
    return {"sk-ssh-ed25519@openssh.com", w.bytes(), ""};
  }
  std::string blob(const std::string& made_with) {
    std::string ad = a.auth_data(true);
    std::string sig = testing::sign(a.att_key.get(), ad + testing::sha256s(made_with));
    WireWriter w;
    w.string(std::string("ssh-sk-attest-v01"));
    w.string(a.x5c[0]);
    w.string(sig);
    w.string(testing::cbor_encode(testing::bytes(ad)));
    w.u32(0);
    w.string(std::string());
    return testing::str(w.bytes());
  }
  std::string err(const Result<AttestationInfo>& r) { return r ? "ok" : r.error().message; }
};

TEST_F(SkAttestationTest, VerifiesAndNamesEachRefusal) {
  PublicKey key = ssh_key(a.key.get());
  auto ok = verify_sk_attestation(blob(challenge), key, challenge, trust);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->format, "packed");
  EXPECT_EQ(ok->aaguid, kAaguid);
  EXPECT_EQ(ok->chain_pem.size(), 2u);
  // Made with a challenge the gateway did not issue (or reused under another).
  EXPECT_EQ(err(verify_sk_attestation(blob("another challenge"), key, challenge, trust)).rfind("bad signature", 0), 0u);
  // The attestation of another key.
  auto other = testing::ed_key();
  EXPECT_EQ(
      err(verify_sk_attestation(blob(challenge), ssh_key(other.get()), challenge, trust)).rfind("key mismatch", 0), 0u);
  // Trust.
  AttestationTrust none{{}, {}, {kAaguid}};
  EXPECT_EQ(err(verify_sk_attestation(blob(challenge), key, challenge, none)).rfind("untrusted root", 0), 0u);
  AttestationTrust models{trust.roots_pem, {}, {"cb69481e-8ff7-4039-93ec-0a2729a154a8"}};
  EXPECT_EQ(err(verify_sk_attestation(blob(challenge), key, challenge, models)).rfind("AAGUID not allowed", 0), 0u);
  a.aaguid_raw = std::string(16, '\x07');
  AttestationTrust sevens{trust.roots_pem, {}, {"07070707-0707-0707-0707-070707070707"}};
  EXPECT_EQ(err(verify_sk_attestation(blob(challenge), key, challenge, sevens)).rfind("AAGUID mismatch", 0), 0u);
  EXPECT_EQ(err(verify_sk_attestation("not a blob", key, challenge, trust)).rfind("malformed attestation", 0), 0u);
}

TEST_F(SkAttestationTest, RefusesWeakKeysAndUnboundedCbor) {
  PublicKey key = ssh_key(a.key.get());
  // An SSH key that is the Ed25519 identity: anybody could sign for it.
  Pkey identity(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr,
      reinterpret_cast<const unsigned char*>(std::string("\x01" + std::string(31, '\0')).data()), 32));
  ASSERT_TRUE(identity);
  EXPECT_EQ(err(verify_sk_attestation(blob(challenge), ssh_key(identity.get()), challenge, trust)), "malformed key");
  // Attested data whose COSE key has no x: libfido2 alone would take zeros.
  a.cose_override = "\xa3\x01\x01\x03\x27\x20\x06";
  EXPECT_EQ(err(verify_sk_attestation(blob(challenge), key, challenge, trust)),
            "malformed attestation: malformed credential key: x missing or not 32 bytes");
  // A COSE key declaring 2^28 pairs in a few bytes.
  a.cose_override = std::string("\xba\x10\x00\x00\x00", 5);
  EXPECT_EQ(err(verify_sk_attestation(blob(challenge), key, challenge, trust))
                .rfind("malformed attestation: malformed authenticator data", 0),
            0u);
  // The authenticator data field must be one CBOR byte string: here a huge array.
  WireWriter w;
  w.string(std::string("ssh-sk-attest-v01"));
  w.string(a.x5c[0]);
  w.string(std::string("sig"));
  w.string(std::string("\x9a\x10\x00\x00\x00", 5));
  w.u32(0);
  w.string(std::string());
  EXPECT_EQ(err(verify_sk_attestation(testing::str(w.bytes()), key, challenge, trust)),
            "malformed attestation: authenticator data: malformed CBOR: not one byte string");
}

TEST(AttestationChain, RealYubicoLeafChainsToTheShippedU2fRoot) {
  std::string leaf_pem = read("authn/testdata/yubico-u2f-ee-serial-413943488.sample.pem");
  Bio bio(BIO_new_mem_buf(leaf_pem.data(), static_cast<int>(leaf_pem.size())));
  testing::Cert leaf(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ASSERT_TRUE(leaf);
  std::string der = testing::der_of(leaf.get());
  AttestationTrust yubico{{read("contrib/fido/yubico-u2f-root-ca-serial-457200631.pem")}, {}, {}};
  auto chain = verify_attestation_chain(der, {}, yubico);
  ASSERT_TRUE(chain) << chain.error().message;
  EXPECT_EQ(chain->size(), 2u);
  auto aaguid = certificate_aaguid(der);
  ASSERT_TRUE(aaguid);
  EXPECT_EQ(*aaguid, "cb69481e-8ff7-4039-93ec-0a2729a154a8");
  AttestationTrust other{{read("contrib/fido/yubico-attestation-root-1.pem")}, {}, {}};
  auto refused = verify_attestation_chain(der, {}, other);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message.rfind("untrusted root", 0), 0u);
  EXPECT_EQ(*normalize_aaguid("CB69481E8FF7403993EC0A2729A154A8"), "cb69481e-8ff7-4039-93ec-0a2729a154a8");
  EXPECT_FALSE(normalize_aaguid("cb69481e"));
}

}  // namespace
}  // namespace bastion::authn
