// End-to-end: the Debian package's way of setting up a gateway. The packaged
// default configuration (contrib/bastion.toml.sample, installed as
// /etc/bastion/bastion.toml) loads; `bastionctl init` without --state-dir
// creates the state it names and keeps the file as it is; bastionctl started
// as root acts as the owner of the state directory, so what it creates stays
// the service's.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <regex>

#include "harness.h"
#include "tests/support/test_database.h"

namespace bastion::e2e {
namespace {

class PackagedConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test_support::under_postgres()) GTEST_SKIP() << "the packaged default is SQLite; runs as PackagedConfig.*";
    char tmpl[] = "/tmp/bastion-packaged-config-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    state_ = dir_ + "/state";
    config_ = dir_ + "/bastion.toml";
    // The sample as the package installs it, with the state directory, the
    // listen port and the public URL an operator would set.
    std::string text = read_text(std::string(BASTION_SOURCE_DIR) + "/contrib/bastion.toml.sample");
    ASSERT_FALSE(text.empty());
    text = replace_once(text, "dir = \"/var/lib/bastion\"", "dir = \"" + state_ + "\"");
    text = replace_once(text, "listen = \"0.0.0.0:22\"", "listen = \"127.0.0.1:" + std::to_string(free_port()) + "\"");
    text = replace_once(text, "# public_url = \"https://gw.example.com:8443\"",
                        "public_url = \"https://gw.example.com:8443\"");
    write_text(config_, text);
  }
  void TearDown() override {
    if (dir_.empty()) return;
    if (std::getenv("BASTION_E2E_KEEP") == nullptr) std::filesystem::remove_all(dir_);
  }
  static std::string replace_once(const std::string& text, const std::string& from, const std::string& to) {
    auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << "the sample no longer has: " << from;
    if (at == std::string::npos) return text;
    return text.substr(0, at) + to + text.substr(at + from.size());
  }
  ProcResult ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {BASTIONCTL_PATH, "--config", config_});
    return run(args, {{"BASTION_CONFIG", ""}});
  }

  std::string dir_, state_, config_;
};

TEST_F(PackagedConfig, InitCreatesWhatTheConfigurationNamesAndKeepsIt) {
  const std::string before = sha256_file(config_);
  auto init = ctl({"init"});
  ASSERT_EQ(init.exit_code, 0) << init.out << init.err;
  EXPECT_NE(init.out.find("(kept as it is)"), std::string::npos) << init.out;
  EXPECT_EQ(sha256_file(config_), before) << "init rewrote the configuration";
  for (const char* f :
       {"ssh_host_ed25519_key", "user_ca_key", "audit_signing_key", "web_cert.pem", "web_key.pem", "bastion.db"}) {
    EXPECT_TRUE(std::filesystem::exists(state_ + "/" + f)) << f;
  }
  struct stat st {};
  ASSERT_EQ(stat((state_ + "/user_ca_key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(state_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  // The web certificate is for the public URL's host.
  auto subject = run({"openssl", "x509", "-noout", "-subject", "-in", state_ + "/web_cert.pem"});
  EXPECT_NE(subject.out.find("gw.example.com"), std::string::npos) << subject.out;

  auto checked = run({BASTIOND_PATH, "--config", config_, "--check"});
  EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;
  auto listed = ctl({"user", "list"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;

  // Once is enough: a second init changes nothing.
  auto again = ctl({"init"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("refusing to overwrite existing"), std::string::npos) << again.err;
  EXPECT_EQ(sha256_file(config_), before);
}

TEST_F(PackagedConfig, InitRefusesOptionsThatBelongToANewDirectory) {
  auto listen = ctl({"init", "--listen", "0.0.0.0:22"});
  EXPECT_EQ(listen.exit_code, 2);
  EXPECT_NE(listen.err.find("go with --state-dir"), std::string::npos) << listen.err;
  auto both = ctl({"init", "--state-dir", dir_ + "/other"});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_NE(both.err.find("--config and --state-dir"), std::string::npos) << both.err;
  auto none = run({BASTIONCTL_PATH, "init"}, {{"BASTION_CONFIG", ""}});
  if (!std::filesystem::exists("/etc/bastion/bastion.toml")) {
    EXPECT_EQ(none.exit_code, 2);
    EXPECT_NE(none.err.find("init needs --state-dir DIR"), std::string::npos) << none.err;
  }
  EXPECT_FALSE(std::filesystem::exists(state_)) << "a refused init created the state directory";
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/other"));
}

// The package's state directory belongs to the bastion user; an operator runs
// `sudo bastionctl ...`. Files bastionctl creates (the database's WAL, say)
// must not become root's, or the service could no longer open them.
TEST_F(PackagedConfig, RootActsAsTheOwnerOfTheStateDirectory) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (CI runs as root)";
  const passwd* nobody = getpwnam("nobody");
  if (nobody == nullptr) GTEST_SKIP() << "no user nobody";
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  ASSERT_EQ(ctl({"init"}).exit_code, 0);
  for (const auto& e : std::filesystem::recursive_directory_iterator(state_)) {
    ASSERT_EQ(lchown(e.path().c_str(), nobody->pw_uid, nobody->pw_gid), 0) << e.path();
  }
  ASSERT_EQ(chown(state_.c_str(), nobody->pw_uid, nobody->pw_gid), 0);

  auto added = ctl({"customer", "add", "acme"});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  for (const auto& e : std::filesystem::recursive_directory_iterator(state_)) {
    struct stat st {};
    ASSERT_EQ(lstat(e.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, nobody->pw_uid) << e.path() << " is not the state directory owner's";
  }
  // The audit log names who ran the command, not the user it acted as.
  auto audit = ctl({"audit", "list", "--action", "customer.add", "--json"});
  ASSERT_EQ(audit.exit_code, 0) << audit.err;
  EXPECT_NE(audit.out.find("\"admin:root\""), std::string::npos) << audit.out;
  EXPECT_EQ(audit.out.find("admin:nobody"), std::string::npos) << audit.out;

  // A state directory its owner cannot enter: a clear refusal, nothing changed.
  ASSERT_EQ(chmod(state_.c_str(), 0000), 0);
  auto refused = ctl({"customer", "add", "globex"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_FALSE(refused.err.empty());
  ASSERT_EQ(chmod(state_.c_str(), 0700), 0);
}

}  // namespace
}  // namespace bastion::e2e
