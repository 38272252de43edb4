#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "authn/mfa_store.h"
#include "common/database.h"
#include "common/database_sql.h"
#include "tests/support/test_database.h"

namespace bastion::authn {
namespace {

constexpr Micros kMin = 60 * kMicrosPerSecond;

class MfaStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = Database::open(bastion::test_support::test_database(":memory:"), Database::Mode::kCreate);
    ASSERT_TRUE(d);
    db = std::make_unique<Database>(std::move(*d));
    exec(*db,
         "INSERT INTO users(name, state, service_account, created_at) VALUES "
         "('alice','active',0,0), ('bob','active',0,0), ('gone','left',0,0)");
    store = std::make_unique<MfaStore>(*db, clock);
  }
  FakeClock clock{1'000'000 * kMicrosPerSecond};
  std::unique_ptr<Database> db;
  std::unique_ptr<MfaStore> store;
};

TEST_F(MfaStoreTest, KeyChallengesAreSingleUsePerPersonAndExpire) {
  auto c = store->issue_key_challenge("alice");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->size(), 32u);
  EXPECT_FALSE(store->issue_key_challenge("gone"));
  EXPECT_FALSE(store->issue_key_challenge("nobody"));
  auto open = store->open_key_challenges("alice");
  ASSERT_TRUE(open);
  ASSERT_EQ(open->size(), 1u);
  EXPECT_EQ((*open)[0], *c);
  auto other = store->consume_key_challenge("bob", *c);
  EXPECT_NE(other.message().find("issued for another user"), std::string::npos);
  EXPECT_NE(store->consume_key_challenge("alice", std::string(32, 'x')).message().find("not issued"),
            std::string::npos);
  EXPECT_TRUE(store->consume_key_challenge("alice", *c));
  EXPECT_NE(store->consume_key_challenge("alice", *c).message().find("already been used"), std::string::npos);
  EXPECT_TRUE(store->open_key_challenges("alice")->empty());
  auto late = store->issue_key_challenge("alice");
  clock.advance(16 * kMin);
  EXPECT_NE(store->consume_key_challenge("alice", *late).message().find("expired"), std::string::npos);
  EXPECT_TRUE(store->open_key_challenges("alice")->empty());
}

TEST_F(MfaStoreTest, InvitesAreSingleUseAndStoredOnlyAsDigests) {
  auto t = store->create_invite("alice", "admin:root");
  ASSERT_TRUE(t);
  EXPECT_GE(t->size(), 20u);
  Statement q(*db, "SELECT token_sha256 FROM invites");
  ASSERT_TRUE(q.step());
  EXPECT_EQ(q.column(0).text().find(*t), std::string::npos);
  auto inv = store->find_invite(*t);
  ASSERT_TRUE(inv);
  EXPECT_EQ(inv->user, "alice");
  EXPECT_TRUE(inv->challenge.empty());
  auto ch = store->invite_challenge(*t);
  ASSERT_TRUE(ch);
  EXPECT_EQ(store->find_invite(*t)->challenge, *ch);
  EXPECT_TRUE(store->use_invite(*t));
  EXPECT_NE(store->find_invite(*t).error().message.find("already been used"), std::string::npos);
  EXPECT_EQ(store->find_invite(*t).error().code, ErrorCode::kGone);
  EXPECT_FALSE(store->use_invite(*t));
  auto t2 = store->create_invite("bob", "admin:root");
  clock.advance(25 * 60 * kMin);
  EXPECT_NE(store->find_invite(*t2).error().message.find("expired"), std::string::npos);
  EXPECT_EQ(store->find_invite(*t2).error().code, ErrorCode::kGone);
  EXPECT_FALSE(store->find_invite("nonsense"));
  EXPECT_EQ(store->find_invite("nonsense").error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(store->create_invite("gone", "admin:root"));
}

TEST_F(MfaStoreTest, StepUpsEndOnceAndRecordTheLastVerification) {
  EXPECT_FALSE(*store->last_step_up("alice"));
  auto code = store->create_step_up("alice", "S1", "root@db from 1.2.3.4", 2 * kMin);
  ASSERT_TRUE(code);
  EXPECT_TRUE(looks_like_step_up_code(*code)) << *code;
  auto s = store->find_step_up(*code);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->state, "pending");
  EXPECT_EQ(s->challenge.size(), 32u);
  // Lower case works too (people type codes).
  std::string lower = *code;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_TRUE(store->find_step_up(lower));
  EXPECT_EQ(store->find_step_up("K7Q2-9XHD").error().code, ErrorCode::kNotFound);
  clock.advance(kMicrosPerSecond);
  EXPECT_TRUE(store->finish_step_up(*code, true, "", "cred1"));
  EXPECT_EQ(store->finish_step_up(*code, false, "again", "").code(), ErrorCode::kGone);
  EXPECT_EQ(store->find_step_up(*code)->state, "verified");
  EXPECT_EQ(**store->last_step_up("alice"), clock.now());
  // Bound to its session and person: the monitor checks per-session rules with this.
  EXPECT_EQ(**store->session_step_up("alice", "S1"), clock.now());
  EXPECT_FALSE(*store->session_step_up("alice", "S2"));
  EXPECT_FALSE(*store->session_step_up("bob", "S1"));
  // An expired one cannot be verified any more.
  auto late = store->create_step_up("alice", "S2", "x", 2 * kMin);
  clock.advance(3 * kMin);
  EXPECT_FALSE(store->finish_step_up(*late, true, "", "cred1"));
  EXPECT_TRUE(store->finish_step_up(*late, false, "timed out", ""));
  EXPECT_EQ(store->find_step_up(*late)->reason, "timed out");
  EXPECT_FALSE(looks_like_step_up_code("K7Q2_9XHD"));
  EXPECT_FALSE(looks_like_step_up_code("K7Q29XHD"));
}

