#include "gateway/app/metrics.h"

#include <cstdio>
#include <stdexcept>

namespace bastion::gateway {
namespace {

std::string number(double v) {
  char buf[64];
  if (v == static_cast<double>(static_cast<int64_t>(v)) && v < 1e15 && v > -1e15) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  } else {
    std::snprintf(buf, sizeof buf, "%.9g", v);
  }
  return buf;
}

// `key=value` as Prometheus writes it: {key="value"}.
std::string braces(const std::string& label, const std::string& extra = "") {
  std::string inner;
  if (!label.empty()) {
    auto eq = label.find('=');
    inner = label.substr(0, eq) + "=\"" + label.substr(eq + 1) + "\"";
  }
  if (!extra.empty()) inner += (inner.empty() ? "" : ",") + extra;
  return inner.empty() ? "" : "{" + inner + "}";
}

}  // namespace

void Metrics::declare(const std::string& name, Type type, const std::string& help, std::vector<double> buckets) {
  Metric m;
  m.type = type;
  m.help = help;
  if (type == Type::kHistogram) {
    m.histogram.bounds = std::move(buckets);
    m.histogram.counts.assign(m.histogram.bounds.size() + 1, 0);
  } else {
    m.values[""] = 0;
  }
  metrics_.emplace_back(name, std::move(m));
}

Metrics::Metric* Metrics::find(const std::string& name) {
  for (auto& [n, m] : metrics_) {
    if (n == name) return &m;
  }
  throw std::logic_error("metric " + name + " was not declared");
}

const Metrics::Metric* Metrics::find(const std::string& name) const {
  for (const auto& [n, m] : metrics_) {
    if (n == name) return &m;
  }
  throw std::logic_error("metric " + name + " was not declared");
}

void Metrics::add(const std::string& name, const std::string& label, double v) {
  Metric* m = find(name);
  if (!label.empty()) m->values.erase("");  // a labelled family has no unlabelled sample
  m->values[label] += v;
}

void Metrics::set(const std::string& name, double v, const std::string& label) { find(name)->values[label] = v; }

void Metrics::observe(const std::string& name, double seconds) {
  Histogram& h = find(name)->histogram;
  size_t i = 0;
  while (i < h.bounds.size() && seconds > h.bounds[i]) ++i;
  ++h.counts[i];
  h.sum += seconds;
  ++h.count;
}

double Metrics::value(const std::string& name, const std::string& label) const {
  const Metric* m = find(name);
  if (m->type == Type::kHistogram) return static_cast<double>(m->histogram.count);
  auto it = m->values.find(label);
  return it == m->values.end() ? 0 : it->second;
}

std::string Metrics::render() const {
  std::string out;
  for (const auto& [name, m] : metrics_) {
    const char* type = m.type == Type::kCounter ? "counter" : m.type == Type::kGauge ? "gauge" : "histogram";
    out += "# HELP " + name + " " + m.help + "\n# TYPE " + name + " " + type + "\n";
    if (m.type != Type::kHistogram) {
      for (const auto& [label, v] : m.values) out += name + braces(label) + " " + number(v) + "\n";
      continue;
    }
    const Histogram& h = m.histogram;
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h.bounds.size(); ++i) {
      cumulative += h.counts[i];
      out +=
          name + "_bucket" + braces("", "le=\"" + number(h.bounds[i]) + "\"") + " " + std::to_string(cumulative) + "\n";
    }
    out += name + "_bucket{le=\"+Inf\"} " + std::to_string(h.count) + "\n";
    out += name + "_sum " + number(h.sum) + "\n" + name + "_count " + std::to_string(h.count) + "\n";
  }
  return out;
}

Metrics gateway_metrics() {
  using T = Metrics::Type;
  Metrics m;
  m.declare("bastion_sessions_live", T::kGauge, "Live SSH sessions on this node.");
  m.declare("bastion_connections", T::kGauge, "Connection processes on this node (logging in or live).");
  m.declare("bastion_logins_total", T::kCounter, "Logins accepted on this node since it started.");
  m.declare("bastion_login_denials_total", T::kCounter,
            "Logins refused on this node, by stage: key (probe of an unknown, revoked or inactive key), auth "
            "(signed key refused), access (no role or grant), step_up, backoff, database (unavailable).");
  m.declare("bastion_step_ups_total", T::kCounter, "WebAuthn step-ups that ended, by outcome.");
  m.declare("bastion_grants_active", T::kGauge, "Elevation grants active now (cluster-wide, from the database).");
  m.declare("bastion_sessions_killed_total", T::kCounter,
            "Sessions this node ended because access changed (leaver, revocation, grant end, kill).");
  m.declare("bastion_revocation_latency_seconds", T::kHistogram,
            "From another node publishing a revocation to this node acting on it.",
            {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  m.declare("bastion_audit_commit_seconds", T::kHistogram,
            "The monitor's group commits of audit records (durable before any answer goes out).",
            {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1});
  m.declare("bastion_hr_events_total", T::kCounter, "HR events from the spool, by outcome.");
  m.declare("bastion_scim_requests_total", T::kCounter,
            "SCIM requests answered, by HTTP status (401: no or a bad token; 429: over the rate).");
  m.declare("bastion_notifications", T::kGauge,
            "Notifications in the outbox (cluster-wide), by state: pending (waiting or retrying), sent, failed.");
  m.declare("bastion_database_errors_total", T::kCounter,
            "Database failures the monitor met (unreachable, a failed group commit).");
  m.declare("bastion_revocations_unpublished", T::kGauge,
            "Revocations this node has not yet been able to publish to the other nodes.");
  m.declare("bastion_cluster_lead", T::kGauge,
            "1 when this node leads the cluster (grant expiry, scheduled HR events, checkpoints, retention).");
  return m;
}

}  // namespace bastion::gateway
