// bastionctl backup and restore: the restore drill an operator runs, with
// real ssh, sshd and bastiond.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "fixture.h"

namespace bastion::e2e {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> names_and_states(const nlohmann::json& people) {
  std::vector<std::string> out;
  for (const auto& p : people) out.push_back(p["name"].get<std::string>() + ":" + p["state"].get<std::string>());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> grant_ids(const nlohmann::json& grants) {
  std::vector<std::string> out;
  for (const auto& g : grants) out.push_back(g.dump());
  std::sort(out.begin(), out.end());
  return out;
}

// A deployment with people, a grant, a recorded session and audit records;
// backed up (encrypted) while a session is live; its state directory
// destroyed; restored: the audit chain verifies, people and grants are as
// they were, the old recording replays, a new login works.
TEST(Backup, RestoreDrillWhileASessionIsLive) {
  Deployment d{Deployment::Sqlite{}};
  SshKeyFiles alice = d.add_person("alice", {"ops"});
  const std::string state = fs::path(d.config()).parent_path().string();
  d.ctl_ok({"customer", "add", "acme"});
  d.ctl_ok({"target", "add", "acme-app", "--address", "127.0.0.1:" + std::to_string(d.target_port()), "--host-key",
            d.target_host_pub(), "--customer", "acme"});
  d.ctl_ok({"role", "add", "support", "--targets", "customer=*", "--logins", d.login(), "--elevated", "--max-duration",
            "4h"});
  d.add_person("bob", {"support"});
  d.ctl_ok({"elevate", "break-glass", "bob", d.login() + "@acme-app", "--for", "20m", "--reason", "INC-7 drill"});
  ASSERT_EQ(d.ssh(alice, d.login() + "@prod-db-1", {"echo recorded-before-the-backup"}).exit_code, 0);
  auto sessions = nlohmann::json::parse(d.ctl_ok({"sessions", "list", "--json", "--user", "alice"}));
  ASSERT_FALSE(sessions.empty());
  const std::string recorded = sessions[0]["id"];

  auto argv = d.ssh_argv(alice, d.login() + "@prod-db-1");
  argv.push_back("echo up; sleep 60");
  Process live(argv, d.dir() + "/live.log");
  ASSERT_TRUE(wait_for([&] { return read_text(d.dir() + "/live.log").find("up") != std::string::npos; }, 15000));

  const std::string people_before = d.ctl_ok({"user", "list", "--json"});
  const std::string grants_before = d.ctl_ok({"elevate", "list", "--json"});
  ASSERT_EQ(d.ctl({"recording", "keygen", "--out", d.dir() + "/operator"}).exit_code, 0);
  ASSERT_EQ(d.ctl({"recording", "keygen", "--out", d.dir() + "/someone-else"}).exit_code, 0);

  // Plain: a tar an operator can list; encrypted: nothing readable in it.
  const std::string plain = d.dir() + "/drill.tar", sealed = d.dir() + "/drill.backup";
  auto b1 = d.ctl({"backup", "--out", plain});
  ASSERT_EQ(b1.exit_code, 0) << b1.out << b1.err;
  EXPECT_NE(b1.out.find("NOT encrypted"), std::string::npos) << b1.out;
  EXPECT_EQ(fs::status(plain).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  auto listing = run({"tar", "tf", plain});
  ASSERT_EQ(listing.exit_code, 0) << listing.err;
  for (const char* entry :
       {"state/bastion.db", "state/user_ca_key", "state/audit_signing_key", "state/bastion.toml", "MANIFEST.json"}) {
    EXPECT_NE(listing.out.find(entry), std::string::npos) << entry << "\n" << listing.out;
  }
  EXPECT_EQ(listing.out.find("bastion.db-wal"), std::string::npos) << listing.out;
  EXPECT_NE(listing.out.find("state/recordings/"), std::string::npos) << listing.out;
  auto b2 = d.ctl({"backup", "--out", sealed, "--encrypt-to", d.dir() + "/operator.pub"});
  ASSERT_EQ(b2.exit_code, 0) << b2.out << b2.err;
  const std::string sealed_bytes = read_text(sealed);
  EXPECT_EQ(sealed_bytes.find("PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(sealed_bytes.find("ustar"), std::string::npos);
  auto again = d.ctl({"backup", "--out", sealed});
  EXPECT_EQ(again.exit_code, 2) << again.err;
  EXPECT_NE(again.err.find("refusing to overwrite"), std::string::npos) << again.err;
  auto audited = nlohmann::json::parse(d.ctl_ok({"audit", "list", "--action", "backup.create", "--json"}));
  ASSERT_EQ(audited.size(), 2u);
  EXPECT_EQ(audited[1]["details"]["encrypted"], true);

  // The auditors keep the audit public key apart from the gateway.
  const std::string trusted = d.dir() + "/trusted-audit.pub";
  fs::copy_file(state + "/audit_signing_key.pub", trusted);
  std::string other_key = read_text(trusted);
  const size_t flip =
      other_key.find_last_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", other_key.size() - 6);
  other_key[flip] = other_key[flip] == 'A' ? 'B' : 'A';
  write_text(d.dir() + "/other-audit.pub", other_key);

  // Disaster: the gateway and its state directory are gone.
  d.bastiond().stop();
  EXPECT_GE(live.wait(15000), 0);
  fs::remove_all(state);

  // Wrong or missing key, an altered byte: refused, nothing left behind.
  auto no_key = d.ctl({"restore", sealed, "--state-dir", state});
  EXPECT_EQ(no_key.exit_code, 2) << no_key.err;
  EXPECT_NE(no_key.err.find("is encrypted: pass --identity"), std::string::npos) << no_key.err;
  auto wrong_key = d.ctl({"restore", sealed, "--state-dir", state, "--identity", d.dir() + "/someone-else.key"});
  EXPECT_EQ(wrong_key.exit_code, 1);
  EXPECT_NE(wrong_key.err.find("encrypted to a different key"), std::string::npos) << wrong_key.err;
  std::string altered = sealed_bytes;
  altered[altered.size() / 2] ^= 0x20;
  write_text(d.dir() + "/altered.backup", altered, 0600);
  auto tampered =
      d.ctl({"restore", d.dir() + "/altered.backup", "--state-dir", state, "--identity", d.dir() + "/operator.key"});
  EXPECT_EQ(tampered.exit_code, 1);
  EXPECT_NE(tampered.err.find("fails authentication (altered)"), std::string::npos) << tampered.err;
  std::string cut = sealed_bytes.substr(0, sealed_bytes.size() - 100);
  write_text(d.dir() + "/cut.backup", cut, 0600);
  auto short_file =
      d.ctl({"restore", d.dir() + "/cut.backup", "--state-dir", state, "--identity", d.dir() + "/operator.key"});
  EXPECT_EQ(short_file.exit_code, 1);
  EXPECT_NE(short_file.err.find("cut off"), std::string::npos) << short_file.err;
  auto untrusted = d.ctl({"restore", sealed, "--state-dir", state, "--identity", d.dir() + "/operator.key",
                          "--audit-public-key", d.dir() + "/other-audit.pub"});
  EXPECT_EQ(untrusted.exit_code, 1) << untrusted.out;
  EXPECT_NE(untrusted.err.find("restore undone: the backup's audit public key is not the one in"), std::string::npos)
      << untrusted.err;
  EXPECT_FALSE(fs::exists(state));

  auto restored = d.ctl({"restore", sealed, "--state-dir", state, "--identity", d.dir() + "/operator.key",
                         "--audit-public-key", trusted});
  ASSERT_EQ(restored.exit_code, 0) << restored.out << restored.err;
  EXPECT_NE(restored.out.find("the backup's audit key is the one in"), std::string::npos) << restored.out;
  EXPECT_NE(restored.out.find("every file matches the backup's manifest"), std::string::npos) << restored.out;
  EXPECT_NE(restored.out.find("audit log intact"), std::string::npos) << restored.out;
  auto into_full = d.ctl({"restore", plain, "--state-dir", state});
  EXPECT_EQ(into_full.exit_code, 2);
  EXPECT_NE(into_full.err.find("is not empty"), std::string::npos) << into_full.err;

  d.restart_bastiond();
  EXPECT_EQ(names_and_states(nlohmann::json::parse(d.ctl_ok({"user", "list", "--json"}))),
            names_and_states(nlohmann::json::parse(people_before)));
  EXPECT_EQ(grant_ids(nlohmann::json::parse(d.ctl_ok({"elevate", "list", "--json"}))),
            grant_ids(nlohmann::json::parse(grants_before)));
  auto replay = d.ctl({"sessions", "replay", recorded, "--speed", "100"});
  EXPECT_EQ(replay.exit_code, 0) << replay.err;
  EXPECT_NE(replay.out.find("recorded-before-the-backup"), std::string::npos) << replay.out;
  auto login = d.ssh(alice, d.login() + "@prod-db-1", {"echo after-the-restore"});
  EXPECT_EQ(login.exit_code, 0) << login.err;
  EXPECT_NE(login.out.find("after-the-restore"), std::string::npos);
  auto verify = d.ctl({"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  auto restore_record = nlohmann::json::parse(d.ctl_ok({"audit", "list", "--action", "backup.restore", "--json"}));
  EXPECT_EQ(restore_record.size(), 1u);

  // The plain one restores elsewhere too, self-contained.
  const std::string elsewhere = d.dir() + "/elsewhere";
  auto second = d.ctl({"restore", plain, "--state-dir", elsewhere});
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  auto checked = run({BASTIOND_PATH, "--config", elsewhere + "/bastion.toml", "--check"});
  EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;
}

// A PostgreSQL deployment: its database is PostgreSQL's to back up; the
// backup holds keys and configuration and says so.
TEST(Backup, APostgresqlDeploymentsBackupLeavesTheDatabaseToPgDump) {
  Deployment d;
  if (d.database().rfind("postgresql://", 0) != 0) GTEST_SKIP() << "runs as postgres/Backup.*";
  auto r = d.ctl({"backup", "--out", d.dir() + "/keys.tar"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("back up PostgreSQL with pg_dump"), std::string::npos) << r.out;
  auto listing = run({"tar", "tf", d.dir() + "/keys.tar"});
  EXPECT_NE(listing.out.find("state/user_ca_key"), std::string::npos) << listing.out;
  EXPECT_EQ(listing.out.find("bastion.db"), std::string::npos) << listing.out;
}

}  // namespace
}  // namespace bastion::e2e
