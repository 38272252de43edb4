// The monitor against compromised connection processes: bastiond-hostile
// (tests/e2e/hostile) lets a test script what a connection process sends the
// supervisor. The monitor decides every login itself (the child names only
// a key and a user name); refusals get no certificate; requests out of
// order, repeated or malformed, and audit records that are not a relay's to
// write, kill the child; each is audited; and the one certificate a session
// gets works only from the gateway's address.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fixture.h"
#include "tests/support/test_database.h"

namespace bastion::e2e {
namespace {

// A PostgreSQL URL as someone who never read the configuration knows it.
std::string without_password(const std::string& url) {
  size_t scheme = url.find("://");
  size_t at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos) return url;
  size_t colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon) + url.substr(at);
}

std::string fingerprint_of(const SshKeyFiles& key) {
  auto r = run({"ssh-keygen", "-lf", key.pub});
  std::istringstream in(r.out);
  std::string bits, fp;
  in >> bits >> fp;
  return fp;
}

class Monitor : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/bastion-hostile-XXXXXX";
    hostile_dir = new std::string(mkdtemp(tmpl));
    d = new Deployment(BASTIOND_HOSTILE_PATH, {{"BASTION_HOSTILE_DIR", *hostile_dir}});
    alice = new SshKeyFiles(d->add_person("alice", {"ops"}));
    bob = new SshKeyFiles(d->add_person("bob", {"ops"}));
  }
  static void TearDownTestSuite() {
    delete alice;
    delete bob;
    delete d;
    std::filesystem::remove_all(*hostile_dir);
    delete hostile_dir;
  }

  // alice's key, signed for LOGIN@prod-db-1; tests change what they forge.
  static std::map<std::string, std::string> honest() {
    return {{"fingerprint", fingerprint_of(*alice)}, {"user_name", d->login() + "@prod-db-1"}};
  }

  // Runs one scripted connection process to its end (exit or kill); returns its .out.
  static std::string play(const std::string& name, const std::string& steps, std::map<std::string, std::string> kv) {
    kv["name"] = name;
    kv["steps"] = steps;
    std::string text;
    for (const auto& [k, v] : kv) text += k + "=" + v + "\n";
    write_text(*hostile_dir + "/scenario", text);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(d->gateway_port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    // The connection process closes the socket when it exits or is killed.
    bool closed = wait_for(
        [&] {
          pollfd p{fd, POLLIN, 0};
          char buf[256];
          return poll(&p, 1, 100) > 0 && recv(fd, buf, sizeof buf, MSG_DONTWAIT) == 0;
        },
        20000);
    close(fd);
    EXPECT_TRUE(closed) << name << ": the connection process did not end";
    EXPECT_FALSE(std::filesystem::exists(*hostile_dir + "/scenario")) << name << ": no process took the scenario";
    return read_text(*hostile_dir + "/" + name + ".out");
  }

  static nlohmann::json audit(const std::string& action) {
    return nlohmann::json::parse(d->ctl_ok({"audit", "list", "--json", "--action", action, "--limit", "100000"}));
  }
  // Whether such a record appears within 5 s (the monitor kills first, then audits).
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

  static inline std::string* hostile_dir = nullptr;
  static inline Deployment* d = nullptr;
  static inline SshKeyFiles *alice = nullptr, *bob = nullptr;
};

