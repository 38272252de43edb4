#include "recorder/syslog_transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace bastion::recorder {
namespace {

std::string openssl_error(const std::string& what) {
  unsigned long e = ERR_get_error();
  std::string out = what;
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += ": ";
    out += buf;
  }
  ERR_clear_error();
  return out;
}

Result<SyslogTarget> host_port(SyslogTarget t, const std::string& rest, const std::string& scheme) {
  std::string usage = "syslog target must be " + scheme + "://HOST:PORT";
  if (!rest.empty() && rest[0] == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':') return make_error(usage);
    t.host = rest.substr(1, close - 1);
    t.port = rest.substr(close + 2);
  } else {
    auto colon = rest.rfind(':');
    if (colon == std::string::npos) return make_error(usage);
    t.host = rest.substr(0, colon);
    t.port = rest.substr(colon + 1);
  }
  if (t.host.empty() || t.port.empty() || t.port.find_first_not_of("0123456789") != std::string::npos) {
    return make_error(usage);
  }
  return t;
}

}  // namespace

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Result<SyslogTarget> parse_syslog_target(const std::string& target) {
  SyslogTarget t;
  if (target.starts_with("unix:")) {
    t.kind = SyslogTarget::Kind::kUnix;
    t.path = target.substr(5);
    if (t.path.empty()) return make_error("syslog target unix: needs a socket path");
    return t;
  }
  for (auto [scheme, kind] : {std::pair{"udp", SyslogTarget::Kind::kUdp}, std::pair{"tcp", SyslogTarget::Kind::kTcp},
                              std::pair{"tls", SyslogTarget::Kind::kTls}}) {
    std::string prefix = std::string(scheme) + "://";
    if (target.starts_with(prefix)) {
      t.kind = kind;
      return host_port(t, target.substr(prefix.size()), scheme);
    }
  }
  return make_error("syslog target must be udp://HOST:PORT, tcp://HOST:PORT, tls://HOST:PORT or unix:PATH");
}

std::string frame_octet_counted(std::string_view msg) {
  std::string out = std::to_string(msg.size());
  out += ' ';
  out += msg;
  return out;
}

std::mutex& fork_gate() {
  static std::mutex m;
  return m;
}

void install_fork_gate() {
  static std::once_flag once;
  std::call_once(once, [] {
    // SECURITY/robustness: the supervisor forks connection and web processes
    // without exec. Were the delivery thread inside OpenSSL, SQLite or the
    // resolver at that moment, the child would inherit a lock held by a
    // thread it does not have, and could hang in its first TLS or SSH call.
    pthread_atfork([] { fork_gate().lock(); }, [] { fork_gate().unlock(); }, [] { fork_gate().unlock(); });
  });
}

Result<SslCtx> make_syslog_tls_context(const std::string& ca_file, const std::string& cert_file,
                                       const std::string& key_file) {
  ERR_clear_error();
  SslCtx ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return make_error(openssl_error("syslog TLS: cannot create a context"));
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // SECURITY: without verification anyone on the path could pose as the
  // collector and receive (or drop) the audit trail.
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (!ca_file.empty()) {
    if (access(ca_file.c_str(), R_OK) != 0) {
      return make_error("[audit] syslog_ca " + ca_file + ": " + std::strerror(errno));
    }
    if (SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr) != 1) {
      return make_error(openssl_error("[audit] syslog_ca " + ca_file + " holds no usable PEM certificate"));
    }
  } else if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
    return make_error(openssl_error("syslog TLS: cannot load the system trust store"));
  }
  if (cert_file.empty() != key_file.empty()) {
    return make_error("[audit] syslog_cert and syslog_key go together (mutual TLS)");
  }
  if (!cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_file.c_str()) != 1) {
      return make_error(openssl_error("[audit] syslog_cert " + cert_file + " is not a readable PEM certificate"));
    }
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      return make_error(openssl_error("[audit] syslog_key " + key_file + " is not a readable PEM private key"));
    }
    if (SSL_CTX_check_private_key(ctx.get()) != 1) {
      return make_error(openssl_error("[audit] syslog_key does not match syslog_cert"));
    }
  }
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return ctx;
}

Result<std::vector<SocketAddress>> resolve_stream_target(const SyslogTarget& t) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(t.host.c_str(), t.port.c_str(), &hints, &res);
  if (rc != 0 || !res) return make_error("syslog: cannot resolve " + t.host + ": " + gai_strerror(rc));
  std::vector<SocketAddress> out;
  for (addrinfo* a = res; a; a = a->ai_next) {
    SocketAddress s;
    std::memcpy(&s.addr, a->ai_addr, a->ai_addrlen);
    s.len = a->ai_addrlen;
    out.push_back(s);
  }
  freeaddrinfo(res);
  return out;
}

SyslogLink::SyslogLink(const SyslogTarget& target, std::vector<SocketAddress> addrs, SSL_CTX* tls, int wake_fd,
                       const std::atomic<bool>* stopping)
    : target_(target), addrs_(std::move(addrs)), tls_(tls), wake_fd_(wake_fd), stopping_(stopping) {}

void SyslogLink::close() {
  {
    std::lock_guard gate(fork_gate());
    ssl_.reset();
  }
  fd_.reset();
}

