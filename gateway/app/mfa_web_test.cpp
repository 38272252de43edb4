#include <gtest/gtest.h>

#include "gateway/app/mfa_web.h"

namespace bastion::gateway {
namespace {

TEST(MfaWebText, TheConfirmationCommandsArePasteable) {
  Config cfg;
  cfg.public_name = "gw.example.com";
  cfg.listen_port = 2200;
  EXPECT_EQ(confirm_key_command(cfg, "alice", "K7Q2-9XHD"), "ssh -p 2200 alice@gw.example.com confirm-key K7Q2-9XHD");
  EXPECT_EQ(confirm_key_command(cfg, "alice"), "ssh -p 2200 alice@gw.example.com confirm-key CODE");
  cfg.listen_port = 22;
  EXPECT_EQ(confirm_key_command(cfg, "alice", "K7Q2-9XHD"), "ssh alice@gw.example.com confirm-key K7Q2-9XHD");
  EXPECT_EQ(admin_key_command("confirm-key", "alice", "AbC_d-1"), "bastionctl user confirm-key alice AbC_d-1");
  // A base64url id may start with '-': after "--", or bastionctl reads it as an option.
  EXPECT_EQ(admin_key_command("reject-key", "alice", "-P03x"), "bastionctl user reject-key -- alice -P03x");
  std::string why = unconfirmed_key_reason(cfg, "alice");
  EXPECT_NE(why.find("registered but not yet confirmed"), std::string::npos) << why;
  EXPECT_NE(why.find("ssh alice@gw.example.com confirm-key CODE"), std::string::npos) << why;
  EXPECT_NE(why.find("bastionctl user confirm-key alice"), std::string::npos) << why;
}

// The status follows the code; the words do not matter (a message that says
// "expired" but is coded not-found stays 404).
TEST(MfaWebStatus, ALinkThatIsOverIs410AndOneThatNeverWasIs404) {
  EXPECT_EQ(lookup_status(make_error(ErrorCode::kGone, "this invitation link has expired")), 410);
  EXPECT_EQ(lookup_status(make_error(ErrorCode::kGone, "this account is left")), 410);
  EXPECT_EQ(lookup_status(make_error(ErrorCode::kNotFound, "this sign-in link is not valid")), 404);
  EXPECT_EQ(lookup_status(make_error(ErrorCode::kNotFound, "expired, already used, disabled")), 404);
  EXPECT_EQ(lookup_status(make_error("this invitation link has already expired")), 404);
}

}  // namespace
}  // namespace bastion::gateway
