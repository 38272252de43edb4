#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "authn/mfa_store.h"
#include "common/database.h"

namespace bastion::authn {
namespace {

constexpr Micros kMin = 60 * kMicrosPerSecond;

class MfaStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = Database::open(":memory:", Database::Mode::kCreate);
    ASSERT_TRUE(d);
    db = std::make_unique<Database>(std::move(*d));
    db->sql().exec(
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
  EXPECT_NE(store->consume_key_challenge("alice", std::string(32, 'x')).message().find("not issued"), std::string::npos);
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
  SQLite::Statement q(db->sql(), "SELECT token_sha256 FROM invites");
  ASSERT_TRUE(q.executeStep());
  EXPECT_EQ(q.getColumn(0).getString().find(*t), std::string::npos);
  auto inv = store->find_invite(*t);
  ASSERT_TRUE(inv);
  EXPECT_EQ(inv->user, "alice");
  EXPECT_TRUE(inv->challenge.empty());
  auto ch = store->invite_challenge(*t);
  ASSERT_TRUE(ch);
  EXPECT_EQ(store->find_invite(*t)->challenge, *ch);
  EXPECT_TRUE(store->use_invite(*t));
  EXPECT_NE(store->find_invite(*t).error().message.find("already been used"), std::string::npos);
  EXPECT_FALSE(store->use_invite(*t));
  auto t2 = store->create_invite("bob", "admin:root");
  clock.advance(25 * 60 * kMin);
  EXPECT_NE(store->find_invite(*t2).error().message.find("expired"), std::string::npos);
  EXPECT_FALSE(store->find_invite("nonsense"));
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
  clock.advance(kMicrosPerSecond);
  EXPECT_TRUE(store->finish_step_up(*code, true, "", "cred1"));
  EXPECT_FALSE(store->finish_step_up(*code, false, "again", ""));
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
  ASSERT_TRUE(store->add_credential("alice", c));
  EXPECT_FALSE(store->add_credential("bob", c));  // one credential, one person
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
