#include "gateway/web/metrics_server.h"

#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#error "build with cpp-httplib's own flags (pkg-config cpp-httplib): Debian's libcpp-httplib is built with OpenSSL"
#endif
#include <httplib.h>

#include <thread>

namespace bastion::gateway {

struct MetricsServer::Impl {
  WebBackend& backend;
  std::string host;
  int port;
  httplib::Server server;
  std::thread thread;

  Impl(WebBackend& b, std::string h, int p) : backend(b), host(std::move(h)), port(p) {}
};

MetricsServer::MetricsServer(WebBackend& backend, std::string host, int port)
    : impl_(std::make_unique<Impl>(backend, std::move(host), port)) {
  auto& svr = impl_->server;
  // Two workers and short deadlines: a scraper and a health checker at a time.
  svr.new_task_queue = [] { return new httplib::ThreadPool(2); };
  svr.set_read_timeout(5, 0);
  svr.set_write_timeout(5, 0);
  svr.set_keep_alive_max_count(10);
  svr.set_payload_max_length(1024);
  WebBackend& b = impl_->backend;
  svr.Get("/healthz", [&b](const httplib::Request&, httplib::Response& res) {
    WebReply r = b.health();
    res.status = r.status;
    res.set_content(r.body.dump() + "\n", "application/json");
  });
  svr.Get("/metrics", [&b](const httplib::Request&, httplib::Response& res) {
    WebReply r = b.metrics();
    if (r.status != 200 || !r.body.contains("text") || !r.body["text"].is_string()) {
      res.status = r.status == 200 ? 500 : r.status;
      res.set_content("metrics unavailable\n", "text/plain");
      return;
    }
    res.set_content(r.body["text"].get<std::string>(), "text/plain; version=0.0.4; charset=utf-8");
  });
  // Only for what no handler answered (a 503 from /healthz keeps its reason).
  svr.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    res.set_content(res.status == 404 ? "not found: GET /healthz or GET /metrics\n" : "error\n", "text/plain");
  });
}

MetricsServer::~MetricsServer() {
  stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

Status MetricsServer::start() {
  if (impl_->port == 0) {
    int p = impl_->server.bind_to_any_port(impl_->host);
    if (p <= 0) return make_error("cannot listen on " + impl_->host + " (metrics_listen)");
    impl_->port = p;
    return {};
  }
  if (!impl_->server.bind_to_port(impl_->host, impl_->port)) {
    return make_error("cannot listen on " + impl_->host + ":" + std::to_string(impl_->port) + " (metrics_listen)");
  }
  return {};
}

int MetricsServer::port() const { return impl_->port; }

void MetricsServer::run_in_background() {
  impl_->thread = std::thread([this] { impl_->server.listen_after_bind(); });
}

void MetricsServer::stop() { impl_->server.stop(); }

}  // namespace bastion::gateway
