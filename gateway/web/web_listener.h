// TlsListener: httplib's request parsing and routing behind our own accept
// loop and our own TLS, so that every connection is admitted against
// ConnectionLimits before any TLS work, and its handshake, headers and body
// each have an absolute deadline. httplib's own timeouts are per recv(): a
// client that sends a byte every few seconds kept a worker forever (issue
// 13). Private to gateway/web; httplib stays out of web_server.h.
//
// Lifetime: construct, bind (httplib's bind_to_port / bind_to_any_port),
// serve() once; close_listener() from any thread ends serve(), which returns
// after the connections in progress have ended.
#pragma once

#include <httplib.h>
#include <openssl/ssl.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/openssl_handles.h"

namespace bastion::gateway {

// Open connections, in total and per source address. Thread-safe.
class ConnectionLimits {
 public:
  enum class Admission { kAdmitted, kSourceFull, kTotalFull };
  ConnectionLimits(size_t max_total, size_t max_per_source) : max_total_(max_total), max_per_source_(max_per_source) {}
  // Counts the connection if both bounds allow it; else counts nothing.
  Admission admit(const std::string& source);
  // Ends a connection that admit() counted.
  void release(const std::string& source);

 private:
  std::mutex mu_;
  size_t max_total_;
  size_t max_per_source_;
  size_t total_ = 0;
  std::map<std::string, size_t> per_source_;
};

struct ListenerOptions {
  size_t threads = 32;
  size_t max_connections = 64;
  size_t max_connections_per_source = 8;
  std::chrono::milliseconds header_deadline{5000};  // from accept / from the previous response
  std::chrono::milliseconds body_deadline{10000};   // from the end of the headers
  std::chrono::milliseconds write_timeout{10000};   // per write, as httplib's
  size_t keep_alive_max_requests = 20;
  std::chrono::milliseconds stop_poll{200};  // how often serve() asks stop_requested
};

class TlsListener final : public httplib::Server {
 public:
  // `ctx` is set up and owned from here on. `log` may be empty.
  // `stop_requested` is asked between connections and every stop_poll.
  TlsListener(SslCtx ctx, ListenerOptions opt, std::function<void(const std::string&)> log,
              std::function<bool()> stop_requested);

  // Accepts and serves until close_listener() or stop_requested().
  void serve();
  // After binding: how many connections the kernel may hold for accept()
  // (httplib asks for 5, so a burst would wait for SYN retransmits).
  bool set_backlog(int backlog);
  // Closes the listening socket; works before and during serve().
  void close_listener();

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  void serve_connection(int fd, const std::string& source, TimePoint accepted);
  void report_refusal(const std::string& source, ConnectionLimits::Admission why);

  SslCtx ctx_;
  ListenerOptions opt_;
  std::function<void(const std::string&)> log_;
  std::function<bool()> stop_requested_;
  ConnectionLimits limits_;
  // Refusal reports (accept thread only): at most one line per kReportEvery.
  TimePoint last_report_{};
  bool reported_ = false;
  size_t unreported_refusals_ = 0;
};

}  // namespace bastion::gateway
