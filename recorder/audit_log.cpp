#include "recorder/audit_log.h"

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
Outcome parse_outcome(const std::string& s) {
  if (s == "allow") return Outcome::kAllow;
  if (s == "deny") return Outcome::kDeny;
  if (s == "info") return Outcome::kInfo;
  return Outcome::kError;
}
}  // namespace

Result<int64_t> AuditLog::append(const AuditEvent& e) {
  try {
    SQLite::Transaction tx(db_.sql(), SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement q(db_.sql(),
                        "INSERT INTO audit_log(ts, actor, action, target, login, source, session_id, "
                        "outcome, reason, details) VALUES (?,?,?,?,?,?,?,?,?,?)");
    q.bind(1, static_cast<int64_t>(clock_.now()));
    q.bind(2, e.actor.empty() ? std::string("system") : e.actor);
    q.bind(3, e.action);
    q.bind(4, e.target);
    q.bind(5, e.login);
    q.bind(6, e.source);
    q.bind(7, e.session_id);
    q.bind(8, to_string(e.outcome));
    q.bind(9, e.reason);
    q.bind(10, e.details.dump());
    q.exec();
    int64_t seq = db_.sql().getLastInsertRowid();
    tx.commit();
    return seq;
  } catch (const SQLite::Exception& ex) {
    return make_error(std::string("audit log: ") + ex.what());
  }
}

Result<std::vector<AuditRecord>> AuditLog::query(const AuditFilter& f) {
  try {
    std::string sql =
        "SELECT seq, ts, actor, action, target, login, source, session_id, outcome, reason, details "
        "FROM audit_log WHERE 1=1";
    if (!f.actor.empty()) sql += " AND actor = :actor";
    if (!f.target.empty()) sql += " AND target = :target";
    if (!f.action.empty()) sql += " AND action = :action";
    if (f.since) sql += " AND ts >= :since";
    if (f.until) sql += " AND ts <= :until";
    sql += " ORDER BY seq LIMIT :limit";
    SQLite::Statement q(db_.sql(), sql);
    if (!f.actor.empty()) q.bind(":actor", f.actor);
    if (!f.target.empty()) q.bind(":target", f.target);
    if (!f.action.empty()) q.bind(":action", f.action);
    if (f.since) q.bind(":since", static_cast<int64_t>(*f.since));
    if (f.until) q.bind(":until", static_cast<int64_t>(*f.until));
    q.bind(":limit", f.limit);
    std::vector<AuditRecord> out;
    while (q.executeStep()) {
      AuditRecord r;
      r.seq = q.getColumn(0).getInt64();
      r.ts = q.getColumn(1).getInt64();
      r.event.actor = q.getColumn(2).getString();
      r.event.action = q.getColumn(3).getString();
      r.event.target = q.getColumn(4).getString();
      r.event.login = q.getColumn(5).getString();
      r.event.source = q.getColumn(6).getString();
      r.event.session_id = q.getColumn(7).getString();
      r.event.outcome = parse_outcome(q.getColumn(8).getString());
      r.event.reason = q.getColumn(9).getString();
      r.event.details = nlohmann::json::parse(q.getColumn(10).getString(), nullptr, false);
      out.push_back(std::move(r));
    }
    return out;
  } catch (const SQLite::Exception& ex) {
    return make_error(std::string("audit log: ") + ex.what());
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
          {"details", r.event.details}};
}

}  // namespace bastion::recorder
