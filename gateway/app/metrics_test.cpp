// Metrics: the Prometheus text exposition the web process serves on /metrics.
#include "gateway/app/metrics.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace bastion::gateway {
namespace {

TEST(Metrics, CountersGaugesAndLabelsRenderAsPrometheusText) {
  Metrics m;
  m.declare("x_total", Metrics::Type::kCounter, "Things.");
  m.declare("y", Metrics::Type::kGauge, "Level.");
  m.add("x_total", "stage=key");
  m.add("x_total", "stage=key");
  m.add("x_total", "stage=auth", 3);
  m.set("y", 2.5);
  EXPECT_EQ(m.value("x_total", "stage=key"), 2);
  EXPECT_EQ(m.render(),
            "# HELP x_total Things.\n# TYPE x_total counter\n"
            "x_total{stage=\"auth\"} 3\nx_total{stage=\"key\"} 2\n"
            "# HELP y Level.\n# TYPE y gauge\ny 2.5\n");
}

TEST(Metrics, HistogramBucketsAreCumulativeWithSumAndCount) {
  Metrics m;
  m.declare("h_seconds", Metrics::Type::kHistogram, "Waits.", {0.1, 1});
  m.observe("h_seconds", 0.05);
  m.observe("h_seconds", 0.5);
  m.observe("h_seconds", 5);
  EXPECT_EQ(m.render(),
            "# HELP h_seconds Waits.\n# TYPE h_seconds histogram\n"
            "h_seconds_bucket{le=\"0.1\"} 1\nh_seconds_bucket{le=\"1\"} 2\nh_seconds_bucket{le=\"+Inf\"} 3\n"
            "h_seconds_sum 5.55\nh_seconds_count 3\n");
}

TEST(Metrics, TheGatewaysMetricsAreDeclaredAndAnUndeclaredOneIsABug) {
  Metrics m = gateway_metrics();
  std::string text = m.render();
  for (const char* name : {"bastion_sessions_live", "bastion_logins_total", "bastion_login_denials_total",
                           "bastion_revocation_latency_seconds", "bastion_audit_commit_seconds",
                           "bastion_database_errors_total", "bastion_cluster_lead"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + name + " "), std::string::npos) << name;
  }
  EXPECT_THROW(m.add("bastion_no_such_thing"), std::logic_error);
}

}  // namespace
}  // namespace bastion::gateway
