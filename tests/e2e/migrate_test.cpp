// bastionctl migrate: a single-node SQLite deployment moves to PostgreSQL
// (runs as postgres/Migrate.*, which has a server to move to; the plain run
// has none and skips).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fixture.h"
#include "tests/support/test_database.h"

namespace bastion::e2e {
namespace {

TEST(Migrate, ASqliteDeploymentMovesToPostgresqlWithItsHistoryAndKeepsWorking) {
  if (!test_support::under_postgres()) GTEST_SKIP() << "needs the PostgreSQL server of the postgres/ tests";
  Deployment d{Deployment::Sqlite{}};
  SshKeyFiles alice = d.add_person("alice", {"ops"});
  std::string dest = d.login() + "@prod-db-1";
  auto first = d.ssh(alice, dest, {"echo before-the-move"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  std::string url = test_support::fresh_postgres_database();

  // Not while the gateway writes to the file.
  auto running = d.ctl({"migrate", "--to", url});
  EXPECT_EQ(running.exit_code, 1);
  EXPECT_NE(running.err.find("bastiond is running"), std::string::npos) << running.err;
  auto bad = d.ctl({"migrate", "--to", "/tmp/other.db"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--to: expected a postgresql:// URL"), std::string::npos) << bad.err;

  d.bastiond().stop();
  auto moved = d.ctl({"migrate", "--to", url});
  ASSERT_EQ(moved.exit_code, 0) << moved.out << moved.err;
  EXPECT_NE(moved.out.find("verified: "), std::string::npos) << moved.out;
  EXPECT_NE(moved.out.find("the same row counts and content digests on both sides"), std::string::npos) << moved.out;
  EXPECT_NE(moved.out.find("audit log on the target intact"), std::string::npos) << moved.out;
  // The URL's password is never shown.
  std::string password = url.substr(url.find(':', 13) + 1, url.find('@') - url.find(':', 13) - 1);
  ASSERT_GE(password.size(), 8u) << url;
  EXPECT_EQ(moved.out.find(password), std::string::npos) << moved.out;
  // Once only: the target now holds a deployment.
  auto again = d.ctl({"migrate", "--to", url});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("already holds a bastion deployment"), std::string::npos) << again.err;

  // The gateway on PostgreSQL: the same people, sessions and audit chain.
  std::string cfg = read_text(d.config());
  std::string line = "database = \"bastion.db\"";
  ASSERT_NE(cfg.find(line), std::string::npos) << cfg;
  d.edit_config(line, "database = \"" + url + "\"");
  auto second = d.ssh(alice, dest, {"echo after-the-move"});
  ASSERT_EQ(second.exit_code, 0) << second.err << d.gateway_log();
  EXPECT_NE(second.out.find("after-the-move"), std::string::npos);
  auto sessions = nlohmann::json::parse(d.ctl_ok({"sessions", "list", "--json", "--user", "alice"}));
  EXPECT_EQ(sessions.size(), 2u) << sessions.dump();
  auto verify = d.ctl({"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  auto migrated = nlohmann::json::parse(d.ctl_ok({"audit", "list", "--json", "--action", "database.migrate"}));
  EXPECT_EQ(migrated.size(), 1u) << migrated.dump();
}

}  // namespace
}  // namespace bastion::e2e
