// Outbox: notifications waiting to be delivered, and what became of them
// (the notifications table, schema 16).
//
// A notification is written in the transaction of the audit record that
// causes it (gateway/app/notifications.h installs the hook), keyed by that
// record's sequence number and an index, so it exists exactly when its event
// does. A worker delivers them (gateway/app/notification_worker.h): at
// least once, in order within a thread (one request's notifications on one
// channel), with exponential back-off; each carries an idempotency key the
// receiver can deduplicate on.
//
// Contract: every call is one statement or one transaction on the caller's
// Database; add() joins a transaction the caller holds. Not thread-safe (one
// Outbox per connection, like every store).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/database.h"
#include "common/result.h"

namespace bastion::notifications {

enum class State { kPending, kSent, kFailed };
std::string to_string(State s);
std::optional<State> parse_state(const std::string& s);

struct Notification {
  int64_t seq = 0;                      // the audit record that caused it
  int n = 0;                            // its index among that record's notifications (1, 2, ...)
  std::string key;                      // idempotency key, unique across databases (the record's hash)
  std::string kind;                     // "request", "decided", "grant_start", ... (gateway/app/notifications.h)
  std::string channel;                  // "email" or "webhook:NAME"
  std::vector<std::string> recipients;  // email: the addresses
  std::string thread;                   // delivered in order within (channel, thread): a request id
  std::string subject, body, link;
  nlohmann::json facts = nlohmann::json::object();  // the event's fields, for webhooks
  Micros created_at = 0;
  State state = State::kPending;
  int attempts = 0;
  Micros next_at = 0;
  std::string last_error;
  Micros sent_at = 0;

  // "SEQ.N", how bastionctl names it.
  [[nodiscard]] std::string id() const;
};

struct OutboxFilter {
  std::optional<State> state;
  std::string thread;  // only this request's (or thread's); empty: all
  std::string kind;    // only this kind; empty: all
  int limit = 100;
  bool newest_first = true;
};

class Outbox {
 public:
  explicit Outbox(Database& db) : db_(db) {}

  // Adds `n` (pending, due at its created_at) inside the caller's
  // transaction (or its own). A key already present is a no-op.
  Status add(const Notification& n);
  // Pending notifications in delivery order (seq, n), at most `limit`; the
  // worker decides which are due and which wait behind their thread.
  Result<std::vector<Notification>> pending(int limit);
  Result<std::vector<Notification>> list(const OutboxFilter& f);
  // One by "SEQ.N"; nullopt: there is none.
  Result<std::optional<Notification>> find(const std::string& id);
  Status mark_sent(const Notification& n, Micros at);
  // A failed attempt: next try at `next_at`, or given up (kFailed) when `give_up`.
  Status mark_attempt_failed(const Notification& n, const std::string& error, Micros next_at, bool give_up);
  // Makes a failed (or pending) notification due now with a fresh count;
  // an error for one already sent or unknown.
  Status retry(const std::string& id, Micros now);
  // Every failed one due now; how many.
  Result<int> retry_failed(Micros now);
  // How many in each state.
  Result<std::vector<std::pair<std::string, int64_t>>> counts();
  // Marks: once-only events that are not audit records of their own making
  // (a grant's "ending soon" warning). True if `key` was new (and is now marked).
  Result<bool> mark_once(const std::string& key, Micros at);

 private:
  Database& db_;
};

}  // namespace bastion::notifications
