#include "gateway/app/ca_rotation.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "authn/user_ca.h"
#include "common/files.h"

namespace bastion::gateway {
namespace {

class UserCaRotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("bastion-ca-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_);
    key_ = (dir_ / "user_ca_key").string();
    ASSERT_TRUE(authn::UserCa::create(key_));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string fingerprint() {
    auto s = UserCaRotation(key_).state();
    return s ? s->active.fingerprint : "";
  }
  std::filesystem::path dir_;
  std::string key_;
};

TEST_F(UserCaRotationTest, StartPromoteRetireMovesTheKeysAndShowsWhatTheTargetsTrust) {
  UserCaRotation rot(key_);
  const std::string old_fp = fingerprint();
  auto text = rot.trusted_keys_text();
  ASSERT_TRUE(text);
  EXPECT_EQ(std::count(text->begin(), text->end(), '\n'), 1);

  auto next = rot.start();
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_NE(next->fingerprint, old_fp);
  EXPECT_NE(next->line.find(" bastion-user-ca-next"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat((key_ + ".next").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  EXPECT_EQ(fingerprint(), old_fp);  // still signs with the old key
  text = rot.trusted_keys_text();
  ASSERT_TRUE(text);
  EXPECT_EQ(std::count(text->begin(), text->end(), '\n'), 2);
  auto again = rot.start();
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("a rotation is already under way"), std::string::npos);

  auto active = rot.promote();
  ASSERT_TRUE(active) << active.error().message;
  EXPECT_EQ(active->fingerprint, next->fingerprint);
  EXPECT_EQ(fingerprint(), next->fingerprint);
  auto s = rot.state();
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->next);
  ASSERT_TRUE(s->previous);
  EXPECT_EQ(s->previous->fingerprint, old_fp);
  EXPECT_FALSE(rot.start());  // not before the previous key is retired

  auto gone = rot.retire();
  ASSERT_TRUE(gone) << gone.error().message;
  EXPECT_EQ(gone->fingerprint, old_fp);
  EXPECT_FALSE(file_exists(key_ + ".previous"));
  EXPECT_FALSE(rot.retire());
  EXPECT_FALSE(rot.promote());
  EXPECT_FALSE(rot.cancel());
}

TEST_F(UserCaRotationTest, APromoteCutShortByACrashCompletesWhenRunAgain) {
  UserCaRotation rot(key_);
  const std::string old_fp = fingerprint();
  auto next = rot.start();
  ASSERT_TRUE(next);
  // The crash came after promote's first step: KEY.previous links the active key.
  ASSERT_EQ(::link(key_.c_str(), (key_ + ".previous").c_str()), 0);
  auto s = rot.state();
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->next);
  EXPECT_FALSE(s->previous);  // not a previous key: the same as the active one
  auto active = rot.promote();
  ASSERT_TRUE(active) << active.error().message;
  EXPECT_EQ(active->fingerprint, next->fingerprint);
  s = rot.state();
  ASSERT_TRUE(s && s->previous);
  EXPECT_EQ(s->previous->fingerprint, old_fp);
}

TEST_F(UserCaRotationTest, CancelRemovesOnlyTheNextKey) {
  UserCaRotation rot(key_);
  const std::string old_fp = fingerprint();
  ASSERT_TRUE(rot.start());
  ASSERT_TRUE(rot.cancel());
  EXPECT_FALSE(file_exists(key_ + ".next"));
  EXPECT_EQ(fingerprint(), old_fp);
  EXPECT_TRUE(rot.start());  // a new rotation can begin
}

TEST_F(UserCaRotationTest, AnUnreadableNextKeyIsAnErrorNotIgnored) {
  ASSERT_TRUE(write_file_atomic(key_ + ".next", "not a key", 0600, false));
  UserCaRotation rot(key_);
  auto s = rot.state();
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("next user CA key"), std::string::npos) << s.error().message;
  EXPECT_FALSE(rot.promote());
}

}  // namespace
}  // namespace bastion::gateway
