#include "recorder/audit_log.h"

#include "common/database_sql.h"
#include "recorder/audit_chain.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <sstream>

namespace bastion::recorder {

std::string to_string(Outcome o) {
  switch (o) {
    case Outcome::kAllow: return "allow";
    case Outcome::kDeny: return "deny";
    case Outcome::kError: return "error";
    case Outcome::kInfo: return "info";
  }
  return "error";
}

namespace {
// transaction_memo() key: "SEQ TS HASH" of the record appended last.
constexpr const char* kHeadMemo = "audit.head";

Outcome parse_outcome(const std::string& s) {
  if (s == "allow") return Outcome::kAllow;
  if (s == "deny") return Outcome::kDeny;
  if (s == "info") return Outcome::kInfo;
  return Outcome::kError;
}
}  // namespace

Result<int64_t> AuditLog::append(const AuditEvent& e) {
  // SQLite's busy handler already waits up to busy_timeout; a few more tries
  // cover only the cases where it reports SQLITE_BUSY without having waited.
  // An attempt that waited is final: the monitor appends inside its event
  // loop, and another busy_timeout there would stall every connection.
  for (int attempt = 0;; ++attempt) {
    auto began = std::chrono::steady_clock::now();
    auto r = append_once(e);
    if (r || attempt == 20 || r.error().code != ErrorCode::kBusy) return r;
    if (std::chrono::steady_clock::now() - began > std::chrono::milliseconds(100)) return r;
    ::usleep(static_cast<useconds_t>(2000 * (attempt + 1)));
  }
}

Result<int64_t> AuditLog::append_once(const AuditEvent& e) {
  // The write lock comes first (IMMEDIATE), so reading the tail and
  // appending after it is one atomic step across all processes. Inside a
  // transaction the caller holds (the monitor's group commit), a savepoint:
  // the record is durable when the caller commits.
  int64_t seq = 0;
  Status st = with_transaction(db_, [&]() -> Status {
    seq = append_row(e);
    return {};
  });
  if (!st) return st.error().prefixed("audit log: ");
  return seq;
}

Result<int64_t> AuditLog::append_in_transaction(const AuditEvent& e) {
  try {
    return append_row(e);
  } catch (const DatabaseError& ex) {
    return database_error("audit log: ", ex);
  }
}

Status AuditLog::atomically(const std::function<Status()>& change) { return with_transaction(db_, change); }

Result<int64_t> AuditLog::last_seq() {
  return guarded([&]() -> Result<int64_t> { return query_int64(db_, "SELECT COALESCE(MAX(seq), 0) FROM audit_log"); });
}

Result<std::optional<AuditLog::DeliveryCursor>> AuditLog::syslog_cursor(const std::string& target) {
  return guarded([&]() -> Result<std::optional<DeliveryCursor>> {
    Statement q(db_, "SELECT seq, node, updated_at FROM syslog_cursors WHERE target = ?");
    q.bind(1, target);
    if (!q.step()) return std::optional<DeliveryCursor>{};
    return std::optional<DeliveryCursor>(DeliveryCursor{q.column(0).int64(), q.column(1).text(), q.column(2).int64()});
  });
}

Status AuditLog::set_syslog_cursor(const std::string& target, int64_t seq, const std::string& node) {
  return with_transaction(db_, [&]() -> Status {
    Statement q(db_,
                "INSERT INTO syslog_cursors(target, seq, node, updated_at) VALUES (?,?,?,?) "
                "ON CONFLICT(target) DO UPDATE SET seq = excluded.seq, node = excluded.node, "
                "updated_at = excluded.updated_at WHERE syslog_cursors.seq < excluded.seq");
    q.bind(1, target);
    q.bind(2, seq);
    q.bind(3, node);
    q.bind(4, static_cast<int64_t>(clock_.now()));
    q.run();
    return {};
  });
}

int64_t AuditLog::append_row(const AuditEvent& e) {
  {
    StoredRecord r;
    r.prev_hash = kGenesisHash;
    r.ts = clock_.now();
    // The chain's head: read once per write transaction (which holds the
    // write lock, so no other connection can append meanwhile), then kept in
    // the transaction's memo for the next append of the same group commit.
    Micros last_ts = 0;
    if (const std::string* head = transaction_memo(db_, kHeadMemo)) {
      std::istringstream in(*head);
      in >> r.seq >> last_ts >> r.prev_hash;
    } else {
      Statement last(db_, "SELECT seq, hash, ts FROM audit_log ORDER BY seq DESC LIMIT 1");
      if (last.step()) {
        r.seq = last.column(0).int64();
        r.prev_hash = last.column(1).text();
        last_ts = last.column(2).int64();
      }
    }
    // Times never decrease along the chain (verification requires it): a
    // wall clock stepped back dates the record like its predecessor.
    r.ts = std::max<Micros>(r.ts, last_ts);
    r.seq += 1;
    r.actor = e.actor.empty() ? std::string("system") : e.actor;
    r.action = e.action;
    r.target = e.target;
    r.login = e.login;
    r.source = e.source;
    r.session_id = e.session_id;
    r.outcome = to_string(e.outcome);
    r.reason = e.reason;
    r.details = e.details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    r.hash = chain_hash(r.prev_hash, r);
    Statement q(db_,
                "INSERT INTO audit_log(seq, ts, actor, action, target, login, source, session_id, "
                "outcome, reason, details, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)");
    int i = 1;
    q.bind(i++, r.seq);
    q.bind(i++, static_cast<int64_t>(r.ts));
    for (const std::string* f : {&r.actor, &r.action, &r.target, &r.login, &r.source, &r.session_id, &r.outcome,
                                 &r.reason, &r.details, &r.prev_hash, &r.hash}) {
      q.bind(i++, *f);
    }
    q.run();
    set_transaction_memo(db_, kHeadMemo, std::to_string(r.seq) + " " + std::to_string(r.ts) + " " + r.hash);
    return r.seq;
  }
}

Result<std::vector<AuditRecord>> AuditLog::query(const AuditFilter& f) {
  try {
    std::string statement =
        "SELECT seq, ts, actor, action, target, login, source, session_id, outcome, reason, details, "
        "prev_hash, hash FROM audit_log WHERE 1=1";
    if (!f.actor.empty()) statement += " AND actor = :actor";
    if (!f.target.empty()) statement += " AND target = :target";
    if (!f.action.empty()) statement += " AND action = :action";
    if (!f.session_id.empty()) statement += " AND session_id = :session";
    if (!f.text.empty()) statement += " AND (reason LIKE :text OR details LIKE :text)";
    if (f.since) statement += " AND ts >= :since";
    if (f.until) statement += " AND ts <= :until";
    statement += f.newest_first ? " ORDER BY seq DESC LIMIT :limit" : " ORDER BY seq LIMIT :limit";
    Statement q(db_, statement);
    if (!f.actor.empty()) q.bind(":actor", f.actor);
    if (!f.target.empty()) q.bind(":target", f.target);
    if (!f.action.empty()) q.bind(":action", f.action);
    if (!f.session_id.empty()) q.bind(":session", f.session_id);
    if (!f.text.empty()) q.bind(":text", "%" + f.text + "%");
    if (f.since) q.bind(":since", static_cast<int64_t>(*f.since));
    if (f.until) q.bind(":until", static_cast<int64_t>(*f.until));
    q.bind(":limit", f.limit);
    std::vector<AuditRecord> out;
    while (q.step()) {
      AuditRecord r;
      r.seq = q.column(0).int64();
      r.ts = q.column(1).int64();
      r.event.actor = q.column(2).text();
      r.event.action = q.column(3).text();
      r.event.target = q.column(4).text();
      r.event.login = q.column(5).text();
      r.event.source = q.column(6).text();
      r.event.session_id = q.column(7).text();
      r.event.outcome = parse_outcome(q.column(8).text());
      r.event.reason = q.column(9).text();
      r.event.details = nlohmann::json::parse(q.column(10).text(), nullptr, false);
      r.prev_hash = q.column(11).text();
      r.hash = q.column(12).text();
      out.push_back(std::move(r));
    }
    return out;
  } catch (const DatabaseError& ex) {
    return database_error("audit log: ", ex);
  }
}

nlohmann::json to_json(const AuditRecord& r) {
  return {{"seq", r.seq},
          {"time", format_utc(r.ts)},
          {"actor", r.event.actor},
          {"action", r.event.action},
          {"outcome", to_string(r.event.outcome)},
          {"reason", r.event.reason},
          {"target", r.event.target},
          {"login", r.event.login},
          {"source", r.event.source},
          {"session_id", r.event.session_id},
          {"details", r.event.details},
          {"prev_hash", r.prev_hash},
          {"hash", r.hash}};
}

}  // namespace bastion::recorder
