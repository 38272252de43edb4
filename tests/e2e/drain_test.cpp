// bastionctl drain before a restart: new logins are refused with a message,
// the load balancer's health check says "draining", live sessions are told,
// and those still running at the deadline are ended.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fixture.h"

namespace bastion::e2e {
namespace {

TEST(Drain, NewLoginsAreRefusedLiveSessionsAreToldAndTheDeadlineEndsThem) {
  Deployment d;
  SshKeyFiles alice = d.add_person("alice", {"ops"});
  const int health = free_port();
  d.edit_config("max_connections_per_source = 8",
                "metrics_listen = \"127.0.0.1:" + std::to_string(health) + "\"\nmax_connections_per_source = 8");
  ASSERT_TRUE(wait_for([&] { return port_open(health); }, 10000)) << d.gateway_log();
  EXPECT_EQ(http_get(health, "/healthz").rfind("HTTP/1.1 200", 0), 0u);

  // An interactive session (a terminal), which is told; a command, which is not.
  auto argv = d.ssh_argv(alice, d.login() + "@prod-db-1", {"-tt"});
  argv.push_back("echo up; sleep 60");
  const std::string log = d.dir() + "/live.log";
  Process live(argv, log);
  ASSERT_TRUE(wait_for([&] { return read_text(log).find("up") != std::string::npos; }, 15000)) << read_text(log);

  Process drain({BASTIONCTL_PATH, "--config", d.config(), "drain", "--deadline", "4s", "--message", "kernel update"},
                d.dir() + "/drain.log");
  EXPECT_TRUE(wait_for(
      [&] {
        return read_text(log).find("this gateway is going down for maintenance (kernel update)") != std::string::npos;
      },
      10000))
      << read_text(log);
  EXPECT_TRUE(live.running());

  auto refused = d.ssh(alice, d.login() + "@prod-db-1", {"true"});
  EXPECT_EQ(refused.exit_code, 255);
  EXPECT_NE(refused.err.find("this gateway node is draining for maintenance (kernel update)"), std::string::npos)
      << refused.err;
  std::string h = http_get(health, "/healthz");
  EXPECT_EQ(h.rfind("HTTP/1.1 503", 0), 0u) << h;
  EXPECT_NE(h.find("\"status\":\"draining\""), std::string::npos) << h;

  // The deadline: the live session is ended with a reason, and drain is done.
  EXPECT_EQ(drain.wait(30000), 0) << read_text(d.dir() + "/drain.log");
  EXPECT_GE(live.wait(10000), 0);
  EXPECT_NE(read_text(log).find("session ended: the gateway is restarting for maintenance"), std::string::npos)
      << read_text(log);
  std::string said = read_text(d.dir() + "/drain.log");
  EXPECT_NE(said.find("1 live session(s) told"), std::string::npos) << said;
  EXPECT_NE(said.find("the deadline passed: ending 1 live session(s)"), std::string::npos) << said;
  EXPECT_NE(said.find("drained: no live sessions"), std::string::npos) << said;
  auto audited = nlohmann::json::parse(d.ctl_ok({"audit", "list", "--action", "gateway.drain", "--json"}));
  ASSERT_EQ(audited.size(), 1u);
  EXPECT_EQ(audited[0]["reason"], "kernel update");
  bool denial = false;
  for (const auto& r : nlohmann::json::parse(d.ctl_ok({"audit", "list", "--action", "auth", "--json"}))) {
    denial |= r["outcome"] == "deny" && r["reason"].get<std::string>().find("draining") != std::string::npos;
  }
  EXPECT_TRUE(denial);

  // Cancelled: logins are taken again.
  auto cancel = d.ctl({"drain", "--cancel"});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_EQ(d.ssh(alice, d.login() + "@prod-db-1", {"true"}).exit_code, 0);
  EXPECT_EQ(http_get(health, "/healthz").rfind("HTTP/1.1 200", 0), 0u);
  auto again = d.ctl({"drain", "--cancel"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("not draining"), std::string::npos) << again.err;
  auto bad = d.ctl({"drain", "--deadline", "forever"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
}

}  // namespace
}  // namespace bastion::e2e
