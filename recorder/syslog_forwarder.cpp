#include "recorder/syslog_forwarder.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "common/clock.h"

namespace bastion::recorder {
namespace {

constexpr int kFacilityAuthpriv = 10;

std::string sd_escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '"' || c == '\\' || c == ']') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

Result<SyslogForwarder> SyslogForwarder::open(const std::string& target) {
  SyslogForwarder f;
  if (target.rfind("unix:", 0) == 0) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::string path = target.substr(5);
    if (path.empty() || path.size() >= sizeof a.sun_path) return make_error("syslog: bad socket path " + path);
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    f.fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!f.fd_ || ::connect(f.fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      return make_error("syslog: cannot connect to " + path + ": " + std::strerror(errno));
    }
    return f;
  }
  if (target.rfind("udp://", 0) != 0) return make_error("syslog target must be udp://HOST:PORT or unix:PATH");
  std::string hp = target.substr(6);
  auto colon = hp.rfind(':');
  if (colon == std::string::npos) return make_error("syslog target must be udp://HOST:PORT");
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(hp.substr(0, colon).c_str(), hp.substr(colon + 1).c_str(), &hints, &res) != 0 || !res) {
    return make_error("syslog: cannot resolve " + hp);
  }
  f.fd_.reset(::socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol));
  bool ok = f.fd_ && ::connect(f.fd_.get(), res->ai_addr, res->ai_addrlen) == 0;
  freeaddrinfo(res);
  if (!ok) return make_error("syslog: cannot open a socket to " + hp);
  return f;
}

std::string SyslogForwarder::format(int severity, const std::string& msgid, const std::string& structured,
                                    const std::string& text, int64_t ts) {
  char host[256] = "-";
  gethostname(host, sizeof host - 1);
  std::string t = format_utc(ts);
  return "<" + std::to_string(kFacilityAuthpriv * 8 + severity) + ">1 " + t + " " + host + " bastiond " +
         std::to_string(getpid()) + " " + msgid + " " + (structured.empty() ? "-" : structured) + " " + text;
}

void SyslogForwarder::send_line(const std::string& msgid, int severity, const std::string& text) {
  std::string m = format(severity, msgid, "", text, SystemClock::instance().now());
  (void)::send(fd_.get(), m.data(), m.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

Status SyslogForwarder::forward_new(Database& db) {
  try {
    if (last_seq_ < 0) {
      SQLite::Statement q(db.sql(), "SELECT COALESCE(MAX(seq), 0) FROM audit_log");
      q.executeStep();
      last_seq_ = q.getColumn(0).getInt64();
    }
    SQLite::Statement q(db.sql(),
                        "SELECT seq, ts, actor, action, target, login, source, session_id, outcome, reason, details, "
                        "hash FROM audit_log WHERE seq > ? ORDER BY seq LIMIT 1000");
    q.bind(1, last_seq_);
    while (q.executeStep()) {
      int64_t seq = q.getColumn(0).getInt64();
      nlohmann::json j = {{"actor", q.getColumn(2).getString()},   {"action", q.getColumn(3).getString()},
                          {"target", q.getColumn(4).getString()},  {"login", q.getColumn(5).getString()},
                          {"source", q.getColumn(6).getString()},  {"session_id", q.getColumn(7).getString()},
                          {"outcome", q.getColumn(8).getString()}, {"reason", q.getColumn(9).getString()},
                          {"details", nlohmann::json::parse(q.getColumn(10).getString(), nullptr, false)}};
      int severity = j["outcome"] == "deny" || j["outcome"] == "error" ? 4 : 6;
      std::string sd = "[bastion@32473 seq=\"" + std::to_string(seq) + "\" hash=\"" +
                       sd_escape(q.getColumn(11).getString()) + "\"]";
      std::string m = format(severity, "AUDIT", sd, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                             q.getColumn(1).getInt64());
      (void)::send(fd_.get(), m.data(), m.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      last_seq_ = seq;
    }
    return {};
  } catch (const SQLite::Exception& e) {
    return make_error(std::string("syslog forwarding: ") + e.what());
  }
}

}  // namespace bastion::recorder
