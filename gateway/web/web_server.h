// WebServer: the HTTPS front end for WebAuthn registration (/invite/TOKEN)
// and step-up (/mfa/CODE). It serves the pages and the static script, checks
// the syntax of tokens and the shape of requests, and hands everything else
// to a WebBackend; it decides nothing itself.
//
// Routes:
//   GET  /invite/TOKEN, /mfa/CODE          HTML page (no inline script)
//   GET  /static/app.js, /static/style.css
//   GET  /healthz                           200 "ok"
//   POST /api/invite/TOKEN/options|register, /api/mfa/CODE/options|assert
//        JSON in (Content-Type application/json, at most max_body bytes),
//        JSON out; 400 for anything else, 413 when too large.
// TOKEN and CODE are 1..64 of [A-Za-z0-9-]; anything else is 404 and never
// reaches the backend. Every response carries the security headers (CSP,
// nosniff, no-referrer, no-store, HSTS).
//
// Lifetime: construct, start() once, run() once (blocks), stop(); destroy
// only after run() has returned. The backend must outlive the server.
// Thread-safety: stop() and request_stop() may be called from any thread
// while run() blocks; everything else from one thread. In bastiond, the
// supervisor's signalfd loop calls stop(); a plain signal handler may call
// only request_stop().
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "gateway/app/web_backend.h"

namespace bastion::gateway {

struct WebServerOptions {
  std::string cert_pem_path;  // PEM certificate chain, leaf first
  std::string key_pem_path;   // PEM private key of the leaf
  std::string bind_address = "127.0.0.1";
  int port = 8443;              // 0: any free port (see WebServer::port())
  size_t max_body = 64 * 1024;  // bytes; larger request bodies get 413
  // Workers: connections served at once; admitted ones beyond wait in a
  // queue (their deadlines run meanwhile). Larger than a few sources' worth
  // of max_connections_per_source, so a slowloris from a few addresses
  // leaves workers for everyone else.
  size_t threads = 32;
  // One line per request ("GET /mfa/K7Q2... 200 from 10.0.0.5"); tokens are
  // cut to their first 4 characters. Empty: no request log.
  std::function<void(const std::string&)> log;
  // SECURITY: limits before authentication (issue 13). A connection over
  // either bound is closed as soon as it is accepted, before any TLS work,
  // and a source that hits its bound is logged (one line per 10 s at most).
  size_t max_connections = 64;            // open connections in total
  size_t max_connections_per_source = 8;  // open connections per client IP address
  // The TLS handshake, request line and headers must all have arrived this
  // long after the connection was accepted (after the previous response on
  // a kept-alive connection): a total, not a per-read timeout.
  std::chrono::milliseconds header_deadline{5000};
  // The request body must have arrived this long after its headers.
  std::chrono::milliseconds body_deadline{10000};
  // Live watches that stream at once (0: none). Each holds a connection and
  // a worker for as long as it lasts: the workers are `threads` for pages
  // plus these, so pages are served however many watch.
  size_t max_watches = 16;
};

class WebServer {
 public:
  WebServer(WebBackend& backend, WebServerOptions options);
  ~WebServer();
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  // Loads the certificate and key and binds the socket. Errors: certificate
  // or key unreadable or not matching, address/port unavailable.
  Status start();
  // The bound port (after start(); useful with port 0).
  [[nodiscard]] int port() const;
  // Serves until stop() or request_stop(). Requires a successful start().
  void run();
  // Closes the listening socket at once; run() returns once the connections
  // in progress are done (idle keep-alive ones end within header_deadline). Works before
  // run() too (run() then returns at once). Thread-safe; not
  // async-signal-safe (use request_stop()).
  void stop();
  // Async-signal-safe (one lock-free atomic store): run() notices within
  // kStopPollMillis and then stops as stop() does. Also works before run().
  void request_stop() noexcept;

  static constexpr int kStopPollMillis = 200;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Whether `s` is a syntactically valid invite token or step-up code:
// 1..64 characters of [A-Za-z0-9-]. Exposed for tests.
bool is_valid_web_token(const std::string& s);
// `path` with the token segment after /invite/, /mfa/, /api/invite/ or
// /api/mfa/ cut to its first 4 characters plus "...". Exposed for tests.
std::string redact_web_path(const std::string& path);

}  // namespace bastion::gateway
