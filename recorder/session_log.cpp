#include "recorder/session_log.h"

#include "recorder/text_match.h"

#include "common/database_sql.h"
#include "recorder/recorder_sql.h"

namespace bastion::recorder {
namespace {

constexpr const char* kCols =
    "SELECT id, user_name, target, login, source, pid, started_at, ended_at, bytes_in, bytes_out, "
    "exit_status, COALESCE(end_reason,''), grant_id, node FROM sessions";

SessionRecord read_row(Statement& q) {
  SessionRecord s;
  s.id = q.column(0).text();
  s.user = q.column(1).text();
  s.target = q.column(2).text();
  s.login = q.column(3).text();
  s.source = q.column(4).text();
  s.pid = q.column(5).int32();
  s.started_at = q.column(6).int64();
  if (!q.column(7).is_null()) s.ended_at = q.column(7).int64();
  s.bytes_in = q.column(8).int64();
  s.bytes_out = q.column(9).int64();
  if (!q.column(10).is_null()) s.exit_status = q.column(10).int32();
  s.end_reason = q.column(11).text();
  s.grant_id = q.column(12).text();
  s.node = q.column(13).text();
  return s;
}

}  // namespace

Status SessionLog::start(const SessionRecord& s) {
  return with_transaction(db_, [&]() -> Status {
    Statement q(db_,
                "INSERT INTO sessions(id, user_name, target, login, source, pid, started_at, grant_id, node) "
                "VALUES (?,?,?,?,?,?,?,?,?)");
    q.bind(1, s.id);
    q.bind(2, s.user);
    q.bind(3, s.target);
    q.bind(4, s.login);
    q.bind(5, s.source);
    q.bind(6, s.pid);
    q.bind(7, static_cast<int64_t>(s.started_at ? s.started_at : clock_.now()));
    q.bind(8, s.grant_id);
    q.bind(9, s.node);
    q.run();
    return {};
  });
}

Status SessionLog::end(const std::string& id, int64_t bytes_in, int64_t bytes_out, std::optional<int> exit_status,
                       const std::string& reason) {
  return with_transaction(db_, [&]() -> Status {
    Statement q(db_,
                "UPDATE sessions SET ended_at = ?, bytes_in = ?, bytes_out = ?, exit_status = ?, "
                "end_reason = ? WHERE id = ? AND ended_at IS NULL");
    q.bind(1, static_cast<int64_t>(clock_.now()));
    q.bind(2, bytes_in);
    q.bind(3, bytes_out);
    if (exit_status) q.bind(4, *exit_status);
    else q.bind(4);
    q.bind(5, reason);
    q.bind(6, id);
    q.run();
    return {};
  });
}

Result<std::vector<SessionRecord>> SessionLog::list(bool live_only, int limit) {
  SessionFilter f;
  f.live_only = live_only;
  f.limit = limit;
  return list(f);
}

namespace {

// Up to this many commands holding a text, their sessions are found through
// the trigram index; past it, session by session (SessionLog::list).
constexpr int64_t kFewCommands = 5000;

}  // namespace

bool SessionLog::command_is_indexed(const std::string& text) { return trigram_searchable(text); }

Result<std::vector<SessionRecord>> SessionLog::list(const SessionFilter& f) {
  try {
    std::string statement = std::string(kCols) + " WHERE 1=1";
    if (f.live_only) statement += " AND ended_at IS NULL";
    if (!f.user.empty()) statement += " AND user_name = :user";
    if (!f.target.empty()) statement += " AND target = :target";
    if (!f.targets.empty()) {
      statement += " AND target IN (";
      for (size_t i = 0; i < f.targets.size(); ++i) statement += (i ? ",:t" : ":t") + std::to_string(i);
      statement += ")";
    }
    if (!f.grant_id.empty()) statement += " AND grant_id = :grant";
    if (f.since) statement += " AND started_at >= :since";
    if (f.until) statement += " AND started_at < :until";
    // A command (recorder/text_match.h). A text that few commands hold:
    // their sessions, through the trigram index (SQLite). A common text,
    // or one shorter than a trigram: the sessions newest first, each one's
    // commands read through its own index, until `limit` are found.
    // PostgreSQL: its planner answers ILIKE from its trigram index.
    const bool by_trigrams = !f.command.empty() && !db_.postgres() && trigram_searchable(f.command) &&
                             !fts_holds_more_than(db_, "recording_commands_text", f.command, kFewCommands);
    if (by_trigrams) {
      statement +=
          " AND id IN (SELECT c.session_id FROM recording_commands_text t CROSS JOIN recording_commands c ON c.rowid = "
          "t.rowid WHERE recording_commands_text MATCH :trigrams AND c.command LIKE :command ESCAPE '\\')";
    } else if (!f.command.empty() && db_.postgres()) {
      statement += " AND id IN (SELECT session_id FROM recording_commands WHERE command ILIKE :command ESCAPE '\\')";
    } else if (!f.command.empty()) {
      statement +=
          " AND EXISTS (SELECT 1 FROM recording_commands c WHERE c.session_id = sessions.id AND c.command LIKE "
          ":command ESCAPE '\\')";
    }
    statement += " ORDER BY started_at DESC LIMIT :limit";
    Statement q(db_, statement);
    if (!f.user.empty()) q.bind(":user", f.user);
    if (!f.target.empty()) q.bind(":target", f.target);
    for (size_t i = 0; i < f.targets.size(); ++i) q.bind((":t" + std::to_string(i)).c_str(), f.targets[i]);
    if (!f.grant_id.empty()) q.bind(":grant", f.grant_id);
    if (f.since) q.bind(":since", static_cast<int64_t>(*f.since));
    if (f.until) q.bind(":until", static_cast<int64_t>(*f.until));
    if (by_trigrams) q.bind(":trigrams", fts_trigrams(f.command));
    if (!f.command.empty()) q.bind(":command", contains_pattern(f.command));
    q.bind(":limit", f.limit);
    std::vector<SessionRecord> out;
    while (q.step()) out.push_back(read_row(q));
    return out;
  } catch (const DatabaseError& e) {
    return database_error("database: ", e);
  }
}

Result<std::vector<std::pair<std::string, std::string>>> SessionLog::recent_targets(Micros since) {
  try {
    Statement q(
        db_, "SELECT target, login, started_at FROM sessions WHERE started_at >= ? ORDER BY target, started_at DESC");
    q.bind(1, static_cast<int64_t>(since));
    std::vector<std::pair<std::string, std::string>> out;
    while (q.step()) {
      std::string target = q.column(0).text();
      if (out.empty() || out.back().first != target) out.emplace_back(std::move(target), q.column(1).text());
    }
    return out;
  } catch (const DatabaseError& e) {
    return database_error("database: ", e);
  }
}

Result<std::map<std::string, Micros>> SessionLog::last_started(const std::vector<std::string>& users) {
  return guarded([&]() -> Result<std::map<std::string, Micros>> {
    std::map<std::string, Micros> out;
    select_in(db_, "SELECT user_name, MAX(started_at) FROM sessions WHERE user_name IN ", users, " GROUP BY user_name",
              [&](Statement& q) { out[q.column(0).text()] = q.column(1).int64(); });
    return out;
  });
}

Result<std::optional<SessionRecord>> SessionLog::find(const std::string& id) {
  try {
    Statement q(db_, std::string(kCols) + " WHERE id = ?");
    q.bind(1, id);
    if (!q.step()) return std::optional<SessionRecord>{};
    return std::optional<SessionRecord>(read_row(q));
  } catch (const DatabaseError& e) {
    return database_error("database: ", e);
  }
}

Result<std::vector<std::string>> SessionLog::end_orphans(const std::string& node, int pid, const std::string& reason) {
  std::vector<std::string> ids;
  auto st = with_transaction(db_, [&]() -> Status {
    Statement q(db_, "SELECT id FROM sessions WHERE node = ? AND pid = ? AND ended_at IS NULL");
    q.bind(1, node);
    q.bind(2, pid);
    while (q.step()) ids.push_back(q.column(0).text());
    Statement u(db_,
                "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE node = ? AND pid = ? AND ended_at IS NULL");
    u.bind(1, static_cast<int64_t>(clock_.now()));
    u.bind(2, reason);
    u.bind(3, node);
    u.bind(4, pid);
    u.run();
    return {};
  });
  if (!st) return st.error();
  return ids;
}

}  // namespace bastion::recorder
