// The audit log: one API through which every security-relevant event is
// recorded. Backed by the audit_log table of the bastion database.
//
// Contract: append() is one short write transaction that chains the record
// to the previous one (see audit_chain.h); many processes may append
// concurrently (SQLite WAL + busy timeout) and the chain stays valid. An append that fails
// returns an error; callers on an access path must then deny (fail closed).
// Not thread-safe (one AuditLog per process, like Database).
#pragma once

#include <nlohmann/json.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/database.h"
#include "common/result.h"

namespace bastion::recorder {

enum class Outcome { kAllow, kDeny, kError, kInfo };
std::string to_string(Outcome o);

struct AuditEvent {
  std::string actor;   // person name, or "system", or "admin:<uid>"
  std::string action;  // e.g. "auth", "access", "session.start", "user.add"
  Outcome outcome = Outcome::kInfo;
  std::string reason;
  std::string target;
  std::string login;
  std::string source;  // "ip:port" of the client
  std::string session_id;
  nlohmann::json details = nlohmann::json::object();
};

struct AuditRecord {
  int64_t seq = 0;
  Micros ts = 0;
  AuditEvent event;
  std::string prev_hash, hash;
};

struct AuditFilter {
  std::string actor, target, action, session_id;
  std::string text;  // occurs in the reason or the details, in any case
  std::optional<Micros> since, until;
  int limit = 1000;
  bool newest_first = false;  // else oldest first
};

class AuditLog {
 public:
  AuditLog(Database& db, const Clock& clock) : db_(db), clock_(clock) {}

  Result<int64_t> append(const AuditEvent& e);
  // Appends inside a write transaction the caller already holds on the same
  // database (so a change and its audit record commit or vanish together).
  // An error leaves the caller's transaction to be rolled back.
  Result<int64_t> append_in_transaction(const AuditEvent& e);
  // Runs `change` in one transaction with every record appended meanwhile:
  // both commit, or neither (with_transaction's rules: nested, a savepoint).
  Status atomically(const std::function<Status()>& change);
  Result<std::vector<AuditRecord>> query(const AuditFilter& f);
  // Whether query() finds `text` through the index (three characters or
  // more); shorter text is looked for in every record the other filters
  // select.
  static bool text_is_indexed(const std::string& text);
  // The newest record's sequence number (0: the log is empty).
  Result<int64_t> last_seq();
  // How far the stream syslog collector `target` (its URL) has the log, as
  // the node that delivers to it recorded (recorder/syslog_forwarder.h, on
  // PostgreSQL); nullopt: nothing recorded yet.
  struct DeliveryCursor {
    int64_t seq = 0;
    std::string node;
    Micros updated_at = 0;
  };
  Result<std::optional<DeliveryCursor>> syslog_cursor(const std::string& target);
  // Records that `target` has every record up to `seq`. Never moves a
  // cursor back (two nodes that both deliver for a moment keep the furthest).
  Status set_syslog_cursor(const std::string& target, int64_t seq, const std::string& node);
  // Runs after each record is written, inside its transaction, with the
  // record's sequence number and hash (gateway/app/notifications.h writes
  // the notifications an event causes there). An error rolls the record
  // back with the caller's change (append returns it).
  using Observer = std::function<Status(int64_t seq, const std::string& hash, const AuditEvent& e)>;
  void set_observer(Observer o) { observer_ = std::move(o); }
  // The database records are appended to, for the recorder's stores that
  // share this connection (gateway/ never needs it).
  Database& database() { return db_; }

 private:
  Result<int64_t> append_once(const AuditEvent& e);
  int64_t append_row(const AuditEvent& e);  // throws DatabaseError

  Database& db_;
  const Clock& clock_;
  Observer observer_;
};

nlohmann::json to_json(const AuditRecord& r);

}  // namespace bastion::recorder
