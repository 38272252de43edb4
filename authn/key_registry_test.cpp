#include <gtest/gtest.h>

#include "authn/key_registry.h"
#include "common/database.h"
#include "common/database_sql.h"
#include "common/ssh_wire.h"
#include "tests/support/test_database.h"

namespace bastion::authn {
namespace {

PublicKey fake_key(const std::string& type, uint8_t seed) {
  WireWriter w;
  w.string(type);
  std::vector<uint8_t> point(32, seed);
  w.string(point);
  if (type == "sk-ssh-ed25519@openssh.com") w.string(std::string("ssh:"));
  PublicKey k;
  k.type = type;
  k.blob = w.bytes();
  k.comment = "test";
  return k;
}

class KeyRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = Database::open(bastion::test_support::test_database(":memory:"), Database::Mode::kCreate);
    ASSERT_TRUE(d);
    db = std::make_unique<Database>(std::move(*d));
    exec(*db,
         "INSERT INTO users(name, state, service_account, created_at) VALUES "
         "('alice','pending',0,0), ('bot','active',1,0), ('gone','left',0,0)");
    reg = std::make_unique<KeyRegistry>(*db, clock);
  }
  std::string state_of(const std::string& user) {
    Statement q(*db, "SELECT state FROM users WHERE name = ?");
    q.bind(1, user);
    q.step();
    return q.column(0).text();
  }
  FakeClock clock{1'000'000};
  std::unique_ptr<Database> db;
  std::unique_ptr<KeyRegistry> reg;
};

TEST_F(KeyRegistryTest, EnrollActivatesPendingPersonAndFindsByFingerprint) {
  auto rec = reg->enroll("alice", fake_key("sk-ssh-ed25519@openssh.com", 1));
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_EQ(state_of("alice"), "active");
  auto found = reg->find_by_fingerprint(rec->fingerprint);
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->user, "alice");
  EXPECT_TRUE((*found)->active);
}

TEST_F(KeyRegistryTest, PlainKeysOnlyForServiceAccounts) {
  auto refused = reg->enroll("alice", fake_key("ssh-ed25519", 2));
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("people must use a FIDO2 security key"), std::string::npos);
  EXPECT_EQ(state_of("alice"), "pending");
  EXPECT_TRUE(reg->enroll("bot", fake_key("ssh-ed25519", 2)));
}

TEST_F(KeyRegistryTest, OneKeyOnePersonAndNoKeysForLeavers) {
  ASSERT_TRUE(reg->enroll("alice", fake_key("sk-ssh-ed25519@openssh.com", 3)));
  auto dup = reg->enroll("bot", fake_key("sk-ssh-ed25519@openssh.com", 3));
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message.find("already enrolled (for alice)"), std::string::npos);
  EXPECT_FALSE(reg->enroll("gone", fake_key("sk-ssh-ed25519@openssh.com", 4)));
  EXPECT_FALSE(reg->enroll("nobody", fake_key("sk-ssh-ed25519@openssh.com", 5)));
  EXPECT_EQ(reg->list("")->size(), 1u);
}

TEST_F(KeyRegistryTest, RevokeOnce) {
  auto rec = reg->enroll("alice", fake_key("sk-ssh-ed25519@openssh.com", 6));
  ASSERT_TRUE(rec);
  clock.advance(5);
  auto r = reg->revoke(rec->fingerprint);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->active);
  auto found = reg->find_by_fingerprint(rec->fingerprint);
  EXPECT_FALSE((*found)->active);
  EXPECT_EQ(*(*found)->revoked_at, clock.now());
  EXPECT_FALSE(reg->revoke(rec->fingerprint));
  EXPECT_FALSE(reg->revoke("SHA256:nope"));
}

}  // namespace
}  // namespace bastion::authn