Status SyslogLink::wait_for(short events, int64_t deadline_ms, const char* what) {
  for (;;) {
    if (stopping_->load()) return make_error("stopping");
    int64_t left = deadline_ms - steady_ms();
    if (left <= 0) return make_error(std::string("timed out ") + what);
    pollfd p[2] = {{fd_.get(), events, 0}, {wake_fd_, POLLIN, 0}};
    int n = ::poll(p, 2, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (n < 0 && errno != EINTR) return make_error(std::string("poll: ") + std::strerror(errno));
    if (n > 0 && p[0].revents != 0) return {};
    // A wake-up (new records) does not end the wait; only a stop does (checked above).
  }
}

Status SyslogLink::connect(int64_t deadline_ms) {
  close();
  std::string last = "no address";
  for (const auto& a : addrs_) {
    fd_.reset(::socket(a.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd_) return make_error(std::string("socket: ") + std::strerror(errno));
    int one = 1;
    (void)setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    (void)setsockopt(fd_.get(), SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    if (::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&a.addr), a.len) != 0 && errno != EINPROGRESS) {
      last = std::strerror(errno);
      fd_.reset();
      continue;
    }
    if (Status st = wait_for(POLLOUT, deadline_ms, "connecting"); !st) {
      last = st.message();
      fd_.reset();
      if (stopping_->load()) break;
      continue;
    }
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      last = std::strerror(err);
      fd_.reset();
      continue;
    }
    if (!tls_) return {};
    if (Status st = tls_handshake(deadline_ms); !st) {
      close();
      return st;
    }
    return {};
  }
  return make_error("cannot connect: " + last);
}

Status SyslogLink::tls_handshake(int64_t deadline_ms) {
  {
    std::lock_guard gate(fork_gate());
    ERR_clear_error();
    ssl_.reset(SSL_new(tls_));
    if (!ssl_ || SSL_set_fd(ssl_.get(), fd_.get()) != 1) return make_error(openssl_error("TLS setup"));
    in_addr v4{};
    in6_addr v6{};
    bool is_ip =
        inet_pton(AF_INET, target_.host.c_str(), &v4) == 1 || inet_pton(AF_INET6, target_.host.c_str(), &v6) == 1;
    // SECURITY: the certificate must name the host we meant (DNS name or IP
    // address SAN); a valid certificate for another host is refused.
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_.get());
    if (is_ip) {
      if (X509_VERIFY_PARAM_set1_ip_asc(param, target_.host.c_str()) != 1)
        return make_error(openssl_error("TLS setup"));
    } else {
      if (SSL_set1_host(ssl_.get(), target_.host.c_str()) != 1) return make_error(openssl_error("TLS setup"));
      // SNI (SSL_set_tlsext_host_name, spelled out: the macro casts old-style).
      SSL_ctrl(ssl_.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(target_.host.c_str()));
    }
    SSL_set_connect_state(ssl_.get());
  }
  for (;;) {
    int err;
    long verify;
    std::string reason;
    {
      std::lock_guard gate(fork_gate());
      ERR_clear_error();
      int r = SSL_connect(ssl_.get());
      if (r == 1) return {};
      err = SSL_get_error(ssl_.get(), r);
      verify = SSL_get_verify_result(ssl_.get());
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
        reason = verify != X509_V_OK
                     ? std::string("certificate verification failed: ") + X509_verify_cert_error_string(verify)
                     : openssl_error("TLS handshake failed");
        return make_error(reason);
      }
    }
    if (Status st = wait_for(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline_ms, "in the TLS handshake"); !st) {
      return st;
    }
  }
}

Status SyslogLink::write_all(std::string_view data, int64_t deadline_ms) {
  size_t off = 0;
  while (off < data.size()) {
    short want = POLLOUT;
    {
      std::lock_guard gate(fork_gate());
      if (ssl_) {
        ERR_clear_error();
        int r =
            SSL_write(ssl_.get(), data.data() + off, static_cast<int>(std::min<size_t>(data.size() - off, 1 << 20)));
        if (r > 0) {
          off += static_cast<size_t>(r);
          continue;
        }
        int err = SSL_get_error(ssl_.get(), r);
        if (err == SSL_ERROR_WANT_READ) want = POLLIN;
        else if (err != SSL_ERROR_WANT_WRITE) return make_error(openssl_error("TLS write failed"));
      } else {
        ssize_t r = ::send(fd_.get(), data.data() + off, data.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r > 0) {
          off += static_cast<size_t>(r);
          continue;
        }
        if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          return make_error(std::string("write failed: ") + std::strerror(errno));
        }
      }
    }
    if (Status st = wait_for(want, deadline_ms, "writing"); !st) return st;
  }
  return {};
}

Status SyslogLink::drain() {
  char buf[4096];
  std::lock_guard gate(fork_gate());
  for (;;) {
    if (ssl_) {
      ERR_clear_error();
      int r = SSL_read(ssl_.get(), buf, sizeof buf);
      if (r > 0) continue;
      int err = SSL_get_error(ssl_.get(), r);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return {};
      if (err == SSL_ERROR_ZERO_RETURN) return make_error("the collector closed the connection");
      return make_error(openssl_error("the connection broke"));
    }
    ssize_t r = ::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (r > 0) continue;
    if (r == 0) return make_error("the collector closed the connection");
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {};
    if (errno != EINTR) return make_error(std::string("the connection broke: ") + std::strerror(errno));
  }
}

Status SyslogLink::wait_acknowledged(int64_t deadline_ms) {
  for (;;) {
    int queued = 0;
    if (::ioctl(fd_.get(), SIOCOUTQ, &queued) != 0) return make_error(std::string("SIOCOUTQ: ") + std::strerror(errno));
    if (queued == 0) return {};
    if (stopping_->load()) return make_error("stopping");
    int64_t left = deadline_ms - steady_ms();
    if (left <= 0) return make_error(std::to_string(queued) + " bytes not acknowledged in time");
    pollfd p{fd_.get(), POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 20)));
    if (n > 0) {
      if (Status st = drain(); !st) return st;
    }
  }
}

}  // namespace bastion::recorder
