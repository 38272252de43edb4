// Several gateway nodes on one PostgreSQL database (runs as postgres/Cluster.*;
// under SQLite, one node per database, these skip). Node A is the
// deployment's own bastiond; B and C are copies of its state directory with
// their own ports and node names (Deployment::add_node).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
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
    b = d->add_node("node-b");
    c = d->add_node("node-c");
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

// kill -9 of node B mid-session: its client is cut off with it, and the
// others record its session as ended unclean (once), keeping the chain whole.
TEST_F(Cluster, ANodeKilledMidSessionHasItsSessionsEndedByTheOthers) {
  SshKeyFiles dave = person("dave", "E400");
  Process on_b = long_session(b, dave, d->dir() + "/dave-b.log");
  auto live = nlohmann::json::parse(d->ctl_ok({"sessions", "list", "--live", "--json", "--user", "dave"}));
  ASSERT_EQ(live.size(), 1u) << live.dump();
  std::string id = live[0]["id"];
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
}

}  // namespace
}  // namespace bastion::e2e
