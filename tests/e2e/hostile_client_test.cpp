// User names OpenSSH's client will not even send (it refuses control
// characters), sent with libssh as a hostile client: bastiond must refuse
// them itself, say why, and stay up.
#include <gtest/gtest.h>
#include <libssh/libssh.h>

#include <sstream>

#include "fixture.h"

namespace bastion::e2e {
namespace {

struct Outcome {
  int auth = SSH_AUTH_ERROR;
  std::string banner;
};

Outcome try_login(int port, const std::string& user, const std::string& key_path) {
  Outcome out;
  ssh_session s = ssh_new();
  int p = port;
  long timeout = 10;
  ssh_options_set(s, SSH_OPTIONS_HOST, "127.0.0.1");
  ssh_options_set(s, SSH_OPTIONS_PORT, &p);
  ssh_options_set(s, SSH_OPTIONS_USER, user.c_str());
  ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout);
  int no = 0;
  ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no);
  ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null");
  if (ssh_connect(s) == SSH_OK) {
    ssh_key key = nullptr;
    if (ssh_pki_import_privkey_file(key_path.c_str(), nullptr, nullptr, nullptr, &key) == SSH_OK) {
      out.auth = ssh_userauth_publickey(s, nullptr, key);
      ssh_key_free(key);
    }
    if (char* b = ssh_get_issue_banner(s)) {
      out.banner = b;
      ssh_string_free_char(b);
    }
    ssh_disconnect(s);
  }
  ssh_free(s);
  return out;
}

TEST(HostileClient, RefusesUserNamesOutsideTheGrammar) {
  Deployment d;
  SshKeyFiles key = d.make_plain_key("svc");
  d.ctl_ok({"user", "add", "svc", "--role", "ops", "--service-account"});
  d.ctl_ok({"key", "add", "svc", key.pub});
  Outcome ok = try_login(d.gateway_port(), d.login() + "@prod-db-1", key.priv);
  ASSERT_EQ(ok.auth, SSH_AUTH_SUCCESS) << "the libssh client itself must work";
  struct Case {
    std::string user, reason;
  };
  for (const Case& c : std::vector<Case>{{"ro\x01ot@prod-db-1", "user name contains control characters"},
                                         {"root@prod\x1b[2J", "user name contains control characters"},
                                         {"root@prod-db-1\n", "user name contains control characters"},
                                         {"a@@b", "expected LOGIN@TARGET"},
                                         {"root@../etc", "invalid target name"}}) {
    Outcome o = try_login(d.gateway_port(), c.user, key.priv);
    EXPECT_EQ(o.auth, SSH_AUTH_DENIED) << c.reason;
    EXPECT_NE(o.banner.find("bastion: denied: "), std::string::npos) << o.banner;
    EXPECT_NE(o.banner.find(c.reason), std::string::npos) << o.banner;
    EXPECT_EQ(o.banner.find('\x1b'), std::string::npos) << "control characters must never be echoed";
  }
  EXPECT_TRUE(d.bastiond().running());
}

// ssh-audit (Debian's package) against bastiond: nothing to fail or warn
// about in key exchange, host keys, ciphers and MACs; no compression; no
// library version in the banner.
TEST(SshAudit, NoFailuresOrWarningsOnKexHostKeysCiphersAndMacs) {
  Deployment d;
  auto r = run({"ssh-audit", "--no-colors", "-t", "30", "-p", std::to_string(d.gateway_port()), "127.0.0.1"});
  ASSERT_NE(r.out.find("(gen) banner: SSH-2.0-bastion"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("(gen) compression: disabled"), std::string::npos) << r.out;
  int algorithms = 0;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    bool algo = line.rfind("(kex)", 0) == 0 || line.rfind("(key)", 0) == 0 || line.rfind("(enc)", 0) == 0 ||
                line.rfind("(mac)", 0) == 0;
    if (!algo) continue;
    ++algorithms;
    EXPECT_EQ(line.find("[fail]"), std::string::npos) << line;
    // Known exception: ssh-audit 2.5 (Debian 12) predates the Terrapin
    // countermeasure, which announces itself as a pseudo key exchange.
    if (line.find("kex-strict-s-v00@openssh.com") != std::string::npos) continue;
    EXPECT_EQ(line.find("[warn]"), std::string::npos) << line;
  }
  EXPECT_GE(algorithms, 6);
  EXPECT_EQ(r.out.find("(cve)"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace bastion::e2e
