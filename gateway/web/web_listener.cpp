#include "gateway/web/web_listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <thread>
#include <utility>

#include "common/address.h"
#include "common/unique_fd.h"

namespace bastion::gateway {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kReportEvery = std::chrono::seconds(10);

// The address of a peer as text; IPv4-mapped IPv6 addresses as IPv4, so a
// dual-stack listener counts a source once. Sets `port`.
std::string address_text(const sockaddr_storage& addr, int& port) {
  std::array<char, INET6_ADDRSTRLEN> buf{};
  port = 0;
  if (addr.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(addr);
    port = ntohs(a.sin_port);
    ::inet_ntop(AF_INET, &a.sin_addr, buf.data(), buf.size());
  } else if (addr.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(addr);
    port = ntohs(a.sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&a.sin6_addr)) {
      ::inet_ntop(AF_INET, &a.sin6_addr.s6_addr[12], buf.data(), buf.size());
    } else {
      ::inet_ntop(AF_INET6, &a.sin6_addr, buf.data(), buf.size());
    }
  }
  return buf[0] == '\0' ? std::string("unknown") : std::string(buf.data());
}

// Waits until `fd` is ready for `events` (or has an error) or `deadline`;
// false only once the deadline has passed (or poll failed).
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, INT_MAX)));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

// Runs one non-blocking TLS operation to completion or `deadline`:
// `op` returns what SSL_accept/SSL_read/SSL_write return.
template <class Op>
int ssl_until(SSL* ssl, int fd, Clock::time_point deadline, Op op) {
  for (;;) {
    ERR_clear_error();
    int n = op();
    if (n > 0) return n;
    int err = SSL_get_error(ssl, n);
    if (err == SSL_ERROR_ZERO_RETURN) return 0;
    short events = err == SSL_ERROR_WANT_READ ? POLLIN : err == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (events == 0 || !wait_for(fd, events, deadline)) {
      ERR_clear_error();
      return -1;
    }
  }
}

// httplib's view of one TLS connection. Reads end at the current deadline
// (set per phase by the listener); each write has its own timeout.
class DeadlineTlsStream final : public httplib::Stream {
 public:
  DeadlineTlsStream(SSL* ssl, int fd, std::string remote_ip, int remote_port, std::chrono::milliseconds write_timeout)
      : ssl_(ssl),
        fd_(fd),
        remote_ip_(std::move(remote_ip)),
        remote_port_(remote_port),
        write_timeout_(write_timeout) {}

  void set_read_deadline(Clock::time_point t) { read_deadline_ = t; }
  // Whether a read ran into the deadline (httplib may still answer 400).
  [[nodiscard]] bool timed_out() const { return timed_out_; }

  bool is_readable() const override { return SSL_pending(ssl_) > 0 || wait_for(fd_, POLLIN, read_deadline_); }
  bool is_writable() const override { return wait_for(fd_, POLLOUT, Clock::now() + write_timeout_); }
  ssize_t read(char* ptr, size_t size) override {
    int n = static_cast<int>(std::min<size_t>(size, INT_MAX));
    int got = ssl_until(ssl_, fd_, read_deadline_, [&] { return SSL_read(ssl_, ptr, n); });
    if (got < 0 && Clock::now() >= read_deadline_) timed_out_ = true;
    return got;
  }
  ssize_t write(const char* ptr, size_t size) override {
    int n = static_cast<int>(std::min<size_t>(size, INT_MAX));
    return ssl_until(ssl_, fd_, Clock::now() + write_timeout_, [&] { return SSL_write(ssl_, ptr, n); });
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = remote_ip_;
    port = remote_port_;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      ip = address_text(addr, port);
    } else {
      ip.clear();
      port = 0;
    }
  }
  socket_t socket() const override { return fd_; }

 private:
  SSL* ssl_;
  int fd_;
  std::string remote_ip_;
  int remote_port_;
  std::chrono::milliseconds write_timeout_;
  Clock::time_point read_deadline_{};
  bool timed_out_ = false;
};

}  // namespace

ConnectionLimits::Admission ConnectionLimits::admit(const std::string& source) {
  std::lock_guard lock(mu_);
  auto it = per_source_.find(source);
  size_t mine = it == per_source_.end() ? 0 : it->second;
  if (mine >= max_per_source_) return Admission::kSourceFull;
  if (total_ >= max_total_) return Admission::kTotalFull;
  ++total_;
  ++per_source_[source];
  return Admission::kAdmitted;
}

void ConnectionLimits::release(const std::string& source) {
  std::lock_guard lock(mu_);
  auto it = per_source_.find(source);
  if (it == per_source_.end()) return;
  if (--it->second == 0) per_source_.erase(it);
  --total_;
}

