// Several gateway nodes on one PostgreSQL database (runs as postgres/Cluster.*;
// under SQLite, one node per database, these skip). Node A is the
// deployment's own bastiond; B and C are copies of its state directory with
// their own ports and node names (Deployment::add_node).
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <vector>

#include "fixture.h"
#include "tests/support/test_database.h"

namespace bastion::e2e {
namespace {

using Clock = std::chrono::steady_clock;

class Cluster : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!test_support::under_postgres()) return;
    d = new Deployment();
    // Twenty leavers one after the other: not an HR system gone wrong here
    // (the circuit breaker has its own tests).
    d->edit_config("max_leaver_share = 0.1", "max_leaver_share = 1.0");
    d->edit_config("leaver_floor = 2", "leaver_floor = 1000");
    b = d->add_node("node-b");
    c = d->add_node("node-c");
    shared = d->add_node("node-s", true);
  }
  static void TearDownTestSuite() {
    delete d;
    d = nullptr;
  }
  void SetUp() override {
    if (!test_support::under_postgres()) GTEST_SKIP() << "several gateway nodes share PostgreSQL, not a SQLite file";
  }
  static std::string dest() { return d->login() + "@prod-db-1"; }
  // A session through the node at `port` that stays open until it is ended.
  static Process long_session(int port, const SshKeyFiles& key, const std::string& log) {
    auto argv = d->ssh_argv_to(port, key, dest());
    argv.push_back("echo up; sleep 60");
    Process p(argv, log);
    EXPECT_TRUE(wait_for([&] { return read_text(log).find("up") != std::string::npos; }, 15000)) << read_text(log);
    return p;
  }
  static SshKeyFiles person(const std::string& name, const std::string& employee_id) {
    d->ctl_ok({"user", "add", name, "--employee-id", employee_id, "--role", "ops"});
    return d->enroll_sk_key(name);
  }
  static long long ms_since(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
  }

  static inline Deployment* d = nullptr;
  static inline int b = 0, c = 0;  // the SSH ports of nodes B and C
  static inline int shared = 0;    // node S: shares A's HR spool and recordings folder
};

