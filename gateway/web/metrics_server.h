// MetricsServer: plain HTTP on [web] metrics_listen, inside the web process,
// for a load balancer's health check and for Prometheus:
//   GET /healthz  200 when the node accepts logins, reaches its database and
//                 can sign; 503 with the reason otherwise (JSON)
//   GET /metrics  the node's metrics, text exposition format 0.0.4
// Both are answered by the monitor (WebBackend::health, metrics); a monitor
// that does not answer makes /healthz 503. Nothing else is served (404), no
// request body is read, and connections get short deadlines: it is meant for
// an internal address, and carries no secrets (no names, no reasons of
// denials, only counts).
//
// Contract: start() binds (before the sandbox); run_in_background() serves
// on a thread of its own until the process ends. Not copyable.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "gateway/app/web_backend.h"

namespace bastion::gateway {

class MetricsServer {
 public:
  MetricsServer(WebBackend& backend, std::string host, int port);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  Status start();
  [[nodiscard]] int port() const;
  void run_in_background();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bastion::gateway