TEST_F(MfaStoreTest, CredentialsLockAndRevoke) {
  WebauthnCredential c;
  c.credential_id = std::string("\x01\x02\xff", 3);
  c.cose_alg = -7;
  c.public_key_der = "DER";
  c.sign_count = 5;
  c.attestation.format = "packed";
  c.attestation.aaguid = "cb69481e-8ff7-4039-93ec-0a2729a154a8";
  auto code = store->add_credential("alice", c, clock.now() + 60 * kMin);
  ASSERT_TRUE(code);
  EXPECT_FALSE(store->add_credential("bob", c, clock.now() + 60 * kMin));  // one credential, one person
  ASSERT_TRUE(store->confirm_credential_with_code("alice", *code, "test"));
  auto found = store->find_credential(c.credential_id);
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->user, "alice");
  EXPECT_EQ((*found)->credential.credential_id, c.credential_id);
  EXPECT_EQ((*found)->credential.sign_count, 5u);
  EXPECT_TRUE(store->record_use(c.credential_id, 9));
  EXPECT_EQ((*store->find_credential(c.credential_id))->credential.sign_count, 9u);
  EXPECT_TRUE(store->lock_credential(c.credential_id, "counter regression"));
  EXPECT_FALSE(store->record_use(c.credential_id, 10));
  EXPECT_EQ((*store->credentials("alice"))[0].state, "locked");
  EXPECT_EQ(*store->revoke_credentials("alice", "left"), 1);
  EXPECT_EQ((*store->credentials("alice"))[0].state, "revoked");
}

WebauthnCredential test_credential(const std::string& raw_id) {
  WebauthnCredential c;
  c.credential_id = raw_id;
  c.cose_alg = -7;
  c.public_key_der = "DER";
  c.attestation.format = "packed";
  return c;
}

TEST_F(MfaStoreTest, ACredentialFromAnInvitationIsPendingUntilItsOwnersCodeConfirmsIt) {
  auto c = test_credential("cred-alice-1");
  auto code = store->add_credential("alice", c, clock.now() + 60 * kMin);
  ASSERT_TRUE(code);
  EXPECT_TRUE(looks_like_step_up_code(*code));
  auto pending = (*store->credentials("alice"))[0];
  EXPECT_EQ(pending.state, "pending");
  EXPECT_FALSE(pending.confirmed_at);
  EXPECT_EQ(pending.confirm_code_expires_at, clock.now() + 60 * kMin);
  // Usable for nothing while pending.
  EXPECT_FALSE(store->record_use(c.credential_id, 1));
  // Only a digest of the code is stored.
  Statement q(*db, "SELECT confirm_code_sha256 FROM webauthn_credentials");
  ASSERT_TRUE(q.step());
  auto raw = q.column(0).text();
  EXPECT_EQ(raw.find(*code), std::string::npos);
  EXPECT_EQ(raw.size(), 64u);

  // Someone else, or a wrong or malformed code: refused, nothing changes.
  std::string owner;
  auto other = store->confirm_credential_with_code("bob", *code, "ssh-key bob", &owner);
  ASSERT_FALSE(other);
  EXPECT_EQ(owner, "alice");
  EXPECT_NE(other.error().message.find("not for a security key of bob"), std::string::npos);
  auto wrong = store->confirm_credential_with_code("alice", "AAAA-AAAA", "ssh-key alice");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().message, "wrong confirmation code");
  EXPECT_FALSE(store->confirm_credential_with_code("alice", "not a code", "ssh-key alice"));
  EXPECT_EQ((*store->credentials("alice"))[0].state, "pending");

  // The owner's code (any case) confirms it, once.
  std::string lower = *code;
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  auto ok = store->confirm_credential_with_code("alice", lower, "ssh-key SHA256:x");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->state, "active");
  auto active = (*store->credentials("alice"))[0];
  EXPECT_EQ(active.state, "active");
  EXPECT_EQ(active.confirmed_by, "ssh-key SHA256:x");
  EXPECT_EQ(active.confirmed_at, clock.now());
  EXPECT_TRUE(store->record_use(c.credential_id, 1));
  EXPECT_FALSE(store->confirm_credential_with_code("alice", *code, "ssh-key SHA256:x"));
}

