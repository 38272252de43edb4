// Outbox (notify/outbox.h).
#include "notify/outbox.h"

#include <cstdlib>

#include "common/database_sql.h"

namespace bastion::notifications {
namespace {

constexpr const char* kColumns =
    "SELECT seq, n, idem_key, kind, channel, recipients, thread, subject, body, link, facts, created_at, state, "
    "attempts, next_at, last_error, COALESCE(sent_at, 0) FROM notifications";

std::string dumped(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

Notification read(Statement& q) {
  Notification n;
  n.seq = q.column(0).int64();
  n.n = q.column(1).int32();
  n.key = q.column(2).text();
  n.kind = q.column(3).text();
  n.channel = q.column(4).text();
  auto to = nlohmann::json::parse(q.column(5).text(), nullptr, false);
  if (to.is_array()) {
    for (const auto& a : to)
      if (a.is_string()) n.recipients.push_back(a.get<std::string>());
  }
  n.thread = q.column(6).text();
  n.subject = q.column(7).text();
  n.body = q.column(8).text();
  n.link = q.column(9).text();
  n.facts = nlohmann::json::parse(q.column(10).text(), nullptr, false);
  if (!n.facts.is_object()) n.facts = nlohmann::json::object();
  n.created_at = q.column(11).int64();
  n.state = parse_state(q.column(12).text()).value_or(State::kFailed);
  n.attempts = q.column(13).int32();
  n.next_at = q.column(14).int64();
  n.last_error = q.column(15).text();
  n.sent_at = q.column(16).int64();
  return n;
}

std::vector<Notification> read_all(Statement& q) {
  std::vector<Notification> out;
  while (q.step()) out.push_back(read(q));
  return out;
}

// "SEQ.N" -> (seq, n).
bool parse_id(const std::string& id, int64_t& seq, int& n) {
  auto dot = id.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 >= id.size() || id.size() > 40) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    if (i != dot && (id[i] < '0' || id[i] > '9')) return false;
  }
  seq = std::strtoll(id.substr(0, dot).c_str(), nullptr, 10);
  n = static_cast<int>(std::strtol(id.substr(dot + 1).c_str(), nullptr, 10));
  return seq > 0 && n > 0;
}

}  // namespace

std::string to_string(State s) {
  switch (s) {
    case State::kPending: return "pending";
    case State::kSent: return "sent";
    case State::kFailed: return "failed";
  }
  return "failed";
}

std::optional<State> parse_state(const std::string& s) {
  if (s == "pending") return State::kPending;
  if (s == "sent") return State::kSent;
  if (s == "failed") return State::kFailed;
  return std::nullopt;
}

std::string Notification::id() const { return std::to_string(seq) + "." + std::to_string(n); }

Status Outbox::add(const Notification& n) {
  return with_transaction(db_, [&]() -> Status {
    Statement q(db_,
                "INSERT INTO notifications (seq, n, idem_key, kind, channel, recipients, thread, subject, body, link, "
                "facts, created_at, state, attempts, next_at, last_error) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,'pending',0,?,'') ON CONFLICT (idem_key) DO NOTHING");
    int i = 1;
    q.bind(i++, n.seq);
    q.bind(i++, n.n);
    q.bind(i++, n.key);
    q.bind(i++, n.kind);
    q.bind(i++, n.channel);
    q.bind(i++, dumped(nlohmann::json(n.recipients)));
    q.bind(i++, n.thread);
    q.bind(i++, n.subject);
    q.bind(i++, n.body);
    q.bind(i++, n.link);
    q.bind(i++, dumped(n.facts));
    q.bind(i++, static_cast<int64_t>(n.created_at));
    q.bind(i++, static_cast<int64_t>(n.created_at));
    q.run();
    return {};
  });
}

Result<std::vector<Notification>> Outbox::pending(int limit) {
  return guarded([&]() -> Result<std::vector<Notification>> {
    Statement q(db_, std::string(kColumns) + " WHERE state = 'pending' ORDER BY seq, n LIMIT ?");
    q.bind(1, limit);
    return read_all(q);
  });
}

