// Internal to recorder/: the pieces of syslog delivery that know about
// sockets and TLS. SyslogForwarder (syslog_forwarder.h) is the public face.
//
// Thread-safety: a SyslogLink is used by one thread (the delivery thread).
// Every call into OpenSSL, the resolver or SQLite on that thread is made
// under fork_gate() (see syslog_stream.cpp); waits (poll) are made outside it.
#pragma once

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/openssl_handles.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace bastion::recorder {

struct SyslogTarget {
  enum class Kind { kUdp, kUnix, kTcp, kTls };
  Kind kind = Kind::kUdp;
  std::string host, port;  // udp, tcp, tls ("[::1]" is given as "::1")
  std::string path;        // unix
  [[nodiscard]] bool is_stream() const { return kind == Kind::kTcp || kind == Kind::kTls; }
};

// "udp://HOST:PORT", "unix:PATH", "tcp://HOST:PORT", "tls://HOST:PORT".
Result<SyslogTarget> parse_syslog_target(const std::string& target);

// RFC 6587 section 3.4.1 / RFC 5425 section 4.3 octet counting: "LEN SP MSG".
std::string frame_octet_counted(std::string_view msg);

// Held by the delivery thread around every library call, and by fork() (via
// pthread_atfork) so a child never inherits a lock that thread held.
std::mutex& fork_gate();
void install_fork_gate();

// A TLS client context that verifies the collector against `ca_file` (PEM;
// "" = the system's default trust store) and, if `cert_file` is given,
// presents that client certificate with `key_file`. Fails on an unreadable
// or unusable file, so a bad configuration stops the daemon at start.
Result<SslCtx> make_syslog_tls_context(const std::string& ca_file, const std::string& cert_file,
                                       const std::string& key_file);

struct SocketAddress {
  sockaddr_storage addr{};
  socklen_t len = 0;
};
// Resolves HOST:PORT for a stream socket (at start; not again later).
Result<std::vector<SocketAddress>> resolve_stream_target(const SyslogTarget& t);

// One connection to a stream collector (plain TCP, or TLS when `tls` is set).
// Every blocking step has a deadline (steady-clock milliseconds) and ends
// early, with an error, when `wake_fd` becomes readable and `*stopping` is
// set: shutdown never waits for a dead collector.
class SyslogLink {
 public:
  SyslogLink(const SyslogTarget& target, std::vector<SocketAddress> addrs, SSL_CTX* tls, int wake_fd,
             const std::atomic<bool>* stopping);

  Status connect(int64_t deadline_ms);
  [[nodiscard]] bool connected() const { return static_cast<bool>(fd_); }
  void close();
  Status write_all(std::string_view data, int64_t deadline_ms);
  // Waits until the peer's TCP stack has acknowledged every byte written
  // (SIOCOUTQ == 0: nothing unsent or unacknowledged left).
  Status wait_acknowledged(int64_t deadline_ms);
  // Reads and discards what the collector sent; an error if it closed.
  Status drain();
  [[nodiscard]] int fd() const { return fd_.get(); }

 private:
  // poll() on the socket for `events` until `deadline_ms`; error on timeout or stop.
  Status wait_for(short events, int64_t deadline_ms, const char* what);
  Status tls_handshake(int64_t deadline_ms);

  SyslogTarget target_;
  std::vector<SocketAddress> addrs_;
  SSL_CTX* tls_;
  int wake_fd_;
  const std::atomic<bool>* stopping_;
  UniqueFd fd_;
  Ssl ssl_;
};

int64_t steady_ms();

}  // namespace bastion::recorder
