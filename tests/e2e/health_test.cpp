// [web] metrics_listen: GET /healthz for a load balancer and GET /metrics
// for Prometheus, served by the web process, answered by the monitor.
#include <gtest/gtest.h>

#include <regex>

#include "fixture.h"

namespace bastion::e2e {
namespace {

// The value of the first sample `series` (e.g. bastion_logins_total or
// bastion_login_denials_total{stage="key"}) in an exposition; -1 if absent.
double sample(const std::string& text, const std::string& series) {
  size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

// Sets [web] metrics_listen to 127.0.0.1:`port` (restarting bastiond) and
// expects GET /healthz to say the node is ready.
void serve_metrics_and_expect_ready(Deployment& d, int port) {
  d.edit_config("max_connections_per_source = 8",
                "metrics_listen = \"127.0.0.1:" + std::to_string(port) + "\"\nmax_connections_per_source = 8");
  ASSERT_TRUE(wait_for([&] { return port_open(port); }, 10000)) << d.gateway_log();
  std::string health = http_get(port, "/healthz");
  EXPECT_EQ(health.rfind("HTTP/1.1 200", 0), 0u) << health;
  EXPECT_NE(health.find("\"status\":\"ready\""), std::string::npos) << health;
}

TEST(Health, HealthzAndMetricsAnswerALoadBalancerAndPrometheus) {
  Deployment d;
  SshKeyFiles alice = d.add_person("alice", {"ops"});
  int port = free_port();
  ASSERT_NO_FATAL_FAILURE(serve_metrics_and_expect_ready(d, port));

  // A login, and a key the gateway does not know.
  ASSERT_EQ(d.ssh(alice, d.login() + "@prod-db-1", {"true"}).exit_code, 0);
  SshKeyFiles stranger = d.make_sk_key("stranger");
  EXPECT_EQ(d.ssh(stranger, d.login() + "@prod-db-1", {"true"}).exit_code, 255);

  std::string metrics = http_get(port, "/metrics");
  EXPECT_EQ(metrics.rfind("HTTP/1.1 200", 0), 0u) << metrics;
  EXPECT_NE(metrics.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << metrics;
  EXPECT_GE(sample(metrics, "bastion_logins_total"), 1) << metrics;
  EXPECT_GE(sample(metrics, "bastion_login_denials_total{stage=\"key\"}"), 1) << metrics;
  EXPECT_GE(sample(metrics, "bastion_sessions_live"), 0) << metrics;
  EXPECT_GE(sample(metrics, "bastion_audit_commit_seconds_count"), 1) << metrics;
  EXPECT_EQ(sample(metrics, "bastion_cluster_lead"), 1) << metrics;
  EXPECT_NE(metrics.find("# TYPE bastion_revocation_latency_seconds histogram"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("bastion_audit_commit_seconds_bucket{le=\"+Inf\"}"), std::string::npos) << metrics;
  // No names, keys or reasons: counts only.
  EXPECT_EQ(metrics.find("alice"), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("SHA256:"), std::string::npos) << metrics;

  std::string other = http_get(port, "/invite/x");
  EXPECT_EQ(other.rfind("HTTP/1.1 404", 0), 0u) << other;
}

// A node without web pages ([web] public_url unset: no step-ups, no
// enrolment) still answers its load balancer's health check.
TEST(Health, ANodeWithoutWebPagesStillServesHealthz) {
  Deployment d;
  SshKeyFiles alice = d.add_person("alice", {"ops"});
  int port = free_port();
  d.edit_config("public_url = \"", "# public_url = \"");
  ASSERT_NO_FATAL_FAILURE(serve_metrics_and_expect_ready(d, port));
  std::string log = d.gateway_log();
  log = log.substr(log.rfind("listening on"));  // this run's lines
  EXPECT_NE(log.find("health and metrics on http://127.0.0.1:" + std::to_string(port)), std::string::npos) << log;
  EXPECT_EQ(log.find("serving https://"), std::string::npos) << log;
  EXPECT_EQ(d.ssh(alice, d.login() + "@prod-db-1", {"true"}).exit_code, 0);
  auto checked = run({BASTIOND_PATH, "--config", d.config(), "--check"});
  EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;
  EXPECT_NE(checked.out.find("ok      web process (health and metrics only)"), std::string::npos) << checked.out;
}

}  // namespace
}  // namespace bastion::e2e
