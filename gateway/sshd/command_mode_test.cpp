#include <gtest/gtest.h>

#include "common/database.h"
#include "gateway/sshd/command_mode.h"
#include "policy/sqlite_repository.h"
#include "tests/support/test_database.h"

namespace bastion::gateway {
namespace {

TEST(CommandMode, TargetsListsOnlyWhatRolesAllow) {
  auto db = Database::open(bastion::test_support::test_database(":memory:"), Database::Mode::kCreate);
  ASSERT_TRUE(db);
  FakeClock clock{0};
  policy::SqlitePolicyRepository repo(*db, clock);
  policy::Role ops;
  ops.name = "ops";
  ops.target_selector = "env=prod";
  ops.logins = {"root", "deploy"};
  ASSERT_TRUE(repo.add_role(ops));
  policy::Target a;
  a.name = "prod-db-1";
  a.host = "h";
  a.labels = {{"env", "prod"}};
  policy::Target b = a;
  b.name = "staging-1";
  b.labels = {{"env", "staging"}};
  ASSERT_TRUE(repo.add_target(a));
  ASSERT_TRUE(repo.add_target(b));
  policy::Person p;
  p.name = "alice";
  p.roles = {"ops"};
  ASSERT_TRUE(repo.add_person(p));
  auto alice = **repo.find_person("alice");
  CommandContext ctx;
  ctx.person = &alice;
  ctx.repo = &repo;
  ctx.clock = &clock;
  ctx.key_fingerprint = "SHA256:x";
  ctx.source = "1.2.3.4:5";
  ctx.gateway_host = "gw";
  auto r = run_command("targets", ctx);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("prod-db-1  logins: root,deploy  e.g. ssh root@prod-db-1@gw"), std::string::npos);
  EXPECT_EQ(r.output.find("staging-1"), std::string::npos);
  auto who = run_command("whoami", ctx);
  EXPECT_NE(who.output.find("roles:   ops"), std::string::npos);
  auto bad = run_command("targets now", ctx);
  EXPECT_EQ(bad.exit_code, 2);
  auto unknown = run_command("rm\x1b[2J", ctx);
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_EQ(unknown.output.find('\x1b'), std::string::npos);  // control chars never echoed back
  EXPECT_TRUE(run_command("exit", ctx).quit);
}

TEST(CommandMode, ConfirmKeyPassesTheCodeToTheMonitorAndReportsItsAnswer) {
  policy::Person alice;
  alice.name = "alice";
  CommandContext ctx;
  ctx.person = &alice;
  EXPECT_EQ(run_command("confirm-key K7Q2-9XHD", ctx).exit_code, 1);  // unavailable: refused, never allowed
  std::vector<std::string> seen;
  ctx.confirm_key = [&seen](const std::string& code) -> Result<std::string> {
    seen.push_back(code);
    if (code == "K7Q2-9XHD") return std::string("confirmed\n");
    return make_error("wrong confirmation code");
  };
  auto ok = run_command("confirm-key K7Q2-9XHD", ctx);
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_EQ(ok.output, "confirmed\n");
  auto wrong = run_command("confirm-key AAAA-AAAA", ctx);
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_EQ(wrong.output, "denied: wrong confirmation code\n");
  EXPECT_EQ(run_command("confirm-key", ctx).exit_code, 2);
  EXPECT_EQ(run_command("confirm-key A B", ctx).exit_code, 2);
  EXPECT_EQ(seen, (std::vector<std::string>{"K7Q2-9XHD", "AAAA-AAAA"}));
  EXPECT_NE(run_command("help", ctx).output.find("confirm-key CODE"), std::string::npos);
}

}  // namespace
}  // namespace bastion::gateway
