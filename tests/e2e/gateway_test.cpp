// End-to-end: real ssh/scp/sftp -> bastiond -> real sshd.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "fixture.h"

namespace bastion::e2e {
namespace {

class Gateway : public DeploymentTest<Gateway> {
 protected:
  static nlohmann::json audit(const std::string& action) {
    return nlohmann::json::parse(d->ctl_ok({"audit", "list", "--json", "--action", action, "--limit", "100000"}));
  }
  // Whether such a record appears within 5 s: the monitor writes what a
  // connection reports a moment after the client may have seen the event.
  static bool audited(const std::string& action, const std::string& reason_part) {
    return wait_for(
        [&] {
          for (const auto& r : audit(action)) {
            if (r["reason"].get<std::string>().find(reason_part) != std::string::npos) return true;
          }
          return false;
        },
        5000);
  }
};

TEST_F(Gateway, ExecReturnsOutputAndExitStatus) {
  auto r = d->ssh(*alice, dest(), {"echo hello; echo oops >&2; exit 7"});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_EQ(r.out, "hello\n");
  EXPECT_NE(r.err.find("oops"), std::string::npos);
  auto ok = d->ssh(*alice, dest(), {"true"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

TEST_F(Gateway, TargetSeesGatewayCertificateNamingPersonAndSession) {
  auto r = d->ssh(*alice, dest(), {"echo $SSH_CONNECTION"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string log = read_text(d->dir() + "/sshd_target.log");
  EXPECT_NE(log.find("bastion person=alice session=s-"), std::string::npos) << log;
}

TEST_F(Gateway, BinaryStdinStdoutRoundTrip50MB) {
  std::string in = d->dir() + "/blob.in", out = d->dir() + "/blob.out";
  ASSERT_EQ(run({"sh", "-c", "head -c 52428800 /dev/urandom > " + in}).exit_code, 0);
  auto argv = d->ssh_argv(*alice, dest());
  std::string cmd;
  for (const auto& a : argv) cmd += "'" + a + "' ";
  auto r = run({"sh", "-c", cmd + "cat < " + in + " > " + out}, {}, "", 180000);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(sha256_file(in), sha256_file(out));
  auto sessions = nlohmann::json::parse(d->ctl_ok({"sessions", "list", "--json"}));
  bool counted = false;
  for (const auto& s : sessions) {
    if (s["bytes_in"].get<int64_t>() == 52428800 && s["bytes_out"].get<int64_t>() == 52428800) counted = true;
  }
  EXPECT_TRUE(counted) << sessions.dump();
}

TEST_F(Gateway, InteractivePtyAndWindowChange) {
  PtySession term(d->ssh_argv(*alice, dest(), {"-tt"}), 24, 80);
  term.type("echo calc=$((6*7)); stty size\n");
  EXPECT_TRUE(term.read_until("calc=42")) << term.screen();
  EXPECT_TRUE(term.read_until("24 80")) << term.screen();
  term.resize(40, 100);
  // The window-change travels asynchronously; ask until the target agrees.
  bool resized = wait_for(
      [&] {
        term.type("stty size\n");
        return term.read_until("40 100", 1000);
      },
      20000);
  EXPECT_TRUE(resized) << term.screen();
  term.type("exit 3\n");
  EXPECT_EQ(term.wait_exit(), 3);
}

TEST_F(Gateway, InteractiveCommandMode) {
  PtySession term(d->ssh_argv(*alice, "alice", {"-tt"}), 24, 80);
  EXPECT_TRUE(term.read_until("bastion> ")) << term.screen();
  term.type("whoamx\x7f\x7fmi\r");  // typo fixed with backspace
  EXPECT_TRUE(term.read_until("person:  alice")) << term.screen();
  term.type("targets\r");
  EXPECT_TRUE(term.read_until("prod-db-1  logins:")) << term.screen();
  term.type("exit\r");
  EXPECT_EQ(term.wait_exit(), 0) << term.screen();
}

TEST_F(Gateway, ScpUpAndDown) {
  std::string src = d->dir() + "/scp.src", back = d->dir() + "/scp.back";
  ASSERT_EQ(run({"sh", "-c", "head -c 3000000 /dev/urandom > " + src}).exit_code, 0);
  std::vector<std::string> base = {"scp", "-P", std::to_string(d->gateway_port())};
  auto opts = d->client_options(*alice);
  base.insert(base.end(), opts.begin(), opts.end());
  auto up = base;
  up.push_back(src);
  up.push_back(dest() + "@127.0.0.1:" + d->dir() + "/scp.remote");
  auto r = run(up);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto down = base;
  down.push_back(dest() + "@127.0.0.1:" + d->dir() + "/scp.remote");
  down.push_back(back);
  r = run(down);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(sha256_file(src), sha256_file(back));
  int uploads = 0;
  for (const auto& c : audit("file.close")) {
    if (c["details"]["path"] == d->dir() + "/scp.remote" && c["details"]["bytes_written"] == 3000000) ++uploads;
  }
  EXPECT_EQ(uploads, 1) << "scp (SFTP protocol) upload is audited with its size";
}

TEST_F(Gateway, SftpPutAndGet) {
  std::string src = d->dir() + "/sftp.src", back = d->dir() + "/sftp.back";
  write_text(src, std::string(100000, 'x') + "end\n");
  std::string remote = d->dir() + "/sftp.remote";
  write_text(d->dir() + "/sftp.batch", "put " + src + " " + remote + "\nget " + remote + " " + back + "\nrename " +
                                           remote + " " + remote + ".2\nrm " + remote + ".2\n");
  std::vector<std::string> argv = {"sftp", "-P", std::to_string(d->gateway_port()), "-b", d->dir() + "/sftp.batch"};
  auto opts = d->client_options(*alice);
  argv.insert(argv.end(), opts.begin(), opts.end());
  argv.push_back(dest() + "@127.0.0.1");
  auto r = run(argv);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_text(src), read_text(back));
  // One audit record per file operation, with the bytes moved (the last one,
  // the remove, may reach the audit log a moment after sftp has exited).
  EXPECT_TRUE(wait_for([&] { return !audit("file.remove").empty(); }, 5000));
  auto closes = audit("file.close");
  bool up = false, down = false;
  for (const auto& c : closes) {
    if (c["details"]["path"] != remote) continue;
    if (c["details"]["direction"] == "upload" && c["details"]["bytes_written"] == 100004) up = true;
    if (c["details"]["direction"] == "download" && c["details"]["bytes_read"] == 100004) down = true;
  }
  EXPECT_TRUE(up) << closes.dump();
  EXPECT_TRUE(down) << closes.dump();
  EXPECT_TRUE(audited("file.rename", ""));
  auto removes = audit("file.remove");
  ASSERT_FALSE(removes.empty());
  EXPECT_EQ(removes.back()["details"]["path"], remote + ".2");
  EXPECT_EQ(removes.back()["outcome"], "allow");
}

// Raw SFTP packets, as an attacker sends them (not through an sftp client).
class SftpPackets {
 public:
  SftpPackets& packet(uint8_t type, const std::string& body) {
    u32(out_, static_cast<uint32_t>(body.size() + 1));
    out_ += static_cast<char>(type);
    out_ += body;
    return *this;
  }
  static std::string u32(uint32_t v) {
    std::string s;
    u32(s, v);
    return s;
  }
  static std::string str(const std::string& v) { return u32(static_cast<uint32_t>(v.size())) + v; }
  [[nodiscard]] const std::string& bytes() const { return out_; }

 private:
  static void u32(std::string& s, uint32_t v) {
    for (int i = 3; i >= 0; --i) s += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  std::string out_;
};

// Runs argv with `packets` on its stdin, which stays open until `replies`
// SFTP packets have come back on stdout (or stdout closes, or 20 s pass).
ProcResult sftp_exchange(const std::vector<std::string>& argv, const std::string& packets, int replies,
                         const std::string& err_path) {
  int in[2], out[2];
  if (pipe(in) != 0 || pipe(out) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(err, 2);
    for (int fd = 3; fd < 1024; ++fd) close(fd);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  ProcResult r;
  if (write(in[1], packets.data(), packets.size()) != static_cast<ssize_t>(packets.size())) r.err = "short write; ";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  auto complete = [&] {
    int n = 0;
    for (size_t at = 0; at + 4 <= r.out.size(); ++n) {
      uint32_t len = (uint32_t(uint8_t(r.out[at])) << 24) | (uint32_t(uint8_t(r.out[at + 1])) << 16) |
                     (uint32_t(uint8_t(r.out[at + 2])) << 8) | uint32_t(uint8_t(r.out[at + 3]));
      if (at + 4 + len > r.out.size()) break;
      at += 4 + len;
    }
    return n;
  };
  while (complete() < replies && std::chrono::steady_clock::now() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    char buf[4096];
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    r.out.append(buf, static_cast<size_t>(n));
  }
  close(in[1]);
  for (char buf[4096]; read(out[0], buf, sizeof buf) > 0;) {
  }
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err += read_text(err_path);
  return r;
}

// Issue 13's three evasions, sent as raw packets over `ssh -s ... sftp`
// through the gateway to the target's sftp server.
TEST_F(Gateway, RawSftpPacketsCannotEvadeTheFileAudit) {
  using P = SftpPackets;
  constexpr uint8_t kInit = 1, kOpen = 3, kRead = 5, kExtended = 200;
  // sftp-server exits at EOF even with requests still queued, so stdin stays
  // open until `replies` answers are back (or the gateway ends the channel).
  auto send = [&](const std::string& packets, int replies) {
    auto argv = d->ssh_argv(*alice, dest(), {"-s"});
    argv.push_back("sftp");
    return sftp_exchange(argv, packets, replies, d->dir() + "/raw-sftp.err");
  };
  auto records_for = [&](const std::string& action, const std::string& path) {
    nlohmann::json found = nlohmann::json::array();
    for (const auto& r : audit(action)) {
      if (r["details"]["path"] == path) found.push_back(r);
    }
    return found;
  };

  // 1. OPEN with READ|CREAT|TRUNC empties the file: audited as a write, with the flags.
  std::string victim = d->dir() + "/raw-sftp-truncated";
  write_text(victim, "precious\n");
  P trunc;
  trunc.packet(kInit, P::u32(3)).packet(kOpen, P::u32(1) + P::str(victim) + P::u32(0x01 | 0x08 | 0x10) + P::u32(0));
  auto tr = send(trunc.bytes(), 2);
  EXPECT_EQ(tr.exit_code, 0) << tr.err;
  EXPECT_EQ(std::filesystem::file_size(victim), 0u);
  ASSERT_TRUE(wait_for([&] { return !records_for("file.open", victim).empty(); }, 5000));
  auto open = records_for("file.open", victim)[0];
  EXPECT_EQ(open["details"]["mode"], "read+write") << open.dump();
  EXPECT_EQ(open["details"]["flags"], "READ|CREAT|TRUNC") << open.dump();

  // 2. lsetstat@openssh.com (chmod 4755): audited with its arguments.
  std::string chmodded = d->dir() + "/raw-sftp-chmod";
  write_text(chmodded, "x\n");
  P chmod;
  chmod.packet(kInit, P::u32(3))
      .packet(kExtended, P::u32(2) + P::str("lsetstat@openssh.com") + P::str(chmodded) + P::u32(0x04) + P::u32(04755));
  (void)send(chmod.bytes(), 2);
  ASSERT_TRUE(wait_for([&] { return !records_for("file.lsetstat", chmodded).empty(); }, 5000));
  auto set = records_for("file.lsetstat", chmodded)[0];
  EXPECT_NE(set["details"]["detail"].get<std::string>().find("mode=04755"), std::string::npos) << set.dump();
  EXPECT_EQ(set["details"]["extension"], "lsetstat@openssh.com");

  // 3. A request id reused while outstanding (OPEN id=7, then READ id=7 on a
  //    bogus handle before the reply): the channel ends, audited, and the
  //    READ never reaches the target.
  std::string secret = d->dir() + "/raw-sftp-secret";
  write_text(secret, "secret\n");
  P reuse;
  reuse.packet(kInit, P::u32(3))
      .packet(kOpen, P::u32(7) + P::str(secret) + P::u32(0x01) + P::u32(0))
      .packet(kRead, P::u32(7) + P::str("bogus") + P::u32(0) + P::u32(0) + P::u32(4096));
  auto r = send(reuse.bytes(), 3);
  EXPECT_NE(r.err.find("bastion: file transfer ended"), std::string::npos) << r.err;
  EXPECT_TRUE(audited("channel.subsystem", "request id 7"));
  // The open is on record although its reply never reached the client.
  EXPECT_TRUE(wait_for([&] { return !records_for("file.open", secret).empty(); }, 5000));
}

TEST_F(Gateway, CommandMode) {
  auto who = d->ssh(*alice, "alice", {"whoami"});
  EXPECT_EQ(who.exit_code, 0) << who.err;
  EXPECT_NE(who.out.find("person:  alice"), std::string::npos) << who.out;
  auto targets = d->ssh(*alice, "alice", {"targets"});
  EXPECT_EQ(targets.exit_code, 0);
  EXPECT_NE(targets.out.find("prod-db-1  logins: " + d->login()), std::string::npos) << targets.out;
  auto bad = d->ssh(*alice, "alice", {"rm -rf /"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("unknown command 'rm'"), std::string::npos);
  auto help = d->ssh(*alice, "alice", {"help"});
  EXPECT_NE(help.out.find("targets"), std::string::npos);
}

// Connects, sends `bytes`, and hangs up without reading.
void send_and_close(int port, const std::string& bytes) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && !bytes.empty()) {
    ssize_t ignored = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    (void)ignored;
  }
  close(fd);
}

struct DenyCase {
  std::string user_spec;
  std::string message;
};

TEST_F(Gateway, DeniesWithReasonToUserAndAudit) {
  d->ctl_ok({"role", "add", "web", "--targets", "web-*", "--logins", "deploy", "--step-up", "none"});
  SshKeyFiles bob = d->add_person("bob", {"web"});
  std::vector<std::pair<SshKeyFiles*, DenyCase>> cases = {
      {alice, {"root@nosuch", "denied: unknown target nosuch"}},
      {alice, {"nobody@prod-db-1", "denied: no role allows login nobody on prod-db-1"}},
      {&bob, {"deploy@prod-db-1", "denied: no role grants bob access to prod-db-1"}},
      {&bob, {"alice", "denied: this key belongs to bob, not alice"}},
      {alice, {"a@@b", "denied: invalid user name 'a@@b': expected LOGIN@TARGET"}},
      {alice, {"@", "denied: invalid user name '@': expected LOGIN@TARGET"}},
      {alice, {std::string(300, 'a'), "denied: user name longer than 256 bytes"}},
  };
  for (auto& [key, c] : cases) {
    auto r = d->ssh(*key, c.user_spec, {"true"});
    EXPECT_EQ(r.exit_code, 255) << c.user_spec;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.user_spec << ": " << r.err;
  }
  EXPECT_TRUE(audited("access", "no role allows login nobody on prod-db-1"));
  EXPECT_TRUE(audited("auth", "this key belongs to bob, not alice"));
}

TEST_F(Gateway, DisabledPersonRevokedKeyUnknownKeyAndPlainKey) {
  SshKeyFiles carol = d->add_person("carol", {"ops"});
  ASSERT_EQ(d->ssh(carol, dest(), {"true"}).exit_code, 0);
  // An unsigned probe proves nothing: a disabled person's key, a revoked key
  // and an unknown key get the same answer; the reason is in the audit log.
  d->ctl_ok({"user", "disable", "carol"});
  auto r = d->ssh(carol, dest(), {"true"});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("Permission denied (publickey)"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("disabled"), std::string::npos) << r.err;
  EXPECT_TRUE(audited("auth", "account carol is disabled"));
  d->ctl_ok({"user", "enable", "carol"});
  ASSERT_EQ(d->ssh(carol, dest(), {"true"}).exit_code, 0);

  auto keys = nlohmann::json::parse(d->ctl_ok({"key", "list", "--user", "carol", "--json"}));
  ASSERT_EQ(keys.size(), 1u);
  d->ctl_ok({"key", "revoke", keys[0]["fingerprint"].get<std::string>()});
  r = d->ssh(carol, dest(), {"true"});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("Permission denied (publickey)"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("revoked"), std::string::npos) << r.err;
  EXPECT_TRUE(audited("auth", "has been revoked"));

  SshKeyFiles stranger = d->make_sk_key("stranger");
  r = d->ssh(stranger, dest(), {"true"});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
  EXPECT_TRUE(audited("auth", "key is not enrolled"));

  SshKeyFiles plain = d->make_plain_key("dave-plain");
  d->ctl_ok({"user", "add", "dave", "--role", "ops"});
  auto add = d->ctl({"key", "add", "dave", plain.pub});
  EXPECT_EQ(add.exit_code, 1);
  EXPECT_NE(add.err.find("people must use a FIDO2 security key"), std::string::npos) << add.err;
}

TEST_F(Gateway, ServiceAccountMayUsePlainKey) {
  SshKeyFiles k = d->make_plain_key("ci-bot");
  d->ctl_ok({"user", "add", "ci-bot", "--role", "ops", "--service-account"});
  d->ctl_ok({"key", "add", "ci-bot", k.pub});
  auto r = d->ssh(k, dest(), {"echo", "svc"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "svc\n");
}

TEST_F(Gateway, EcdsaSecurityKeyWorks) {
  d->ctl_ok({"user", "add", "erin", "--role", "ops"});
  SshKeyFiles k = d->enroll_sk_key("erin", "ecdsa-sk");
  auto r = d->ssh(k, dest(), {"echo", "ecdsa"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(Gateway, HostKeyMismatchRefuses) {
  ASSERT_EQ(run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", d->dir() + "/impostor"}).exit_code, 0);
  d->ctl_ok({"target", "add", "prod-db-2", "--address", "127.0.0.1:" + std::to_string(d->target_port()), "--host-key",
             d->dir() + "/impostor.pub", "--label", "env=prod"});
  auto r = d->ssh(*alice, d->login() + "@prod-db-2", {"true"});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("host key of prod-db-2 does not match the pinned key"), std::string::npos) << r.err;
  EXPECT_TRUE(audited("upstream.connect", "does not match the pinned key"));
}

// contrib/sshd/README.md, run against a real sshd: with --principals
// login@target the certificate names LOGIN@TARGET, and a target whose
// AuthorizedPrincipalsFile lists only its own name refuses certificates made
// for any other target, even one at the same address trusting the same CA.
TEST_F(Gateway, PerTargetPrincipalOpensOnlyThatTarget) {
  std::string principals = d->dir() + "/principals";
  std::filesystem::create_directories(principals);
  write_text(principals + "/" + d->login(), d->login() + "@pt-a\n");
  int port = d->start_extra_sshd("principals", "AuthorizedPrincipalsFile " + principals + "/%u\n");
  std::string address = "127.0.0.1:" + std::to_string(port);
  for (std::string name : {"pt-a", "pt-b"}) {
    d->ctl_ok({"target", "add", name, "--address", address, "--host-key", d->target_host_pub(), "--label", "env=prod",
               "--principals", "login@target"});
  }
  d->ctl_ok(
      {"target", "add", "pt-plain", "--address", address, "--host-key", d->target_host_pub(), "--label", "env=prod"});
  auto a = d->ssh(*alice, d->login() + "@pt-a", {"echo in"});
  EXPECT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, "in\n");
  auto b = d->ssh(*alice, d->login() + "@pt-b", {"true"});
  EXPECT_EQ(b.exit_code, 255);
  EXPECT_NE(b.err.find("Does its AuthorizedPrincipalsFile for " + d->login() + " list " + d->login() + "@pt-b?"),
            std::string::npos)
      << b.err;
  auto plain = d->ssh(*alice, d->login() + "@pt-plain", {"true"});
  EXPECT_EQ(plain.exit_code, 255);
  EXPECT_NE(plain.err.find("refused the gateway certificate"), std::string::npos) << plain.err;
  auto listed = nlohmann::json::parse(d->ctl_ok({"target", "list", "--json"}));
  for (const auto& t : listed) {
    if (t["name"] == "pt-a") {
      EXPECT_EQ(t["principals"], "login@target");
    }
    if (t["name"] == "pt-plain") {
      EXPECT_EQ(t["principals"], "login");
    }
  }
  EXPECT_EQ(d->ctl({"target", "add", "pt-bad", "--address", address, "--host-key", d->target_host_pub(), "--principals",
                    "target"})
                .exit_code,
            2);
}

TEST_F(Gateway, TargetDownIsAClearError) {
  int dead = free_port();
  d->ctl_ok({"target", "add", "prod-down", "--address", "127.0.0.1:" + std::to_string(dead), "--host-key",
             d->target_host_pub(), "--label", "env=prod"});
  auto r = d->ssh(*alice, d->login() + "@prod-down", {"true"});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("cannot reach prod-down"), std::string::npos) << r.err;
}

TEST_F(Gateway, PortForwardingRefusedUnlessRoleAllows) {
  std::string spec = "127.0.0.1:" + std::to_string(d->target_port());
  auto r = d->ssh(*alice, dest(), {}, "", {}, 30000);
  auto argv = d->ssh_argv(*alice, dest(), {"-W", spec});
  r = run(argv, {}, "", 30000);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out.find("SSH-2.0-"), std::string::npos);
  EXPECT_TRUE(audited("forward.local", "not allowed"));

  d->ctl_ok({"role", "add", "tunnel", "--targets", "prod-db-1", "--logins", d->login(), "--allow-port-forwarding",
             "--step-up", "none"});
  SshKeyFiles frank = d->add_person("frank", {"tunnel"});
  argv = d->ssh_argv(frank, dest(), {"-W", spec});
  r = run(argv, {}, "SSH-2.0-probe\r\n", 30000);
  EXPECT_NE(r.out.find("SSH-2.0-OpenSSH"), std::string::npos) << r.err;
}

TEST_F(Gateway, UnknownSubsystemIsRefused) {
  auto argv = d->ssh_argv(*alice, dest(), {"-s"});
  argv.push_back("nosuch");
  auto r = run(argv, {}, "", 30000);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(audited("channel.subsystem", "unknown subsystem"));
}

TEST_F(Gateway, SessionsKillEndsALiveSessionWithAMessage) {
  auto argv = d->ssh_argv(*alice, dest());
  argv.push_back("echo started; sleep 60");
  std::string log = d->dir() + "/kill-client.log";
  Process client(argv, log);
  ASSERT_TRUE(wait_for([&] { return read_text(log).find("started") != std::string::npos; }, 15000)) << read_text(log);
  std::string id;
  for (const auto& s : nlohmann::json::parse(d->ctl_ok({"sessions", "list", "--live", "--json"}))) {
    if (s["user"] == "alice" && s["ended_at"].is_null()) id = s["id"];
  }
  ASSERT_FALSE(id.empty());
  auto t0 = std::chrono::steady_clock::now();
  auto k = d->ctl({"sessions", "kill", id, "--reason", "incident 7"});
  EXPECT_EQ(k.exit_code, 0) << k.err;
  EXPECT_GE(client.wait(5000), 0);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(ms, 3000);
  EXPECT_NE(read_text(log).find("bastion: session ended: terminated by an administrator: incident 7"),
            std::string::npos)
      << read_text(log);
  auto live = nlohmann::json::parse(d->ctl_ok({"sessions", "list", "--live", "--json"}));
  for (const auto& s : live) EXPECT_NE(s["id"], id);
  auto again = d->ctl({"sessions", "kill", id});
  EXPECT_EQ(again.exit_code, 1);
}

// An administrator's role changes: `user role add` opens, `user role remove`
// ends at once what the role allowed (live sessions too); `user set` changes
// the details HR matches on. Each is audited; bad input changes nothing.
TEST_F(Gateway, AdministratorRoleChangesTakeEffectAtOnce) {
  auto dora = d->add_person("dora", {});
  auto before = d->ssh(dora, dest(), {"true"});
  EXPECT_NE(before.exit_code, 0);
  EXPECT_NE(before.err.find("no role grants dora access to prod-db-1"), std::string::npos) << before.err;
  auto add = d->ctl({"user", "role", "add", "dora", "ops"});
  EXPECT_EQ(add.exit_code, 0) << add.err;
  EXPECT_EQ(add.out, "dora now has role ops\n");
  auto twice = d->ctl({"user", "role", "add", "dora", "ops"});
  EXPECT_EQ(twice.exit_code, 1);
  EXPECT_NE(twice.err.find("dora already has role ops"), std::string::npos) << twice.err;
  EXPECT_NE(d->ctl({"user", "role", "add", "dora", "no-such-role"}).err.find("no such role: no-such-role"),
            std::string::npos);

  auto argv = d->ssh_argv(dora, dest());
  argv.push_back("echo started; sleep 60");
  std::string log = d->dir() + "/role-remove.log";
  Process client(argv, log);
  ASSERT_TRUE(wait_for([&] { return read_text(log).find("started") != std::string::npos; }, 15000)) << read_text(log);
  auto t0 = std::chrono::steady_clock::now();
  auto remove = d->ctl({"user", "role", "remove", "dora", "ops"});
  EXPECT_EQ(remove.exit_code, 0) << remove.err;
  EXPECT_GE(client.wait(5000), 0) << "the session the role allowed did not end";
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(ms, 3000);
  EXPECT_NE(read_text(log).find("bastion: session ended: access revoked"), std::string::npos) << read_text(log);
  EXPECT_NE(d->ssh(dora, dest(), {"true"}).exit_code, 0);
  auto gone = d->ctl({"user", "role", "remove", "dora", "ops"});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_NE(gone.err.find("dora does not have role ops"), std::string::npos) << gone.err;
  EXPECT_TRUE(audited("user.role.add", ""));
  EXPECT_TRUE(audited("user.role.remove", ""));

  auto nothing = d->ctl({"user", "set", "dora"});
  EXPECT_EQ(nothing.exit_code, 1);
  EXPECT_NE(nothing.err.find("nothing to change"), std::string::npos) << nothing.err;
  EXPECT_EQ(d->ctl({"user", "set", "dora", "--employee-id", "E-dora", "--email", "dora@example.com"}).exit_code, 0);
  auto shown = nlohmann::json::parse(d->ctl_ok({"user", "show", "dora", "--json"}));
  EXPECT_EQ(shown["employee_id"], "E-dora") << shown.dump();
  EXPECT_EQ(shown["email"], "dora@example.com") << shown.dump();
  d->ctl_ok({"user", "set", "alice", "--employee-id", "E-alice"});
  auto taken = d->ctl({"user", "set", "dora", "--employee-id", "E-alice"});
  EXPECT_EQ(taken.exit_code, 1);
  EXPECT_NE(taken.err.find("employee id E-alice already belongs to alice"), std::string::npos) << taken.err;
  EXPECT_EQ(nlohmann::json::parse(d->ctl_ok({"user", "show", "dora", "--json"}))["employee_id"], "E-dora");
  EXPECT_TRUE(audited("user.set", ""));
}

TEST_F(Gateway, GarbageAndAbruptClientsDoNotHurtOthers) {
  auto argv = d->ssh_argv(*alice, dest());
  argv.push_back("echo long-lived; sleep 5; echo still-here");
  std::string log = d->dir() + "/survivor.log";
  Process survivor(argv, log);
  ASSERT_TRUE(wait_for([&] { return read_text(log).find("long-lived") != std::string::npos; }, 15000));
  std::string garbage = "GARBAGE\r\n";
  garbage += std::string("\0\377\377\r\n", 5);
  for (int i = 0; i < 5; ++i) {
    send_and_close(d->gateway_port(), garbage);
    send_and_close(d->gateway_port(), std::string(100000, '\x42'));
    send_and_close(d->gateway_port(), "SSH-2.0-x\r\n");
    send_and_close(d->gateway_port(), "");
  }
  EXPECT_TRUE(d->bastiond().running());
  EXPECT_EQ(survivor.wait(20000), 0);
  EXPECT_NE(read_text(log).find("still-here"), std::string::npos);
  EXPECT_EQ(d->ssh(*alice, dest(), {"true"}).exit_code, 0);
}

}  // namespace
}  // namespace bastion::e2e