TlsListener::TlsListener(SslCtx ctx, ListenerOptions opt, std::function<void(const std::string&)> log,
                         std::function<bool()> stop_requested)
    : ctx_(std::move(ctx)),
      opt_(opt),
      log_(std::move(log)),
      stop_requested_(std::move(stop_requested)),
      limits_(opt.max_connections, opt.max_connections_per_source) {}

bool TlsListener::set_backlog(int backlog) {
  socket_t sock = svr_sock_.load();
  return sock != INVALID_SOCKET && ::listen(sock, backlog) == 0;
}

void TlsListener::close_listener() {
  socket_t sock = svr_sock_.exchange(INVALID_SOCKET);
  if (sock != INVALID_SOCKET) {
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
  }
}

void TlsListener::report_refusal(const std::string& source, ConnectionLimits::Admission why) {
  ++unreported_refusals_;
  auto now = Clock::now();
  if (reported_ && now - last_report_ < kReportEvery) return;
  std::string what =
      why == ConnectionLimits::Admission::kSourceFull
          ? source + " reached its limit of " + std::to_string(opt_.max_connections_per_source) + " connections"
          : "all " + std::to_string(opt_.max_connections) + " connections in use (limit), last from " + source;
  if (log_) {
    log_("web: " + what + "; refused " + std::to_string(unreported_refusals_) + " connection(s) since the last report");
  }
  reported_ = true;
  last_report_ = now;
  unreported_refusals_ = 0;
}

void TlsListener::serve() {
  httplib::ThreadPool pool(std::max<size_t>(opt_.threads, 1));
  const int poll_ms = static_cast<int>(std::max<long long>(opt_.stop_poll.count(), 1));
  for (;;) {
    int listen_fd = svr_sock_.load();
    if (listen_fd == INVALID_SOCKET) break;
    if (stop_requested_ && stop_requested_()) break;
    pollfd p{listen_fd, POLLIN, 0};
    int ready = ::poll(&p, 1, poll_ms);
    if (ready <= 0) continue;
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    UniqueFd fd(::accept4(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!fd) {
      if (errno == EMFILE || errno == ENFILE) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;  // a closed listener ends the loop above; other errors concern one connection
    }
    auto accepted = Clock::now();
    int port = 0;
    std::string source = address_text(addr, port);
    // Counted per source group: an IPv6 address with its /64.
    std::string group = source_group(source);
    // SECURITY: admission before any TLS work; a refused connection costs
    // one accept and one close, and cannot hold a worker.
    auto admission = limits_.admit(group);
    if (admission != ConnectionLimits::Admission::kAdmitted) {
      fd.reset();
      report_refusal(group, admission);
      continue;
    }
    // Responses go out as written (headers, then the body): without this,
    // Nagle's algorithm holds the body for the client's delayed ACK (40 ms).
    const int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int raw = fd.release();
    pool.enqueue([this, raw, source, group, accepted] {
      serve_connection(raw, source, accepted);
      limits_.release(group);
    });
  }
  close_listener();
  pool.shutdown();
}

void TlsListener::serve_connection(int raw_fd, const std::string& source, TimePoint accepted) {
  UniqueFd fd(raw_fd);
  Ssl ssl(SSL_new(ctx_.get()));
  if (!ssl || SSL_set_fd(ssl.get(), fd.get()) != 1) return;
  // SECURITY: one deadline for the handshake, request line and headers
  // together; a client dribbling a line every few seconds is cut off there.
  auto deadline = accepted + opt_.header_deadline;
  if (ssl_until(ssl.get(), fd.get(), deadline, [&] { return SSL_accept(ssl.get()); }) != 1) return;

  int port = 0;
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  std::string ip =
      ::getpeername(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0 ? address_text(addr, port) : source;
  DeadlineTlsStream strm(ssl.get(), fd.get(), ip, port, opt_.write_timeout);
  for (size_t left = opt_.keep_alive_max_requests; left > 0 && svr_sock_.load() != INVALID_SOCKET; --left) {
    strm.set_read_deadline(deadline);
    bool connection_closed = false;
    // Called by httplib once the headers are in: the body gets its own bound.
    auto headers_done = [&](httplib::Request&) { strm.set_read_deadline(Clock::now() + opt_.body_deadline); };
    bool answered = process_request(strm, left == 1, connection_closed, headers_done);
    // SECURITY: a client past its deadline is done, even if httplib answered
    // it 400 and would read its next line as a new request.
    if (!answered || connection_closed || strm.timed_out()) break;
    deadline = Clock::now() + opt_.header_deadline;
  }
  // A close_notify if the socket takes it at once; never waits for the peer.
  SSL_shutdown(ssl.get());
  ERR_clear_error();
  ::shutdown(fd.get(), SHUT_RDWR);
}

}  // namespace bastion::gateway