Result<std::vector<Notification>> Outbox::list(const OutboxFilter& f) {
  return guarded([&]() -> Result<std::vector<Notification>> {
    std::string sql = kColumns;
    std::string where;
    auto cond = [&](const char* c) { where += (where.empty() ? " WHERE " : " AND ") + std::string(c); };
    if (f.state) cond("state = ?");
    if (!f.thread.empty()) cond("thread = ?");
    if (!f.kind.empty()) cond("kind = ?");
    sql += where;
    sql += f.newest_first ? " ORDER BY seq DESC, n DESC" : " ORDER BY seq, n";
    sql += " LIMIT ?";
    Statement q(db_, sql);
    int i = 1;
    if (f.state) q.bind(i++, to_string(*f.state));
    if (!f.thread.empty()) q.bind(i++, f.thread);
    if (!f.kind.empty()) q.bind(i++, f.kind);
    q.bind(i, f.limit);
    return read_all(q);
  });
}

Result<std::optional<Notification>> Outbox::find(const std::string& id) {
  int64_t seq = 0;
  int n = 0;
  if (!parse_id(id, seq, n)) {
    return make_error(ErrorCode::kInvalid,
                      "'" + id.substr(0, 40) + "' is not a notification id (SEQ.N, as notify list shows)");
  }
  return guarded([&]() -> Result<std::optional<Notification>> {
    Statement q(db_, std::string(kColumns) + " WHERE seq = ? AND n = ?");
    q.bind(1, seq);
    q.bind(2, n);
    if (!q.step()) return std::optional<Notification>{};
    return std::optional<Notification>(read(q));
  });
}

Status Outbox::mark_sent(const Notification& n, Micros at) {
  return with_transaction(db_, [&]() -> Status {
    Statement q(db_,
                "UPDATE notifications SET state = 'sent', attempts = attempts + 1, sent_at = ?, last_error = '' "
                "WHERE seq = ? AND n = ?");
    q.bind(1, static_cast<int64_t>(at));
    q.bind(2, n.seq);
    q.bind(3, n.n);
    q.run();
    return {};
  });
}

Status Outbox::mark_attempt_failed(const Notification& n, const std::string& error, Micros next_at, bool give_up) {
  return with_transaction(db_, [&]() -> Status {
    Statement q(db_,
                "UPDATE notifications SET state = ?, attempts = attempts + 1, next_at = ?, last_error = ? "
                "WHERE seq = ? AND n = ? AND state = 'pending'");
    q.bind(1, give_up ? "failed" : "pending");
    q.bind(2, static_cast<int64_t>(next_at));
    q.bind(3, error.substr(0, 500));
    q.bind(4, n.seq);
    q.bind(5, n.n);
    q.run();
    return {};
  });
}

Status Outbox::retry(const std::string& id, Micros now) {
  auto found = find(id);
  if (!found) return found.error();
  if (!*found) return make_error(ErrorCode::kNotFound, "no notification " + id);
  if ((*found)->state == State::kSent) {
    return make_error(ErrorCode::kInvalid, "notification " + id + " was delivered already");
  }
  return with_transaction(db_, [&]() -> Status {
    Statement q(db_,
                "UPDATE notifications SET state = 'pending', attempts = 0, next_at = ? WHERE seq = ? AND n = ? "
                "AND state <> 'sent'");
    q.bind(1, static_cast<int64_t>(now));
    q.bind(2, (*found)->seq);
    q.bind(3, (*found)->n);
    q.run();
    return {};
  });
}

Result<int> Outbox::retry_failed(Micros now) {
  int changed = 0;
  Status st = with_transaction(db_, [&]() -> Status {
    Statement q(db_, "UPDATE notifications SET state = 'pending', attempts = 0, next_at = ? WHERE state = 'failed'");
    q.bind(1, static_cast<int64_t>(now));
    changed = q.run();
    return {};
  });
  if (!st) return st.error();
  return changed;
}

Result<std::vector<std::pair<std::string, int64_t>>> Outbox::counts() {
  return guarded([&]() -> Result<std::vector<std::pair<std::string, int64_t>>> {
    Statement q(db_, "SELECT state, COUNT(*) FROM notifications GROUP BY state ORDER BY state");
    std::vector<std::pair<std::string, int64_t>> out;
    while (q.step()) out.emplace_back(q.column(0).text(), q.column(1).int64());
    return out;
  });
}

Result<bool> Outbox::mark_once(const std::string& key, Micros at) {
  bool fresh = false;
  Status st = with_transaction(db_, [&]() -> Status {
    Statement q(db_, "INSERT INTO notify_marks (mark, at) VALUES (?, ?) ON CONFLICT (mark) DO NOTHING");
    q.bind(1, key);
    q.bind(2, static_cast<int64_t>(at));
    fresh = q.run() == 1;
    return {};
  });
  if (!st) return st.error();
  return fresh;
}

}  // namespace bastion::notifications