// The leaver file is dropped into node A's spool; each person's sessions run
// through B and C, which learn of it from the database. 20 runs: p50 and p99
// of the time from the file to the last of the two disconnects.
TEST_F(Cluster, ALeaverOnNodeAEndsSessionsOnNodesBAndCWithinOneSecond) {
  std::vector<long long> times;
  for (int run = 0; run < 20; ++run) {
    std::string name = "leaver" + std::to_string(run);
    std::string employee = "E1" + std::to_string(run);
    SshKeyFiles key = person(name, employee);
    Process on_b = long_session(b, key, d->dir() + "/" + name + "-b.log");
    Process on_c = long_session(c, key, d->dir() + "/" + name + "-c.log");
    if (run == 0) {
      auto live = nlohmann::json::parse(d->ctl_ok({"sessions", "list", "--live", "--json", "--user", name}));
      std::set<std::string> nodes;
      for (const auto& s : live) nodes.insert(s["node"].get<std::string>());
      EXPECT_EQ(nodes, (std::set<std::string>{"node-b", "node-c"})) << live.dump();
    }
    std::string event = "hr-cluster-" + std::to_string(run);
    std::string part = d->dir() + "/" + name + ".part";
    write_text(part, "{\"event_id\":\"" + event + "\",\"type\":\"leaver\",\"employee_id\":\"" + employee +
                         "\",\"username\":\"" + name + "\"}\n");
    auto dropped = Clock::now();
    std::filesystem::rename(part, d->dir() + "/state/hr/incoming/" + name + ".jsonl");
    EXPECT_GE(on_b.wait(5000), 0);
    EXPECT_GE(on_c.wait(5000), 0);
    times.push_back(ms_since(dropped));
    for (const char* node : {"-b.log", "-c.log"}) {
      std::string log = read_text(d->dir() + "/" + name + node);
      EXPECT_NE(log.find("access revoked: " + name + " has left (HR event " + event + ")"), std::string::npos) << log;
    }
    EXPECT_EQ(d->ssh(key, dest(), {"true"}).exit_code, 255);
  }
  std::sort(times.begin(), times.end());
  long long p50 = times[times.size() / 2];
  long long p99 = times.back();  // of 20 runs: the slowest
  std::printf("leaver file on node A to the last disconnect on nodes B and C, 20 runs: p50 %lld ms, p99 %lld ms\n", p50,
              p99);
  EXPECT_LT(p99, 1000);
  // Each node wrote the end of its own sessions into the one audit chain.
  auto kills = nlohmann::json::parse(d->ctl_ok({"audit", "list", "--json", "--action", "session.kill"}));
  EXPECT_GE(kills.size(), 40u);
  auto verify = d->ctl({"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
}

// bastionctl on node A ends a session that runs on node B.
TEST_F(Cluster, SessionsKillOnOneNodeEndsASessionOnAnother) {
  SshKeyFiles bob = person("bob", "E200");
  Process on_b = long_session(b, bob, d->dir() + "/bob-b.log");
  auto live = nlohmann::json::parse(d->ctl_ok({"sessions", "list", "--live", "--json", "--user", "bob"}));
  ASSERT_EQ(live.size(), 1u) << live.dump();
  std::string id = live[0]["id"];
  auto began = Clock::now();
  auto r = d->ctl({"sessions", "kill", id, "--reason", "incident 42"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("asked gateway node node-b to end session " + id), std::string::npos) << r.out;
  EXPECT_GE(on_b.wait(5000), 0);
  std::printf("sessions kill on node A to the disconnect on node B: %lld ms\n", ms_since(began));
  EXPECT_NE(read_text(d->dir() + "/bob-b.log").find("terminated by an administrator: incident 42"), std::string::npos)
      << read_text(d->dir() + "/bob-b.log");
  auto unknown = d->ctl({"sessions", "kill", "S-nope"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("no live session S-nope"), std::string::npos) << unknown.err;
}

// A person disabled with bastionctl on node B loses the session on node C.
TEST_F(Cluster, DisablingAPersonOnOneNodeEndsTheirSessionsOnTheOthers) {
  SshKeyFiles carol = person("carol", "E300");
  Process on_c = long_session(c, carol, d->dir() + "/carol-c.log");
  auto r = d->node_ctl("node-b", {"user", "disable", "carol"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GE(on_c.wait(5000), 0);
  EXPECT_EQ(d->ssh(carol, dest(), {"true"}).exit_code, 255);
}

// A key revoked with bastionctl on node A ends the session that logged in
// with it on node C, and no node lets it in again.
TEST_F(Cluster, AKeyRevokedOnOneNodeEndsItsSessionOnAnother) {
  SshKeyFiles erin = person("erin", "E400");
  Process on_c = long_session(c, erin, d->dir() + "/erin-c.log");
  auto keys = nlohmann::json::parse(d->ctl_ok({"key", "list", "--user", "erin", "--json"}));
  ASSERT_EQ(keys.size(), 1u) << keys.dump();
  auto began = Clock::now();
  d->ctl_ok({"key", "revoke", keys[0]["fingerprint"].get<std::string>()});
  EXPECT_GE(on_c.wait(5000), 0);
  std::printf("key revoke on node A to the disconnect on node C: %lld ms\n", ms_since(began));
  EXPECT_NE(read_text(d->dir() + "/erin-c.log").find("revoked"), std::string::npos)
      << read_text(d->dir() + "/erin-c.log");
  for (int port : {b, c}) {
    auto argv = d->ssh_argv_to(port, erin, dest());
    argv.push_back("true");
    EXPECT_EQ(run(argv).exit_code, 255);
  }
}

// Nodes A and S share one spool folder (both see every file): each file is
// claimed in the database, so exactly one of them applies it and files it away.
TEST_F(Cluster, AFileInASharedSpoolIsAppliedByExactlyOneNode) {
  constexpr int kFiles = 12;
  int64_t batches = d->sql_int64("SELECT COUNT(*) FROM hr_batches");
  std::string incoming = d->dir() + "/state/hr/incoming/";
  for (int i = 0; i < kFiles; ++i) {
    std::string name = "shared" + std::to_string(i);
    d->ctl_ok({"user", "add", name, "--employee-id", "E5" + std::to_string(i), "--role", "ops"});
    std::string part = d->dir() + "/" + name + ".part";
    write_text(part, "{\"event_id\":\"hr-shared-" + std::to_string(i) + "\",\"type\":\"leaver\",\"employee_id\":\"E5" +
                         std::to_string(i) + "\"}\n");
    std::filesystem::rename(part, incoming + name + ".jsonl");
  }
  auto processed = [&] {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator(d->dir() + "/state/hr/processed")) {
      n += e.path().filename().string().starts_with("shared") && e.path().extension() == ".jsonl";
    }
    return n;
  };
  ASSERT_TRUE(wait_for([&] { return processed() == kFiles && std::filesystem::is_empty(incoming); }, 30000))
      << processed() << " processed\n"
      << read_text(d->node_log("node-s"));
  // Settled: nothing is applied twice (a second batch, a duplicate line) or left claimed.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(processed(), kFiles);
  EXPECT_EQ(d->sql_int64("SELECT COUNT(*) FROM hr_batches"), batches + kFiles);
  EXPECT_EQ(d->sql_int64("SELECT COUNT(*) FROM hr_events WHERE event_id LIKE 'hr-shared-%' AND state = 'applied'"),
            kFiles);
  EXPECT_EQ(d->sql_int64("SELECT COUNT(*) FROM claims WHERE item LIKE 'hr-spool:%'"), 0);
  EXPECT_EQ(d->sql_int64("SELECT COUNT(*) FROM audit_log WHERE action = 'hr.leaver' AND details LIKE '%hr-shared-%'"),
            kFiles);
  EXPECT_EQ(d->sql_int64("SELECT COUNT(*) FROM audit_log WHERE action = 'hr.duplicate'"), 0);
}

// One node leads (grant expiry, scheduled HR events, checkpoints, syslog,
// retention); the others know it.
TEST_F(Cluster, ExactlyOneNodeLeadsTheCluster) {
  EXPECT_EQ(d->sql_int64("SELECT COUNT(*) FROM claims WHERE item = 'cluster-lead'"), 1);
  int leading = 0;
  for (const std::string& log :
       {d->dir() + "/bastiond.log", d->node_log("node-b"), d->node_log("node-c"), d->node_log("node-s")}) {
    leading += read_text(log).find("this node now leads the cluster") != std::string::npos;
  }
  EXPECT_EQ(leading, 1);
}

// Recordings in a shared folder are replayed and verified from any node; a
// recording on another node's own disk is said to be there, not lost.
TEST_F(Cluster, RecordingsAreReadFromAnyNodeWhenTheirFolderIsShared) {
  SshKeyFiles erin = person("erin", "E600");
  auto through = [&](int port) {
    auto argv = d->ssh_argv_to(port, erin, dest());
    argv.push_back("echo recorded-here");
    Process p(argv, d->dir() + "/erin.log");
    EXPECT_EQ(p.wait(15000), 0) << read_text(d->dir() + "/erin.log");
    auto rows = nlohmann::json::parse(d->ctl_ok({"sessions", "list", "--json", "--user", "erin"}));
    return rows[0]["id"].get<std::string>();  // the newest first
  };
  std::string on_shared = through(shared);
  auto ok = d->ctl({"sessions", "verify", on_shared});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("intact"), std::string::npos) << ok.out;
  auto show = nlohmann::json::parse(d->ctl_ok({"sessions", "show", on_shared, "--json"}));
  EXPECT_EQ(show["recordings"][0]["node"], "node-s") << show.dump();

  // Node C's own folder, as another host's disk: not there as seen from A.
  std::string on_c = through(c);
  std::string own = d->dir() + "/node-c/recordings";
  std::filesystem::rename(own, own + ".elsewhere");
  auto elsewhere = d->ctl({"sessions", "replay", on_c});
  std::filesystem::rename(own + ".elsewhere", own);
  EXPECT_NE(elsewhere.exit_code, 0);
  EXPECT_NE(elsewhere.err.find("was written by gateway node node-c and is not on this host"), std::string::npos)
      << elsewhere.err;
  auto there = d->node_ctl("node-c", {"sessions", "verify", on_c});
  EXPECT_EQ(there.exit_code, 0) << there.out << there.err;
}

// A grant made on node B is used through node C, and its revocation on node A
// ends that session on C.
TEST_F(Cluster, AGrantMadeOnOneNodeIsUsedThroughAnotherAndRevokedFromAThird) {
  d->ctl_ok({"customer", "add", "acme"});
  d->ctl_ok({"target", "add", "acme-app", "--address", "127.0.0.1:" + std::to_string(d->target_port()), "--host-key",
             d->target_host_pub(), "--customer", "acme"});
  d->ctl_ok({"role", "add", "support", "--targets", "customer=*", "--logins", d->login(), "--elevated",
             "--max-duration", "4h", "--step-up", "none"});
  d->ctl_ok({"user", "add", "frank", "--employee-id", "E700", "--role", "support"});
  SshKeyFiles frank = d->enroll_sk_key("frank");
  std::string acme = d->login() + "@acme-app";
  auto before = d->ssh(frank, acme, {"true"});
  EXPECT_EQ(before.exit_code, 255) << before.err;  // elevated: nothing without a grant
  auto made = d->node_ctl("node-b", {"elevate", "break-glass", "frank", acme, "--for", "20m", "--reason", "INC-9"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  size_t at = made.out.find("GRT-");
  ASSERT_NE(at, std::string::npos) << made.out;
  std::string grant = made.out.substr(at, made.out.find_first_of(" \n", at) - at);
  auto argv = d->ssh_argv_to(c, frank, acme);
  argv.push_back("echo up; sleep 60");
  Process on_c(argv, d->dir() + "/frank-c.log");
  ASSERT_TRUE(wait_for([&] { return read_text(d->dir() + "/frank-c.log").find("up") != std::string::npos; }, 15000))
      << read_text(d->dir() + "/frank-c.log");
  auto began = Clock::now();
  d->ctl_ok({"elevate", "revoke", grant, "--reason", "incident over"});
  EXPECT_GE(on_c.wait(5000), 0) << read_text(d->dir() + "/frank-c.log");
  std::printf("grant revoked on node A to the session's end on node C: %lld ms\n", ms_since(began));
  EXPECT_LT(ms_since(began), 2000);
}

// kill -9 of node B mid-session: its client is cut off with it, and the
// others record its session as ended unclean (once), keeping the chain whole.
TEST_F(Cluster, ANodeKilledMidSessionHasItsSessionsEndedByTheOthers) {
  SshKeyFiles dave = person("dave", "E400");
  Process on_b = long_session(b, dave, d->dir() + "/dave-b.log");
  auto live = nlohmann::json::parse(d->ctl_ok({"sessions", "list", "--live", "--json", "--user", "dave"}));
  ASSERT_EQ(live.size(), 1u) << live.dump();
  std::string id = live[0]["id"];
  // Node B leads when it dies: another node takes the lead over once B is down.
  d->sql_exec("UPDATE claims SET node = 'node-b' WHERE item = 'cluster-lead'");
  ASSERT_TRUE(wait_for(
      [&] { return read_text(d->dir() + "/bastiond.log").find("no longer leads the cluster") != std::string::npos; },
      5000))
      << read_text(d->dir() + "/bastiond.log");
  d->kill_node("node-b");
  EXPECT_GE(on_b.wait(10000), 0);
  auto killed = Clock::now();
  nlohmann::json row;
  ASSERT_TRUE(wait_for(
      [&] {
        row = nlohmann::json::parse(d->ctl_ok({"sessions", "list", "--json", "--user", "dave"}))[0];
        return !row["ended_at"].is_null();
      },
      30000))
      << row.dump();
  std::printf("node B killed to its session ended by another node: %lld ms\n", ms_since(killed));
  EXPECT_NE(row["end_reason"].get<std::string>().find("ended unclean: gateway node node-b stopped"), std::string::npos)
      << row.dump();
  auto ends = nlohmann::json::parse(d->ctl_ok({"audit", "list", "--json", "--action", "session.end"}));
  int for_it = 0;
  for (const auto& r : ends) for_it += r["session_id"] == id;
  EXPECT_EQ(for_it, 1) << ends.dump();
  auto verify = d->ctl({"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
  auto nodes = d->ctl_ok({"nodes", "list"});
  EXPECT_NE(nodes.find("node-b"), std::string::npos) << nodes;
  EXPECT_NE(nodes.find("down"), std::string::npos) << nodes;
  std::string lead;
  ASSERT_TRUE(wait_for(
      [&] {
        lead =
            read_text(d->dir() + "/bastiond.log") + read_text(d->node_log("node-c")) + read_text(d->node_log("node-s"));
        return lead.find(
                   "now leads the cluster (grant expiry, scheduled HR events, checkpoints, syslog, retention) "
                   "after node node-b stopped") != std::string::npos;
      },
      15000))
      << lead;
  EXPECT_EQ(d->sql_int64("SELECT COUNT(*) FROM claims WHERE item = 'cluster-lead' AND node = 'node-b'"), 0);
}

}  // namespace
}  // namespace bastion::e2e

namespace bastion::e2e {
namespace {

// A PostgreSQL server of this test's own (scripts/postgres-test.sh), which it
// stops and starts; stopped for good when the test ends.
class OwnServer {
 public:
  explicit OwnServer(const std::string& dir) : urlfile_(dir + "/pg.url") {
    auto r = run({script(), "start", urlfile_}, {}, "", 120000);
    if (r.exit_code != 0) throw std::runtime_error("postgres-test.sh start: " + r.err);
    url_ = read_text(urlfile_);
    url_ = url_.substr(0, url_.find('\n'));
  }
  ~OwnServer() { run({script(), "stop", urlfile_}); }
  OwnServer(const OwnServer&) = delete;
  OwnServer& operator=(const OwnServer&) = delete;
  [[nodiscard]] const std::string& url() const { return url_; }
  void pause() { EXPECT_EQ(run({script(), "pause", urlfile_}).exit_code, 0); }
  void resume() { EXPECT_EQ(run({script(), "resume", urlfile_}, {}, "", 60000).exit_code, 0); }

 private:
  static std::string script() { return std::string(BASTION_SOURCE_DIR) + "/scripts/postgres-test.sh"; }
  std::string urlfile_, url_;
};

// PostgreSQL stops during a login storm through node A while alice has a
// session through node B, and a leaver file for her arrives on A meanwhile.
// Logins fail closed while it is down; her session goes on; once it is back
// the leaver is applied once and ends her session on B; every login that
// succeeded is recorded, and the chain verifies.
TEST(ClusterOutage, PostgresqlStoppedAndStartedDuringALoginStorm) {
  if (!test_support::under_postgres()) GTEST_SKIP() << "several gateway nodes share PostgreSQL, not a SQLite file";
  char tmpl[] = "/tmp/bastion-outage-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  ::chmod(dir.c_str(), 0755);
  OwnServer server(dir);
  if (server.url().starts_with("unavailable")) GTEST_SKIP() << server.url();
  Deployment d{Deployment::OnDatabase{server.url()}};
  int metrics = free_port();
  d.edit_config("max_connections_per_source = 8",
                "metrics_listen = \"127.0.0.1:" + std::to_string(metrics) + "\"\nmax_connections_per_source = 8");
  ASSERT_TRUE(wait_for([&] { return port_open(metrics); }, 10000)) << d.gateway_log();
  EXPECT_EQ(http_get(metrics, "/healthz").rfind("HTTP/1.1 200", 0), 0u);
  int b = d.add_node("node-b");
  d.ctl_ok({"user", "add", "alice", "--employee-id", "E1", "--role", "ops"});
  SshKeyFiles alice = d.enroll_sk_key("alice");
  d.ctl_ok({"user", "add", "bob", "--employee-id", "E2", "--role", "ops"});
  SshKeyFiles bob = d.enroll_sk_key("bob");
  std::string dest = d.login() + "@prod-db-1";

  auto argv = d.ssh_argv_to(b, alice, dest);
  argv.push_back("echo up; sleep 60");
  Process on_b(argv, dir + "/alice-b.log");
  ASSERT_TRUE(wait_for([&] { return read_text(dir + "/alice-b.log").find("up") != std::string::npos; }, 15000));

  // Four clients log in one after the other, for 10 s.
  std::atomic<bool> stop{false};
  std::mutex mu;
  int ok = 0;
  std::vector<std::string> refusals;
  std::vector<std::thread> storm;
  for (int i = 0; i < 4; ++i) {
    storm.emplace_back([&] {
      while (!stop) {
        auto r = d.ssh(bob, dest, {"true"});
        std::lock_guard lock(mu);
        if (r.exit_code == 0) ++ok;
        else refusals.push_back(r.err);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  server.pause();
  write_text(dir + "/leaver.part",
             "{\"event_id\":\"hr-outage-1\",\"type\":\"leaver\",\"employee_id\":\"E1\",\"username\":\"alice\"}\n");
  std::filesystem::rename(dir + "/leaver.part", d.dir() + "/state/hr/incoming/leaver.jsonl");
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_TRUE(on_b.running()) << read_text(dir + "/alice-b.log");  // a live session outlasts the outage
  // The load balancer's check says node A is not ready, and why.
  std::string down = http_get(metrics, "/healthz");
  EXPECT_EQ(down.rfind("HTTP/1.1 503", 0), 0u) << down;
  EXPECT_NE(down.find("database unavailable"), std::string::npos) << down;
  int ok_before_resume = 0;
  {
    std::lock_guard lock(mu);
    ok_before_resume = ok;
  }
  server.resume();
  auto resumed = std::chrono::steady_clock::now();
  // Her session ends once the leaver is applied (A retries the spool every 5 s).
  EXPECT_GE(on_b.wait(20000), 0) << read_text(dir + "/alice-b.log");
  std::printf(
      "database back to the leaver's session ended on node B: %lld ms\n",
      static_cast<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - resumed).count()));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  stop = true;
  for (auto& t : storm) t.join();

  EXPECT_EQ(http_get(metrics, "/healthz").rfind("HTTP/1.1 200", 0), 0u);
  std::string counted = http_get(metrics, "/metrics");
  EXPECT_NE(counted.find("bastion_login_denials_total{stage=\"database\"}"), std::string::npos) << counted;
  EXPECT_NE(counted.find("bastion_database_errors_total "), std::string::npos) << counted;
  EXPECT_NE(d.gateway_log().find("refusing logins while the database is unavailable (not audited"), std::string::npos);
  EXPECT_GT(ok_before_resume, 0);
  EXPECT_GT(ok, ok_before_resume);  // logins work again
  ASSERT_FALSE(refusals.empty());   // some were refused while it was down
  std::set<std::string> said;
  for (const auto& e : refusals) said.insert(e);
  std::string all;
  for (const auto& e : said) all += "---\n" + e;
  EXPECT_NE(all.find("database"), std::string::npos) << all;
  // Every login that succeeded was recorded; the chain is whole; the leaver once.
  EXPECT_GE(d.sql_int64("SELECT COUNT(*) FROM sessions WHERE user_name = 'bob'"), ok);
  auto verify = d.ctl({"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_EQ(d.sql_int64("SELECT COUNT(*) FROM hr_events WHERE event_id = 'hr-outage-1'"), 1);
  EXPECT_EQ(d.sql_int64("SELECT COUNT(*) FROM audit_log WHERE action = 'hr.leaver' AND details LIKE '%hr-outage-1%'"),
            1);
  EXPECT_EQ(d.ssh(alice, dest, {"true"}).exit_code, 255);
}

}  // namespace
}  // namespace bastion::e2e
