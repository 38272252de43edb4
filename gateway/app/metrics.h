// Metrics: what one gateway node counts for Prometheus (the text exposition
// format, version 0.0.4), served on [web] metrics_listen by the web process.
//
// Contract: counters only go up, from the start of this bastiond; gauges are
// set by their owner before render(); histograms have fixed buckets (in
// seconds) chosen per metric. Label values are a small fixed vocabulary
// chosen by the code (a denial's stage, an outcome), never free text from a
// request: the audit log has the reasons. Not thread-safe: the supervisor's
// loop owns it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace bastion::gateway {

class Metrics {
 public:
  enum class Type { kCounter, kGauge, kHistogram };
  // Declares a metric once (name, type, help; buckets for histograms).
  void declare(const std::string& name, Type type, const std::string& help, std::vector<double> buckets = {});
  // Counter += v (`label` is "key=value" or "").
  void add(const std::string& name, const std::string& label = "", double v = 1);
  void set(const std::string& name, double v, const std::string& label = "");
  void observe(const std::string& name, double seconds);
  [[nodiscard]] double value(const std::string& name, const std::string& label = "") const;
  [[nodiscard]] std::string render() const;

 private:
  struct Histogram {
    std::vector<double> bounds;
    std::vector<uint64_t> counts;  // per bucket (not cumulative); the last is +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  struct Metric {
    Type type = Type::kCounter;
    std::string help;
    std::map<std::string, double> values;  // by label
    Histogram histogram;
  };
  std::vector<std::pair<std::string, Metric>> metrics_;  // in declaration order
  Metric* find(const std::string& name);
  [[nodiscard]] const Metric* find(const std::string& name) const;
};

// The gateway's metrics, declared (gateway/app/metrics.cpp lists them with their help).
Metrics gateway_metrics();

}  // namespace bastion::gateway