TEST_F(Monitor, TheMonitorDecidesAndARefusalLeavesNothingToAskFor) {
  struct Case {
    std::string name;
    std::map<std::string, std::string> changes;
    std::string action, reason;
  };
  std::vector<Case> cases = {
      // a login no role gives alice
      {"other-login", {{"user_name", "postgres@prod-db-1"}}, "access", "no role"},
      // a key nobody enrolled
      {"unknown-key",
       {{"fingerprint", "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}},
       "auth",
       "key is not enrolled"},
      // command mode as somebody else
      {"other-person", {{"user_name", "bob"}}, "auth", "this key belongs to alice, not bob"},
  };
  for (const auto& c : cases) {
    auto kv = honest();
    for (const auto& [k, v] : c.changes) kv[k] = v;
    // After the refusal the child asks for a certificate anyway.
    std::string out = play(c.name, "auth,sign", kv);
    EXPECT_NE(out.find("answer: refused: "), std::string::npos) << c.name << ":\n" << out;
    EXPECT_NE(out.find(c.reason), std::string::npos) << c.name << ":\n" << out;
    EXPECT_EQ(out.find("answer: certificate"), std::string::npos) << c.name << ":\n" << out;
    EXPECT_EQ(out.find("done"), std::string::npos) << c.name << ": not killed:\n" << out;
    EXPECT_TRUE(audited(c.action, c.reason)) << c.name;
  }
  EXPECT_TRUE(audited("monitor.violation", "unpermitted request sign in state pre-auth"));
  // What the monitor accepts is what it derived: the person from the key.
  std::string out = play("accepted", "probe,auth", honest());
  EXPECT_NE(out.find("answer: known"), std::string::npos) << out;
  EXPECT_NE(out.find("answer: accepted: person=alice"), std::string::npos) << out;
  // Every one of them has ended (an exiting process may take a moment under load).
  EXPECT_TRUE(wait_for([&] { return connection_pids(d->bastiond().pid()).empty(); }, 5000));
}

TEST_F(Monitor, OutOfOrderRepeatedAndMalformedRequestsKillTheChild) {
  struct Case {
    std::string name, steps;
    std::map<std::string, std::string> changes;
    std::string violation;
  };
  std::vector<Case> cases = {
      {"sign-first", "sign", {}, "unpermitted request sign in state pre-auth"},
      {"old-json", "json", {}, "malformed monitor message: unknown type 123"},
      {"monitor-only", "kill-msg", {}, "unpermitted request kill in state pre-auth"},
      {"auth-twice", "auth,auth", {}, "unpermitted request authenticate in state authenticated"},
      {"audit-first", "audit", {{"action", "channel.exec"}}, "unpermitted request audit in state pre-auth"},
      {"forged-audit",
       "auth,audit",
       {{"action", "session.start"}},
       "audit action 'session.start' is not a connection's"},
      {"audit-not-json",
       "auth,audit",
       {{"action", "channel.exec"}, {"details", "[1"}},
       "audit details are not a JSON object"},
      {"poll-unasked", "auth,poll", {}, "unpermitted request step-up-poll in state authenticated"},
      {"bad-fingerprint", "probe", {{"fingerprint", "alice"}}, "malformed key probe"},
      {"second-cert", "auth,sign,sign", {}, "repeated one-time request sign"},
      {"foreign-source",
       "auth,sign",
       {{"source", "192.0.2.1"}},
       "upstream source address '192.0.2.1' is not this host's"},
  };
  for (const auto& c : cases) {
    auto kv = honest();
    for (const auto& [k, v] : c.changes) kv[k] = v;
    std::string out = play(c.name, c.steps, kv);
    EXPECT_EQ(out.find("done"), std::string::npos) << c.name << ": not killed:\n" << out;
    EXPECT_TRUE(audited("monitor.violation", c.violation)) << c.name << ":\n" << out;
  }
  // A recording the monitor created is handed over write-only and append-only.
  std::string rec = play("record", "auth,record,chunk-gap", honest());
  EXPECT_NE(rec.find("answer: recording " + std::filesystem::path(d->config()).parent_path().string() + "/recordings/"),
            std::string::npos)
      << rec;
  EXPECT_NE(rec.find("answer: fd write-only append"), std::string::npos) << rec;
  EXPECT_NE(rec.find("answer: read failed: Bad file descriptor"), std::string::npos) << rec;
  EXPECT_EQ(rec.find("done"), std::string::npos) << rec;
  EXPECT_TRUE(audited("monitor.violation", "recording digest out of sequence"));
  EXPECT_TRUE(audited("recording.start", ""));
  // The second certificate was never issued; the first was.
  std::string twice = read_text(*hostile_dir + "/second-cert.out");
  size_t first = twice.find("answer: certificate");
  EXPECT_NE(first, std::string::npos) << twice;
  EXPECT_EQ(twice.find("answer: certificate", first + 1), std::string::npos) << twice;
  // A certificate was never asked for from a foreign address.
  EXPECT_EQ(read_text(*hostile_dir + "/foreign-source.out").find("answer: certificate"), std::string::npos);
  EXPECT_EQ(d->ctl({"audit", "verify"}).exit_code, 0);
}

// The residual risk, shown: a compromised child can claim alice's enrolled
// key (libssh does not let the monitor re-check her signature) and get what
// alice may do. What it gets is bound: one certificate, her logins only, for
// minutes, and only usable from the gateway's own address.
TEST_F(Monitor, CertificateWorksOnlyFromTheGatewaysAddress) {
  std::string out = play("bound", "auth,sign", honest());
  ASSERT_NE(out.find("answer: certificate"), std::string::npos) << out;
  std::string key = *hostile_dir + "/bound_key";
  ASSERT_EQ(chmod(key.c_str(), 0600), 0);
  auto shown = run({"ssh-keygen", "-L", "-f", key + "-cert.pub"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.out.find("source-address 127.0.0.1"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("bastion person=alice session=s-"), std::string::npos) << shown.out;
  EXPECT_EQ(shown.out.find("permit-port-forwarding"), std::string::npos) << shown.out;
  write_text(*hostile_dir + "/target_known_hosts",
             "[127.0.0.1]:" + std::to_string(d->target_port()) + " " + read_text(d->target_host_pub()));
  auto from = [&](const std::string& address) {
    return run({"ssh",
                "-F",
                "/dev/null",
                "-i",
                key,
                "-o",
                "CertificateFile=" + key + "-cert.pub",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "IdentityAgent=none",
                "-o",
                "BatchMode=yes",
                "-o",
                "UserKnownHostsFile=" + *hostile_dir + "/target_known_hosts",
                "-o",
                "StrictHostKeyChecking=yes",
                "-b",
                address,
                "-p",
                std::to_string(d->target_port()),
                d->login() + "@127.0.0.1",
                "echo in"});
  };
  auto ok = from("127.0.0.1");
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out, "in\n");
  auto elsewhere = from("127.0.0.2");
  EXPECT_NE(elsewhere.exit_code, 0) << elsewhere.out;
  EXPECT_NE(elsewhere.err.find("Permission denied"), std::string::npos) << elsewhere.err;
}

TEST_F(Monitor, TheSandboxKillsExecAndForkAndKeepsTheMonitorOutOfReach) {
  for (std::string step : {"exec", "fork"}) {
    std::string out = play(step, step, honest());
    EXPECT_NE(out.find("step " + step), std::string::npos) << out;
    EXPECT_EQ(out.find("answer:"), std::string::npos) << step << " returned:\n" << out;
    EXPECT_EQ(out.find("done"), std::string::npos) << step << ": not killed:\n" << out;
  }
  EXPECT_TRUE(audited("sandbox.violation", "killed by the sandbox (a forbidden system call)"));
  // The supervisor's memory (the CA and audit keys) and its life are out of reach.
  std::string out = play("reach", "read-monitor,signal-monitor", honest());
  EXPECT_NE(out.find("answer: open failed: "), std::string::npos) << out;
  EXPECT_NE(out.find("answer: kill failed: Operation not permitted"), std::string::npos) << out;
  EXPECT_NE(out.find("done"), std::string::npos) << out;
  EXPECT_TRUE(d->bastiond().running());
  auto r = d->ssh(*alice, d->login() + "@prod-db-1", {"echo still"});
  EXPECT_EQ(r.out, "still\n") << r.err;
}

// A connection process taken over holds nothing and can open nothing of the
// state directory: not the database, not the CA or audit keys, not another
// session's recording; and it can create no file anywhere.
TEST_F(Monitor, TheStateDirectoryIsOutOfReach) {
  std::string state = std::filesystem::path(d->config()).parent_path().string();
  auto r = d->ssh(*alice, d->login() + "@prod-db-1", {"echo recorded"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string other;
  for (const auto& e : std::filesystem::recursive_directory_iterator(state + "/recordings")) {
    if (e.is_regular_file()) other = e.path().string();
  }
  ASSERT_FALSE(other.empty());
  std::vector<std::string> secrets = {state + "/user_ca_key", state + "/audit_signing_key",
                                      state + "/ssh_host_ed25519_key", other, state};
  if (!test_support::under_postgres()) secrets.push_back(d->database());
  std::string paths;
  for (const auto& p : secrets) {
    ASSERT_TRUE(std::filesystem::exists(p)) << p;
    paths += (paths.empty() ? "" : ",") + p;
  }
  auto kv = honest();
  kv["paths"] = paths;
  kv["database"] = without_password(d->database());
  std::string out = play("state", "auth,open-state,open-database", kv);
  for (const auto& p : secrets) {
    EXPECT_NE(out.find("answer: open " + p + ": Permission denied"), std::string::npos) << p << ":\n" << out;
  }
  EXPECT_NE(out.find("answer: create: Permission denied"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists("/tmp/bastion-hostile-write-test"));
  // The database: a SQLite file is out of reach like the keys; a PostgreSQL
  // server can be reached (targets are reached over the same network), and
  // what keeps it shut is its own authentication, whose password is in the
  // configuration the process cannot read.
  EXPECT_EQ(out.find("answer: opened the database"), std::string::npos) << out;
  if (test_support::under_postgres()) {
    EXPECT_NE(out.find("no password supplied"), std::string::npos) << out;
  } else {
    EXPECT_NE(out.find("answer: database " + d->database()), std::string::npos) << out;
  }
  EXPECT_NE(out.find("done"), std::string::npos) << out;
}

TEST_F(Monitor, ALiveConnectionProcessIsSandboxedAndHoldsOnlyItsOwnDescriptors) {
  auto argv = d->ssh_argv(*alice, d->login() + "@prod-db-1");
  argv.push_back("sleep 30");
  Process ssh(argv, *hostile_dir + "/live.log");
  std::vector<pid_t> pids;
  ASSERT_TRUE(wait_for(
      [&] {
        pids = connection_pids(d->bastiond().pid());
        return !pids.empty() && d->ctl_ok({"sessions", "list", "--live"}).find("alice") != std::string::npos;
      },
      20000))
      << read_text(*hostile_dir + "/live.log");
  pid_t pid = pids.front();
  // The session is listed as live once its person is let in; its channel
  // (the upstream connection, the recording) follows: wait for both before
  // looking at what the process holds.
  const std::string recordings_dir = std::filesystem::path(d->config()).parent_path().string() + "/recordings/";
  EXPECT_TRUE(wait_for(
      [&] {
        int open_sockets = 0;
        bool recording = false;
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
          std::string to = std::filesystem::read_symlink(e.path(), ec).string();
          if (to.starts_with("socket:")) ++open_sockets;
          if (to.starts_with(recordings_dir)) recording = true;
        }
        return recording && open_sockets >= 3;
      },
      20000))
      << "the connection process never held its upstream connection and recording";
  std::string status = read_text("/proc/" + std::to_string(pid) + "/status");
  EXPECT_NE(status.find("NoNewPrivs:\t1"), std::string::npos) << status;
  EXPECT_NE(status.find("Seccomp:\t2"), std::string::npos) << status;
  // Its own unprivileged user when bastiond may switch (root, as these tests run).
  if (geteuid() == 0) {
    auto id = run({"id", "-u", "bastion-session"});
    ASSERT_EQ(id.exit_code, 0) << "scripts/deps.sh creates bastion-session";
    std::string uid = id.out.substr(0, id.out.find('\n'));
    EXPECT_NE(status.find("Uid:\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid), std::string::npos) << status;
  }
  // No capability, even when bastiond runs as root.
  EXPECT_NE(status.find("CapEff:\t0000000000000000"), std::string::npos) << status;
  EXPECT_NE(status.find("CapPrm:\t0000000000000000"), std::string::npos) << status;
  int sockets = 0;
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    std::string to = std::filesystem::read_symlink(e.path()).string();
    if (to.starts_with("socket:")) ++sockets;
    else if (to.starts_with("/")) files.push_back(to);
    // No signalfd, inotify or other supervisor descriptor was inherited.
    EXPECT_FALSE(to.starts_with("anon_inode:")) << to;
  }
  // The client, the monitor channel and the upstream connection.
  EXPECT_EQ(sockets, 3);
  std::string state = std::filesystem::path(d->config()).parent_path().string();
  int recordings = 0;
  auto live = nlohmann::json::parse(d->ctl_ok({"sessions", "list", "--live", "--json"}));
  ASSERT_EQ(live.size(), 1u) << live.dump();
  std::string session_id = live[0]["id"];
  for (const auto& f : files) {
    // No database, key or spool: only the recording file the monitor
    // created for this session's channel and handed over.
    if (f.starts_with(state + "/recordings/")) {
      ++recordings;
      EXPECT_NE(f.find(session_id), std::string::npos) << f;
    } else {
      EXPECT_FALSE(f.starts_with(state)) << f;
    }
    EXPECT_EQ(f.find("bastion.db"), std::string::npos) << f;
    EXPECT_EQ(f.find("_key"), std::string::npos) << f;
  }
  EXPECT_EQ(recordings, 1);
  ssh.stop();
}

// The web process (HTTPS for WebAuthn) parses browsers' bytes: it runs as its
// own user in the same sandbox, holds no database or key but its TLS key, and
// a web process that breaks the web channel's protocol is killed, audited
// and restarted.
TEST_F(Monitor, TheWebProcessIsSandboxedHoldsNoDatabaseAndIsKilledForBreakingTheProtocol) {
  pid_t web = 0;
  ASSERT_TRUE(wait_for([&] { return (web = web_pid(d->bastiond().pid())) != 0; }, 10000));
  std::string status = read_text("/proc/" + std::to_string(web) + "/status");
  EXPECT_NE(status.find("NoNewPrivs:\t1"), std::string::npos) << status;
  EXPECT_NE(status.find("Seccomp:\t2"), std::string::npos) << status;
  EXPECT_NE(status.find("CapEff:\t0000000000000000"), std::string::npos) << status;
  if (geteuid() == 0) {
    auto id = run({"id", "-u", "bastion-web"});
    ASSERT_EQ(id.exit_code, 0) << "scripts/deps.sh creates bastion-web";
    std::string uid = id.out.substr(0, id.out.find('\n'));
    EXPECT_NE(status.find("Uid:\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid), std::string::npos) << status;
  }
  std::string state = std::filesystem::path(d->config()).parent_path().string();
  int sockets = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(web) + "/fd")) {
    std::string to = std::filesystem::read_symlink(e.path()).string();
    if (to.starts_with("socket:")) ++sockets;
    EXPECT_FALSE(to.starts_with(state)) << to;
    EXPECT_FALSE(to.starts_with("anon_inode:")) << to;
  }
  EXPECT_EQ(sockets, 2);  // the listening socket and the web channel (no browser is connected)

  // A compromised web process: the state directory is out of reach, the
  // monitor answers honest calls, and a call the web server would never have
  // made gets it killed.
  std::vector<std::string> secrets = {state + "/bastion.db", state + "/user_ca_key", state + "/audit_signing_key",
                                      state + "/web_key.pem", state};
  std::string paths;
  for (const auto& p : secrets) paths += (paths.empty() ? "" : ",") + p;
  write_text(*hostile_dir + "/web-scenario",
             "name=web\nsteps=open-state,call,bad-key,call\ncode=ZZZZ-no-such-code\npaths=" + paths + "\n");
  ASSERT_EQ(::kill(web, SIGKILL), 0);
  // The supervisor starts another within 5 s; it takes the scenario.
  ASSERT_TRUE(
      wait_for([&] { return read_text(*hostile_dir + "/web.out").find("step bad-key") != std::string::npos; }, 15000))
      << read_text(*hostile_dir + "/web.out");
  EXPECT_TRUE(audited("web.violation", "malformed token or code in a web call"));
  std::string out = read_text(*hostile_dir + "/web.out");
  for (const auto& p : secrets) {
    EXPECT_NE(out.find("answer: open " + p + ": Permission denied"), std::string::npos) << p << ":\n" << out;
  }
  EXPECT_NE(out.find("answer: create: Permission denied"), std::string::npos) << out;
  EXPECT_NE(out.find("answer: 404 "), std::string::npos) << out;
  // Killed at the violation: nothing after it.
  EXPECT_EQ(out.find("done"), std::string::npos) << out;
  EXPECT_EQ(out.find("step call", out.find("step bad-key")), std::string::npos) << out;
  // ... and restarted: the step-up pages answer again.
  pid_t again = 0;
  EXPECT_TRUE(wait_for(
      [&] {
        again = web_pid(d->bastiond().pid());
        return again != 0 && again != web && port_open(d->web_port());
      },
      15000));
  EXPECT_TRUE(d->bastiond().running());
}

// Without [web] public_url the web process serves health and metrics only:
// a call for the step-up pages is one it would never make, and kills it.
TEST_F(Monitor, AWebProcessThatServesOnlyHealthIsKilledForAPageCall) {
  int metrics = free_port();
  d->edit_config("public_url = \"", "# public_url = \"");
  d->edit_config("max_connections_per_source = 8",
                 "metrics_listen = \"127.0.0.1:" + std::to_string(metrics) + "\"\nmax_connections_per_source = 8");
  ASSERT_TRUE(wait_for([&] { return port_open(metrics); }, 10000)) << d->gateway_log();
  EXPECT_FALSE(port_open(d->web_port()));
  pid_t web = 0;
  ASSERT_TRUE(wait_for([&] { return (web = web_pid(d->bastiond().pid())) != 0; }, 10000));
  write_text(*hostile_dir + "/web-scenario", "name=health-only\nsteps=call,call\ncode=ABCD-2345\n");
  ASSERT_EQ(::kill(web, SIGKILL), 0);
  ASSERT_TRUE(wait_for(
      [&] { return read_text(*hostile_dir + "/health-only.out").find("step call") != std::string::npos; }, 15000))
      << read_text(*hostile_dir + "/health-only.out");
  EXPECT_TRUE(
      wait_for([&] { return audited("web.violation", "a call for web pages this node does not serve"); }, 5000));
  std::string out = read_text(*hostile_dir + "/health-only.out");
  EXPECT_EQ(out.find("done"), std::string::npos) << out;
  EXPECT_EQ(out.find("answer: 200"), std::string::npos) << out;
  // Restarted, it answers the load balancer again.
  EXPECT_TRUE(wait_for([&] { return http_get(metrics, "/healthz").rfind("HTTP/1.1 200", 0) == 0; }, 15000));
}

// Without a scenario the same binary serves people as bastiond does: the
// monitor's checks let an honest login through.
TEST_F(Monitor, HonestConnectionsStillWork) {
  auto r = d->ssh(*alice, d->login() + "@prod-db-1", {"echo hello"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hello\n");
  auto denied = d->ssh(*alice, "postgres@prod-db-1", {"true"});
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_NE(denied.err.find("no role"), std::string::npos) << denied.err;
}

// The HR spool's file I/O runs on a thread of its own: a dropped file whose
// read hangs (a stuck network mount) holds up neither logins nor the spool's
// later work once it returns. Before: the read ran on the supervisor's loop,
// so no login was accepted until it returned.
TEST_F(Monitor, AHungHrFileReadHoldsUpNoLogin) {
  std::string stall = *hostile_dir + "/hr-stall";
  write_text(stall, "");
  std::string state = std::filesystem::path(d->config()).parent_path().string();
  std::string tmp = d->dir() + "/stuck.jsonl.part";
  write_text(tmp,
             "{\"event_id\":\"stall-j1\",\"type\":\"joiner\",\"employee_id\":\"E990\","
             "\"username\":\"stalled\",\"department\":\"nowhere\"}\n");
  std::filesystem::rename(tmp, state + "/hr/incoming/stuck.jsonl");
  ASSERT_TRUE(wait_for([&] { return std::filesystem::exists(*hostile_dir + "/hr-stalled"); }, 10000));
  auto r = d->ssh(*alice, d->login() + "@prod-db-1", {"echo still here"}, "", {}, 20000);
  std::filesystem::remove(stall);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "still here\n");
  EXPECT_TRUE(
      wait_for([&] { return std::filesystem::exists(state + "/hr/processed/stuck.jsonl.report.json"); }, 10000));
}

}  // namespace
}  // namespace bastion::e2e
