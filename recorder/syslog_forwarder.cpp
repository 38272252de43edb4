#include "recorder/syslog_forwarder.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/database_sql.h"
#include "recorder/syslog_cursor.h"
#include "recorder/syslog_stream.h"
#include "recorder/syslog_transport.h"

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

Result<UniqueFd> open_datagram(const SyslogTarget& t) {
  if (t.kind == SyslogTarget::Kind::kUnix) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (t.path.size() >= sizeof a.sun_path) return make_error("syslog: bad socket path " + t.path);
    std::strncpy(a.sun_path, t.path.c_str(), sizeof a.sun_path - 1);
    UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      return make_error("syslog: cannot connect to " + t.path + ": " + std::strerror(errno));
    }
    return fd;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(t.host.c_str(), t.port.c_str(), &hints, &res) != 0 || !res) {
    return make_error("syslog: cannot resolve " + t.host);
  }
  UniqueFd fd(::socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol));
  bool ok = fd && ::connect(fd.get(), res->ai_addr, res->ai_addrlen) == 0;
  freeaddrinfo(res);
  if (!ok) return make_error("syslog: cannot open a socket to " + t.host + ":" + t.port);
  return fd;
}

// Where a stream target resumes: the cursor file if it is for this target,
// else the configured start (and that start is saved, so the next run resumes).
Result<SyslogCursor> resume_point(const SyslogOptions& o, bool& resumed) {
  auto loaded = load_syslog_cursor(o.cursor_file);
  if (!loaded) return loaded.error();
  resumed = false;
  if (*loaded && (*loaded)->target == o.target) {
    resumed = true;
    return **loaded;
  }
  SyslogCursor c{o.target, 0};
  // Shared: the delivery thread reads the database's cursor when this node
  // becomes active, and starts from syslog_start only if there is none.
  if (o.shared_cursor) return c;
  if (!o.start_from_oldest) {
    try {
      Database db = open_audit_reader(o.database, 5000);
      Statement q(db, "SELECT COALESCE(MAX(seq), 0) FROM audit_log");
      q.step();
      c.seq = q.column(0).int64();
    } catch (const DatabaseError& e) {
      return database_error("syslog: reading the audit log: ", e);
    }
  }
  if (*loaded && o.log) {
    o.log("syslog: the cursor in " + o.cursor_file + " was for " + (*loaded)->target + "; " + o.target +
          " starts after seq " + std::to_string(c.seq) + " ([audit] syslog_start)");
  }
  if (auto st = save_syslog_cursor(o.cursor_file, c); !st) return st.error();
  return c;
}

}  // namespace

Database open_audit_reader(const std::string& path, int busy_timeout_ms, bool writes) {
  auto db = Database::open(path, writes ? Database::Mode::kOpenExisting : Database::Mode::kReadOnly, busy_timeout_ms);
  if (!db) throw DatabaseError(db.error().message, db.error().code == ErrorCode::kBusy);
  return std::move(*db);
}

std::vector<AuditMessage> read_audit_messages(Database& db, int64_t after_seq, int limit) {
  Statement q(db,
              "SELECT seq, ts, actor, action, target, login, source, session_id, outcome, reason, details, "
              "hash FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?");
  q.bind(1, after_seq);
  q.bind(2, limit);
  std::vector<AuditMessage> out;
  while (q.step()) {
    int64_t seq = q.column(0).int64();
    nlohmann::json j = {{"actor", q.column(2).text()},
                        {"action", q.column(3).text()},
                        {"target", q.column(4).text()},
                        {"login", q.column(5).text()},
                        {"source", q.column(6).text()},
                        {"session_id", q.column(7).text()},
                        {"outcome", q.column(8).text()},
                        {"reason", q.column(9).text()},
                        {"details", nlohmann::json::parse(q.column(10).text(), nullptr, false)}};
    int severity = j["outcome"] == "deny" || j["outcome"] == "error" ? 4 : 6;
    std::string sd =
        "[bastion@32473 seq=\"" + std::to_string(seq) + "\" hash=\"" + sd_escape(q.column(11).text()) + "\"]";
    out.push_back({seq, SyslogForwarder::format(severity, "AUDIT", sd,
                                                j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                                                q.column(1).int64())});
  }
  return out;
}

SyslogForwarder::SyslogForwarder() = default;
SyslogForwarder::SyslogForwarder(SyslogForwarder&&) noexcept = default;
SyslogForwarder& SyslogForwarder::operator=(SyslogForwarder&&) noexcept = default;
SyslogForwarder::~SyslogForwarder() = default;

Result<SyslogForwarder> SyslogForwarder::open(const SyslogOptions& o) {
  auto t = parse_syslog_target(o.target);
  if (!t) return t.error();
  SyslogForwarder f;
  if (!t->is_stream()) {
    if (!o.ca_file.empty() || !o.cert_file.empty() || !o.key_file.empty()) {
      return make_error("[audit] syslog_ca, syslog_cert and syslog_key need a tls:// syslog target");
    }
    auto fd = open_datagram(*t);
    if (!fd) return fd.error();
    f.fd_ = std::move(*fd);
    return f;
  }
  if (o.database.empty() || o.cursor_file.empty())
    return make_error("syslog: a stream target needs the database and a cursor file");
  SyslogStreamOptions so;
  if (t->kind == SyslogTarget::Kind::kTls) {
    auto ctx = make_syslog_tls_context(o.ca_file, o.cert_file, o.key_file);
    if (!ctx) return ctx.error();
    so.tls = std::move(*ctx);
  } else if (!o.ca_file.empty() || !o.cert_file.empty() || !o.key_file.empty()) {
    return make_error("[audit] syslog_ca, syslog_cert and syslog_key need a tls:// syslog target, not tcp://");
  }
  auto addrs = resolve_stream_target(*t);
  if (!addrs) return addrs.error();
  auto start = resume_point(o, so.resumed);
  if (!start) return start.error();
  so.target = o.target;
  so.parsed = *t;
  so.addrs = std::move(*addrs);
  so.database = o.database;
  so.cursor_file = o.cursor_file;
  so.start = *start;
  so.shared_cursor = o.shared_cursor;
  so.node = o.node;
  so.start_from_oldest = o.start_from_oldest;
  so.log = o.log;
  auto stream = SyslogStream::start(std::move(so));
  if (!stream) return stream.error();
  f.stream_ = std::move(*stream);
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
  if (stream_) {
    stream_->enqueue_line(std::move(m));
    return;
  }
  (void)::send(fd_.get(), m.data(), m.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

void SyslogForwarder::abandon_after_fork() { (void)stream_.release(); }

void SyslogForwarder::set_active(bool active) {
  if (stream_) stream_->set_active(active);
}

Status SyslogForwarder::forward_new(AuditLog& log) {
  if (stream_) {
    stream_->notify();
    return {};
  }
  try {
    if (last_seq_ < 0) {
      auto newest = log.last_seq();
      if (!newest) return newest.error().prefixed("syslog forwarding: ");
      last_seq_ = *newest;
    }
    for (const auto& m : read_audit_messages(log.database(), last_seq_, 1000)) {
      (void)::send(fd_.get(), m.text.data(), m.text.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      last_seq_ = m.seq;
    }
    return {};
  } catch (const DatabaseError& e) {
    return database_error("syslog forwarding: ", e);
  }
}

}  // namespace bastion::recorder
