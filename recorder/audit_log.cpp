#include "recorder/audit_log.h"

#include "common/database_sql.h"
#include "recorder/audit_chain.h"
#include "recorder/recorder_sql.h"
#include "recorder/text_match.h"

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
    if (observer_) {
      if (auto st = observer_(r.seq, r.hash, e); !st)
        throw DatabaseError(st.message(), st.error().code == ErrorCode::kBusy);
    }
    return r.seq;
  }
}

namespace {

// How a text filter is applied. kRecordByRecord: LIKE (PostgreSQL: ILIKE,
// which its planner answers from its trigram indexes). kIndex (SQLite):
// the trigram index (audit_text) is walked in the order asked for, each
// record that holds all of the text's trigrams is read and LIKE decides;
// `walk` of them at most (-1: until `limit` records are found).
enum class TextPlan { kRecordByRecord, kIndex };

std::vector<AuditRecord> select_records(Database& db, const AuditFilter& f, TextPlan plan, int64_t walk) {
  bool indexed = !f.text.empty() && plan == TextPlan::kIndex;
  const char* direction = f.newest_first ? " DESC" : "";
  std::string statement =
      "SELECT a.seq, a.ts, a.actor, a.action, a.target, a.login, a.source, a.session_id, a.outcome, a.reason, "
      "a.details, a.prev_hash, a.hash FROM ";
  if (!indexed) {
    statement += "audit_log a WHERE 1=1";
  } else if (walk < 0) {
    statement += "audit_text CROSS JOIN audit_log a ON a.seq = audit_text.rowid WHERE audit_text MATCH :text";
  } else {
    statement += std::string("(SELECT rowid FROM audit_text WHERE audit_text MATCH :text ORDER BY rowid") + direction +
                 " LIMIT :walk) m CROSS JOIN audit_log a ON a.seq = m.rowid WHERE 1=1";
  }
  if (!f.actor.empty()) statement += " AND a.actor = :actor";
  if (!f.target.empty()) statement += " AND a.target = :target";
  if (!f.action.empty()) statement += " AND a.action = :action";
  if (!f.session_id.empty()) statement += " AND a.session_id = :session";
  if (!f.text.empty()) {
    const char* like = db.postgres() ? "ILIKE" : "LIKE";
    statement +=
        std::string(" AND (a.reason ") + like + " :like ESCAPE '\\' OR a.details " + like + " :like ESCAPE '\\')";
  }
  if (f.since) statement += " AND a.ts >= :since";
  if (f.until) statement += " AND a.ts <= :until";
  const char* order = !indexed ? " ORDER BY a.seq" : (walk < 0 ? " ORDER BY audit_text.rowid" : " ORDER BY m.rowid");
  statement += std::string(order) + direction + " LIMIT :limit";
  Statement q(db, statement);
  if (!f.actor.empty()) q.bind(":actor", f.actor);
  if (!f.target.empty()) q.bind(":target", f.target);
  if (!f.action.empty()) q.bind(":action", f.action);
  if (!f.session_id.empty()) q.bind(":session", f.session_id);
  if (indexed) q.bind(":text", fts_trigrams(f.text));
  if (!f.text.empty()) q.bind(":like", contains_pattern(f.text));
  if (indexed && walk >= 0) q.bind(":walk", walk);
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
}

// Matches of the trigram index walked before a text that most records hold
// is looked for record by record among those the other filters select.
constexpr int64_t kIndexWalk = 20000;

}  // namespace

bool fts_holds_more_than(Database& db, const std::string& fts_table, const std::string& text, int64_t n) {
  Statement q(db, "SELECT rowid FROM " + fts_table + " WHERE " + fts_table + " MATCH ? LIMIT 1 OFFSET ?");
  q.bind(1, fts_trigrams(text));
  q.bind(2, n);
  return q.step();
}

bool AuditLog::text_is_indexed(const std::string& text) { return trigram_searchable(text); }

Result<std::vector<AuditRecord>> AuditLog::query(const AuditFilter& f) {
  try {
    // Text on SQLite: through the trigram index when it is three characters
    // or more (shorter text has no trigram), so a rare text costs what it
    // finds. With other filters too, a common text may match a long run of
    // records they all refuse (a word in every record, of an action with
    // none): after kIndexWalk matches without `limit` records, the records
    // those filters select (by their own indexes) are read and the text is
    // looked for in each. Either way LIKE decides: letters in any case
    // (SQLite: ASCII letters). PostgreSQL's planner makes that choice itself.
    if (f.text.empty() || db_.postgres() || !trigram_searchable(f.text)) {
      return select_records(db_, f, TextPlan::kRecordByRecord, -1);
    }
    bool narrowed = !f.actor.empty() || !f.target.empty() || !f.action.empty() || !f.session_id.empty() ||
                    f.since.has_value() || f.until.has_value();
    if (!narrowed) return select_records(db_, f, TextPlan::kIndex, -1);
    auto walked = select_records(db_, f, TextPlan::kIndex, kIndexWalk);
    if (static_cast<int64_t>(walked.size()) >= f.limit || !fts_holds_more_than(db_, "audit_text", f.text, kIndexWalk))
      return walked;
    return select_records(db_, f, TextPlan::kRecordByRecord, -1);
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
