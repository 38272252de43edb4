#include "gateway/web/web_process.h"

#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <thread>
#include <cstdio>
#include <memory>
#include <mutex>

#include "common/clock.h"
#include "gateway/app/daemon_log.h"
#include "gateway/app/monitor_protocol.h"
#include "gateway/web/metrics_server.h"
#include "gateway/web/web_server.h"

namespace bastion::gateway {
namespace {

WebServer* g_server = nullptr;
volatile std::sig_atomic_t g_terminated = 0;
void on_term(int) {
  g_terminated = 1;
  if (g_server != nullptr) g_server->request_stop();
}

WebReply unavailable() { return {503, {{"error", "the gateway is not answering; try again in a minute"}}}; }

}  // namespace

struct MonitorWebBackend::Impl {
  Impl(int monitor_fd, int timeout) : fd(monitor_fd), timeout_ms(timeout) {}
  int fd;
  int timeout_ms;
  std::mutex mu;
  bool broken = false;

  WebReply call(monitor::WebCall::Op op, const std::string& key, const nlohmann::json* body) {
    std::lock_guard lock(mu);
    if (broken) return unavailable();
    monitor::WebCall c{op, key, body == nullptr ? std::string() : body->dump()};
    if (c.body.size() > monitor::kMaxWebBody) return {413, {{"error", "request too large"}}};
    if (auto st = monitor::send_message(fd, c); !st) {
      daemon_log("web", st.message());
      broken = true;
      return unavailable();
    }
    // One answer per call, in order; no other message is expected.
    Micros deadline = SystemClock::instance().now() + static_cast<Micros>(timeout_ms) * 1000;
    for (;;) {
      Micros left = deadline - SystemClock::instance().now();
      pollfd p{fd, POLLIN, 0};
      int rc = left <= 0 ? 0 : ::poll(&p, 1, static_cast<int>(left / 1000) + 1);
      if (rc < 0 && errno == EINTR) continue;
      if (rc <= 0) {
        // An answer may still come; it would be taken for the next call's.
        daemon_log("web", "the monitor did not answer a web call in time");
        broken = true;
        return unavailable();
      }
      // A console answer may hand over a recording's file (SCM_RIGHTS).
      auto r = monitor::recv_message(fd, 0, op == monitor::WebCall::kConsole, monitor::kMaxWebMessage);
      using Kind = monitor::Received::Kind;
      if (r.kind == Kind::kNothing) continue;
      const auto* a = r.kind == Kind::kMessage ? std::get_if<monitor::WebAnswer>(&r.message) : nullptr;
      auto json = a == nullptr ? nlohmann::json() : nlohmann::json::parse(a->body, nullptr, false);
      if (a == nullptr || json.is_discarded() || a->status < 100 || a->status > 599) {
        daemon_log("web", r.kind == Kind::kClosed ? "the monitor closed the web channel"
                                                  : "malformed answer from the monitor");
        broken = true;
        return unavailable();
      }
      WebReply reply{static_cast<int>(a->status), std::move(json)};
      if (r.fd) reply.file = std::make_shared<UniqueFd>(std::move(r.fd));
      return reply;
    }
  }
};

MonitorWebBackend::MonitorWebBackend(int monitor_fd, int timeout_ms)
    : impl_(std::make_unique<Impl>(monitor_fd, timeout_ms)) {}
MonitorWebBackend::~MonitorWebBackend() = default;

using Op = monitor::WebCall::Op;
WebReply MonitorWebBackend::invite_info(const std::string& token) {
  return impl_->call(Op::kInviteInfo, token, nullptr);
}
WebReply MonitorWebBackend::invite_options(const std::string& token) {
  return impl_->call(Op::kInviteOptions, token, nullptr);
}
WebReply MonitorWebBackend::invite_register(const std::string& token, const nlohmann::json& credential) {
  return impl_->call(Op::kInviteRegister, token, &credential);
}
WebReply MonitorWebBackend::stepup_info(const std::string& code) { return impl_->call(Op::kStepUpInfo, code, nullptr); }
WebReply MonitorWebBackend::stepup_options(const std::string& code) {
  return impl_->call(Op::kStepUpOptions, code, nullptr);
}
WebReply MonitorWebBackend::stepup_assert(const std::string& code, const nlohmann::json& credential) {
  return impl_->call(Op::kStepUpAssert, code, &credential);
}
WebReply MonitorWebBackend::health() { return impl_->call(Op::kHealth, "", nullptr); }
WebReply MonitorWebBackend::metrics() { return impl_->call(Op::kMetrics, "", nullptr); }
WebReply MonitorWebBackend::console(const std::string& op, const nlohmann::json& call) {
  return impl_->call(Op::kConsole, op, &call);
}
WebReply MonitorWebBackend::scim(const nlohmann::json& call) { return impl_->call(Op::kScim, "scim", &call); }

[[noreturn]] void run_web_process(const Config& cfg, int monitor_fd, const std::function<Status()>& enter_sandbox) {
  prctl(PR_SET_NAME, "bastiond-web");  // tells it apart in ps and /proc
  MonitorWebBackend backend(monitor_fd);
  WebServerOptions opt;
  opt.cert_pem_path = cfg.tls_cert;
  opt.key_pem_path = cfg.tls_key;
  opt.bind_address = cfg.web_listen_host;
  opt.port = cfg.web_listen_port;
  opt.log = [](const std::string& line) { daemon_log("web", line); };
  opt.max_connections = static_cast<size_t>(cfg.web_max_connections);
  opt.max_connections_per_source = static_cast<size_t>(cfg.web_max_connections_per_source);
  // Workers: enough that the per-source share of a few slow sources leaves room for everyone else.
  opt.threads =
      std::min<size_t>(opt.max_connections, std::max<size_t>(opt.threads, 4 * opt.max_connections_per_source));
  // Watches have connections and workers of their own, beyond the pages'.
  opt.max_watches = static_cast<size_t>(cfg.web_max_watches);
  opt.max_connections += opt.max_watches;
  WebServer server(backend, opt);
  const bool pages = !cfg.public_url.empty();  // else health and metrics only
  if (pages) {
    if (auto st = server.start(); !st) {
      daemon_log("web", "cannot serve " + cfg.public_url + ": " + st.message());
      std::fflush(stderr);
      ::_exit(1);
    }
  }
  std::unique_ptr<MetricsServer> metrics;
  if (cfg.metrics_listen_port != 0) {
    metrics = std::make_unique<MetricsServer>(backend, cfg.metrics_listen_host, cfg.metrics_listen_port);
    if (auto st = metrics->start(); !st) {
      daemon_log("web", st.message());
      std::fflush(stderr);
      ::_exit(1);
    }
  }
  // SECURITY: the TLS key is loaded and the port bound; nothing a browser
  // sends is parsed outside the sandbox.
  if (auto st = enter_sandbox(); !st) {
    daemon_log("web", "cannot enter the sandbox: " + st.message());
    std::fflush(stderr);
    ::_exit(1);
  }
  if (metrics) {
    metrics->run_in_background();
    daemon_log("web", "health and metrics on http://" + cfg.metrics_listen_host + ":" +
                          std::to_string(cfg.metrics_listen_port) + "/healthz and /metrics");
  }
  std::signal(SIGTERM, on_term);
  if (!pages) {
    // The metrics thread serves until SIGTERM or the supervisor's death (PDEATHSIG).
    while (g_terminated == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::fflush(stderr);
    ::_exit(0);
  }
  g_server = &server;
  if (g_terminated != 0) ::_exit(0);  // SIGTERM came before g_server was set
  daemon_log("web", "serving " + cfg.public_url + " on " + cfg.web_listen_host + ":" + std::to_string(server.port()));
  server.run();
  g_server = nullptr;
  std::fflush(stderr);
  ::_exit(0);
}

}  // namespace bastion::gateway
