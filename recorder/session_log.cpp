#include "recorder/session_log.h"

#include "common/database_sql.h"

namespace bastion::recorder {
namespace {

constexpr const char* kCols =
    "SELECT id, user_name, target, login, source, pid, started_at, ended_at, bytes_in, bytes_out, "
    "exit_status, COALESCE(end_reason,''), grant_id FROM sessions";

SessionRecord read_row(SQLite::Statement& q) {
  SessionRecord s;
  s.id = q.getColumn(0).getString();
  s.user = q.getColumn(1).getString();
  s.target = q.getColumn(2).getString();
  s.login = q.getColumn(3).getString();
  s.source = q.getColumn(4).getString();
  s.pid = q.getColumn(5).getInt();
  s.started_at = q.getColumn(6).getInt64();
  if (!q.getColumn(7).isNull()) s.ended_at = q.getColumn(7).getInt64();
  s.bytes_in = q.getColumn(8).getInt64();
  s.bytes_out = q.getColumn(9).getInt64();
  if (!q.getColumn(10).isNull()) s.exit_status = q.getColumn(10).getInt();
  s.end_reason = q.getColumn(11).getString();
  s.grant_id = q.getColumn(12).getString();
  return s;
}

}  // namespace

Status SessionLog::start(const SessionRecord& s) {
  return with_transaction(db_, [&]() -> Status {
    SQLite::Statement q(sql(db_),
                        "INSERT INTO sessions(id, user_name, target, login, source, pid, started_at, grant_id) "
                        "VALUES (?,?,?,?,?,?,?,?)");
    q.bind(1, s.id);
    q.bind(2, s.user);
    q.bind(3, s.target);
    q.bind(4, s.login);
    q.bind(5, s.source);
    q.bind(6, s.pid);
    q.bind(7, static_cast<int64_t>(s.started_at ? s.started_at : clock_.now()));
    q.bind(8, s.grant_id);
    q.exec();
    return {};
  });
}

Status SessionLog::end(const std::string& id, int64_t bytes_in, int64_t bytes_out, std::optional<int> exit_status,
                       const std::string& reason) {
  return with_transaction(db_, [&]() -> Status {
    SQLite::Statement q(sql(db_),
                        "UPDATE sessions SET ended_at = ?, bytes_in = ?, bytes_out = ?, exit_status = ?, "
                        "end_reason = ? WHERE id = ? AND ended_at IS NULL");
    q.bind(1, static_cast<int64_t>(clock_.now()));
    q.bind(2, bytes_in);
    q.bind(3, bytes_out);
    if (exit_status) q.bind(4, *exit_status);
    else q.bind(4);
    q.bind(5, reason);
    q.bind(6, id);
    q.exec();
    return {};
  });
}

Result<std::vector<SessionRecord>> SessionLog::list(bool live_only, int limit) {
  SessionFilter f;
  f.live_only = live_only;
  f.limit = limit;
  return list(f);
}

Result<std::vector<SessionRecord>> SessionLog::list(const SessionFilter& f) {
  try {
    std::string statement = std::string(kCols) + " WHERE 1=1";
    if (f.live_only) statement += " AND ended_at IS NULL";
    if (!f.user.empty()) statement += " AND user_name = :user";
    if (!f.target.empty()) statement += " AND target = :target";
    if (!f.grant_id.empty()) statement += " AND grant_id = :grant";
    if (f.since) statement += " AND started_at >= :since";
    statement += " ORDER BY started_at DESC LIMIT :limit";
    SQLite::Statement q(sql(db_), statement);
    if (!f.user.empty()) q.bind(":user", f.user);
    if (!f.target.empty()) q.bind(":target", f.target);
    if (!f.grant_id.empty()) q.bind(":grant", f.grant_id);
    if (f.since) q.bind(":since", static_cast<int64_t>(*f.since));
    q.bind(":limit", f.limit);
    std::vector<SessionRecord> out;
    while (q.executeStep()) out.push_back(read_row(q));
    return out;
  } catch (const SQLite::Exception& e) {
    return database_error("database: ", e);
  }
}

Result<std::optional<SessionRecord>> SessionLog::find(const std::string& id) {
  try {
    SQLite::Statement q(sql(db_), std::string(kCols) + " WHERE id = ?");
    q.bind(1, id);
    if (!q.executeStep()) return std::optional<SessionRecord>{};
    return std::optional<SessionRecord>(read_row(q));
  } catch (const SQLite::Exception& e) {
    return database_error("database: ", e);
  }
}

Result<std::vector<std::string>> SessionLog::end_orphans(int pid, const std::string& reason) {
  std::vector<std::string> ids;
  auto st = with_transaction(db_, [&]() -> Status {
    SQLite::Statement q(sql(db_), "SELECT id FROM sessions WHERE pid = ? AND ended_at IS NULL");
    q.bind(1, pid);
    while (q.executeStep()) ids.push_back(q.getColumn(0).getString());
    SQLite::Statement u(sql(db_),
                        "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE pid = ? AND ended_at IS NULL");
    u.bind(1, static_cast<int64_t>(clock_.now()));
    u.bind(2, reason);
    u.bind(3, pid);
    u.exec();
    return {};
  });
  if (!st) return st.error();
  return ids;
}

}  // namespace bastion::recorder
