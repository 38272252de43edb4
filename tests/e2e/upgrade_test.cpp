// End-to-end: a state directory made by the previous release (kept as a
// fixture: tests/e2e/fixtures/schema-9, made by make-upgrade-fixture.sh) is
// upgraded in place. `bastiond --check` says what the start will migrate,
// bastiond migrates it, its people, roles and targets are as they were, the
// audit log (signed by the old release) verifies with its kept public key
// across the upgrade, and a login works.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "fixture.h"

namespace bastion::e2e {
namespace {

const std::string kFixture = std::string(BASTION_SOURCE_DIR) + "/tests/e2e/fixtures/schema-9";

TEST(Upgrade, AStateDirectoryOfThePreviousReleaseMigratesKeepsItsDataAndServes) {
  if (std::getenv("BASTION_TEST_POSTGRES") != nullptr) GTEST_SKIP() << "the fixture is an SQLite deployment";
  Deployment d{Deployment::Sqlite{}};
  const std::string state = d.dir() + "/state";
  d.bastiond().stop();

  // The fixture replaces the state directory's configuration, keys and
  // database (git keeps no file modes: the keys get theirs back).
  for (const char* f : {"bastion.db-wal", "bastion.db-shm"}) std::filesystem::remove(state + "/" + f);
  for (const auto& e : std::filesystem::directory_iterator(kFixture)) {
    std::filesystem::copy_file(e.path(), state + "/" + e.path().filename().string(),
                               std::filesystem::copy_options::overwrite_existing);
  }
  for (const char* secret :
       {"audit_signing_key", "user_ca_key", "ssh_host_ed25519_key", "web_key.pem", "bastion.toml"}) {
    ASSERT_EQ(::chmod((state + "/" + secret).c_str(), 0600), 0) << secret;
  }
  const std::string kept_audit_key = d.dir() + "/fixture-audit.pub";
  std::filesystem::copy_file(state + "/audit_signing_key.pub", kept_audit_key);
  // The old configuration, on this test's port.
  std::string text = read_text(d.config());
  auto at = text.find("listen = \"127.0.0.1:2222\"");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 25, "listen = \"127.0.0.1:" + std::to_string(d.gateway_port()) + "\"");
  write_text(d.config(), text, 0600);

  auto check = run({BASTIOND_PATH, "--check", "--config", d.config()});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_NE(check.out.find("schema version 9 of "), std::string::npos) << check.out;
  EXPECT_NE(check.out.find("bastiond applies"), std::string::npos) << check.out;

  // Clients know the fixture's gateway host key.
  write_text(d.dir() + "/known_hosts",
             "[127.0.0.1]:" + std::to_string(d.gateway_port()) + " " + read_text(state + "/ssh_host_ed25519_key.pub"));
  // The fixture's target, moved to this test's sshd, which trusts the fixture's user CA.
  write_text(d.dir() + "/ca.pub", d.ctl_ok({"ca", "show"}));
  d.sql_exec("UPDATE targets SET port = " + std::to_string(d.target_port()) + " WHERE name = 'prod-db-1'");
  d.ctl_ok({"target", "rekey", "prod-db-1", "--host-key", d.target_host_pub()});
  // Trust for this test's software security key (the fixture has Yubico's only).
  d.ctl_ok({"fido", "roots", "add", d.dir() + "/att_ca.pem"});
  d.ctl_ok({"fido", "aaguids", "add", Deployment::kSoftkeyAaguid, "--name", "bastion softkey (tests)"});

  d.restart_bastiond();
  auto after = run({BASTIOND_PATH, "--check", "--config", d.config()});
  EXPECT_EQ(after.exit_code, 0) << after.out << after.err;
  EXPECT_NE(after.out.find("(current)"), std::string::npos) << after.out;

  auto people = nlohmann::json::parse(d.ctl_ok({"user", "list", "--json"}));
  std::map<std::string, std::string> state_of;
  for (const auto& p : people) state_of[p["name"].get<std::string>()] = p["state"].get<std::string>();
  EXPECT_EQ(state_of["alice"], "pending");  // no key enrolled yet
  EXPECT_EQ(state_of["bob"], "disabled");
  EXPECT_TRUE(state_of.count("carol"));
  auto targets = d.ctl_ok({"target", "list"});
  EXPECT_NE(targets.find("acme-db"), std::string::npos) << targets;

  // A person added after the upgrade logs in to the fixture's target.
  d.ctl_ok({"role", "add", "after-upgrade", "--targets", "env=prod", "--logins", d.login(), "--step-up", "none"});
  auto dave = d.add_person("dave", {"after-upgrade"});
  auto r = d.ssh(dave, d.login() + "@prod-db-1", {"echo", "upgraded"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("upgraded"), std::string::npos);

  // The old release's records and checkpoint, and the new ones, in one chain.
  d.ctl_ok({"audit", "checkpoint"});
  auto verified = d.ctl({"audit", "verify", "--public-key", kept_audit_key});
  EXPECT_EQ(verified.exit_code, 0) << verified.err;
  EXPECT_NE(verified.out.find("audit log intact"), std::string::npos) << verified.out;
  EXPECT_EQ(d.sql_int64("SELECT COUNT(*) FROM audit_log WHERE seq <= 9"), 9);  // the fixture's records
}

}  // namespace
}  // namespace bastion::e2e