TEST_F(MfaStoreTest, AConfirmationCodeExpires) {
  auto code = store->add_credential("alice", test_credential("cred-alice-2"), clock.now() + 60 * kMin);
  ASSERT_TRUE(code);
  clock.advance(61 * kMin);
  auto late = store->confirm_credential_with_code("alice", *code, "ssh-key alice");
  ASSERT_FALSE(late);
  EXPECT_NE(late.error().message.find("expired"), std::string::npos);
  EXPECT_EQ((*store->credentials("alice"))[0].state, "pending");
}

TEST_F(MfaStoreTest, AnAdministratorConfirmsOrRejectsAPendingCredentialById) {
  ASSERT_TRUE(store->add_credential("alice", test_credential("first-one"), clock.now() + 60 * kMin));
  ASSERT_TRUE(store->add_credential("alice", test_credential("second-one"), clock.now() + 60 * kMin));
  ASSERT_EQ(store->credentials("alice")->size(), 2u);
  const std::string first = store->find_credential("first-one")->value().id;
  const std::string second = store->find_credential("second-one")->value().id;
  EXPECT_FALSE(store->confirm_credential("alice", first.substr(0, 4), "admin:root"));  // too short
  EXPECT_FALSE(store->confirm_credential("bob", first, "admin:root"));                 // not bob's
  EXPECT_FALSE(store->confirm_credential("alice", "%%%%%%%%%%", "admin:root"));
  auto ok = store->confirm_credential("alice", first.substr(0, 10), "admin:root");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->id, first);
  EXPECT_EQ(store->find_credential("first-one")->value().state, "active");
  EXPECT_EQ(store->find_credential("first-one")->value().confirmed_by, "admin:root");
  // Only pending ones.
  EXPECT_FALSE(store->confirm_credential("alice", first, "admin:root"));
  EXPECT_FALSE(store->reject_credential("alice", first));
  auto gone = store->reject_credential("alice", second);
  ASSERT_TRUE(gone) << gone.error().message;
  EXPECT_EQ(gone->id, second);
  EXPECT_FALSE(store->find_credential("second-one")->has_value());
  EXPECT_EQ(store->credentials("alice")->size(), 1u);
}

TEST_F(MfaStoreTest, TrustRootsAndAaguids) {
  std::ifstream in(std::string(BASTION_SOURCE_DIR) + "/contrib/fido/yubico-u2f-root-ca-serial-457200631.pem");
  std::stringstream pem;
  pem << in.rdbuf();
  auto t = store->add_trust_cert(pem.str(), false);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->sha256, "0fa1386f80eb8713263ae5c1d84deb455bdf08aea50ab05503cefee82b092d42");
  EXPECT_NE(t->subject.find("Yubico U2F Root CA Serial 457200631"), std::string::npos);
  EXPECT_FALSE(store->add_trust_cert(pem.str(), false));  // twice
  EXPECT_FALSE(store->add_trust_cert("not a certificate", false));
  EXPECT_FALSE(store->add_trust_cert(pem.str() + pem.str(), true));  // two in one file
  ASSERT_TRUE(store->add_aaguid("CB69481E-8FF7-4039-93EC-0A2729A154A8", "YubiKey 5"));
  EXPECT_FALSE(store->add_aaguid("cb69481e-8ff7-4039-93ec-0a2729a154a8", "again"));
  EXPECT_FALSE(store->add_aaguid("not-a-uuid", ""));
  auto trust = store->trust();
  ASSERT_TRUE(trust);
  EXPECT_EQ(trust->roots_pem.size(), 1u);
  EXPECT_EQ(trust->allowed_aaguids, std::vector<std::string>{"cb69481e-8ff7-4039-93ec-0a2729a154a8"});
  EXPECT_FALSE(store->remove_trust_cert("0fa1"));  // too short to be sure
  EXPECT_TRUE(store->remove_trust_cert("0FA1386F"));
  EXPECT_TRUE(store->trust_certs()->empty());
  EXPECT_TRUE(store->remove_aaguid("cb69481e-8ff7-4039-93ec-0a2729a154a8"));
  EXPECT_FALSE(store->remove_aaguid("cb69481e-8ff7-4039-93ec-0a2729a154a8"));
}

}  // namespace
}  // namespace bastion::authn
