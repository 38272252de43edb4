#include "authn/console_store.h"

#include "common/database_sql.h"
#include "common/ed25519_key.h"
#include "common/encoding.h"
#include "common/random.h"

namespace bastion::authn {
namespace {

std::string new_secret() {
  std::string raw = random_bytes(32);
  return base64url_encode(as_bytes(raw));
}

const char* kSessionColumns =
    "id, user_name, credential_id, source, created_at, last_seen_at, ended_at, end_reason FROM console_sessions";

ConsoleSession read_session(Statement& q) {
  ConsoleSession s;
  s.id = q.column(0).text();
  s.user = q.column(1).text();
  s.credential_id = q.column(2).text();
  s.source = q.column(3).text();
  s.created_at = q.column(4).int64();
  s.last_seen_at = q.column(5).int64();
  if (!q.column(6).is_null()) s.ended_at = q.column(6).int64();
  s.end_reason = q.column(7).text();
  return s;
}

bool is_hex(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789abcdef") == std::string::npos; }

}  // namespace

std::string console_session_id(std::string_view cookie) { return hex_encode(sha256(as_bytes(cookie))); }

std::string console_csrf_token(std::string_view cookie) {
  std::string in = "bastion console csrf\n";
  in += cookie;
  auto d = sha256(as_bytes(in));
  return base64url_encode(d);
}

Result<std::string> ConsoleStore::create_session(const std::string& user, const std::string& credential_id,
                                                 const std::string& source) {
  std::string cookie = new_secret();
  Micros now = clock_.now();
  auto st = with_transaction(db_, [&]() -> Status {
    Statement ins(db_,
                  "INSERT INTO console_sessions(id, user_name, credential_id, source, created_at, last_seen_at) "
                  "VALUES (?,?,?,?,?,?)");
    ins.bind(1, console_session_id(cookie));
    ins.bind(2, user);
    ins.bind(3, credential_id);
    ins.bind(4, source);
    ins.bind(5, static_cast<int64_t>(now));
    ins.bind(6, static_cast<int64_t>(now));
    ins.run();
    return {};
  });
  if (!st) return st.error();
  return cookie;
}

Result<ConsoleSession> ConsoleStore::find_session(std::string_view cookie) {
  ConsoleSession s;
  auto st = guarded([&]() -> Status {
    Statement q(db_, std::string("SELECT ") + kSessionColumns + " WHERE id = ?");
    q.bind(1, console_session_id(cookie));
    if (!q.step()) return make_error(ErrorCode::kNotFound, "not signed in");
    s = read_session(q);
    return {};
  });
  if (!st) return st.error();
  return s;
}

Status ConsoleStore::touch(const ConsoleSession& s, const ConsoleLimits& limits) {
  Micros now = clock_.now();
  if (now - s.last_seen_at < limits.touch_every) return {};
  return with_transaction(db_, [&]() -> Status {
    Statement up(db_, "UPDATE console_sessions SET last_seen_at = ? WHERE id = ? AND ended_at IS NULL");
    up.bind(1, static_cast<int64_t>(now));
    up.bind(2, s.id);
    up.run();
    return {};
  });
}

Result<ConsoleSession> ConsoleStore::end_session(const std::string& id_or_prefix, const std::string& reason) {
  if (id_or_prefix.size() < 8 || !is_hex(id_or_prefix)) {
    return make_error(ErrorCode::kInvalid, "a console session id is at least 8 hex digits (see `web sessions list`)");
  }
  ConsoleSession out;
  auto st = with_transaction(db_, [&]() -> Status {
    Statement q(db_, std::string("SELECT ") + kSessionColumns + " WHERE id LIKE ? AND ended_at IS NULL");
    q.bind(1, id_or_prefix + "%");
    std::vector<ConsoleSession> found;
    while (q.step()) found.push_back(read_session(q));
    if (found.empty()) return make_error(ErrorCode::kNotFound, "no live console session " + id_or_prefix);
    if (found.size() > 1) {
      return make_error(ErrorCode::kInvalid, id_or_prefix + " names " + std::to_string(found.size()) +
                                                 " console sessions; give more digits");
    }
    Micros now = clock_.now();
    Statement up(db_, "UPDATE console_sessions SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL");
    up.bind(1, static_cast<int64_t>(now));
    up.bind(2, reason);
    up.bind(3, found[0].id);
    up.run();
    out = found[0];
    out.ended_at = now;
    out.end_reason = reason;
    return {};
  });
  if (!st) return st.error();
  return out;
}

Result<int> ConsoleStore::end_sessions_of(const std::string& user, const std::string& reason) {
  int n = 0;
  auto st = with_transaction(db_, [&]() -> Status {
    Statement up(db_,
                 "UPDATE console_sessions SET ended_at = ?, end_reason = ? WHERE user_name = ? AND ended_at IS NULL");
    up.bind(1, static_cast<int64_t>(clock_.now()));
    up.bind(2, reason);
    up.bind(3, user);
    n = up.run();
    return {};
  });
  if (!st) return st.error();
  return n;
}

Result<std::vector<ConsoleSession>> ConsoleStore::sessions(bool include_ended) {
  std::vector<ConsoleSession> out;
  auto st = guarded([&]() -> Status {
    Statement q(db_, std::string("SELECT ") + kSessionColumns + (include_ended ? "" : " WHERE ended_at IS NULL") +
                         " ORDER BY created_at DESC, id");
    while (q.step()) out.push_back(read_session(q));
    return {};
  });
  if (!st) return st.error();
  return out;
}

Result<std::string> ConsoleStore::create_ceremony(const ConsoleCeremony& c) {
  std::string token = new_secret();
  auto st = with_transaction(db_, [&]() -> Status {
    Statement ins(db_,
                  "INSERT INTO console_ceremonies(id, session_id, user_name, action, challenge, created_at, "
                  "expires_at) VALUES (?,?,?,?,?,?,?)");
    ins.bind(1, console_session_id(token));
    ins.bind(2, c.session_id);
    ins.bind(3, c.user);
    ins.bind(4, c.action);
    ins.bind(5, c.challenge.data(), static_cast<int>(c.challenge.size()));
    ins.bind(6, static_cast<int64_t>(c.created_at));
    ins.bind(7, static_cast<int64_t>(c.expires_at));
    ins.run();
    return {};
  });
  if (!st) return st.error();
  return token;
}

Result<ConsoleCeremony> ConsoleStore::take_ceremony(std::string_view token) {
  ConsoleCeremony c;
  Micros now = clock_.now();
  auto st = with_transaction(db_, [&]() -> Status {
    const std::string id = console_session_id(token);
    Statement q(db_,
                "SELECT session_id, user_name, action, challenge, created_at, expires_at, used_at "
                "FROM console_ceremonies WHERE id = ?");
    q.bind(1, id);
    if (!q.step()) return make_error(ErrorCode::kNotFound, "unknown or finished security-key request; start again");
    c.session_id = q.column(0).text();
    c.user = q.column(1).text();
    c.action = q.column(2).text();
    c.challenge = q.column(3).text();
    c.created_at = q.column(4).int64();
    c.expires_at = q.column(5).int64();
    if (!q.column(6).is_null()) return make_error(ErrorCode::kGone, "this security-key request was already used");
    if (c.expires_at <= now) return make_error(ErrorCode::kGone, "this security-key request expired; start again");
    // SECURITY: single use, whatever the answer turns out to be.
    Statement up(db_, "UPDATE console_ceremonies SET used_at = ? WHERE id = ? AND used_at IS NULL");
    up.bind(1, static_cast<int64_t>(now));
    up.bind(2, id);
    if (up.run() != 1) return make_error(ErrorCode::kGone, "this security-key request was already used");
    return {};
  });
  if (!st) return st.error();
  return c;
}

Result<int> ConsoleStore::purge_ceremonies() {
  int n = 0;
  auto st = with_transaction(db_, [&]() -> Status {
    Statement del(db_, "DELETE FROM console_ceremonies WHERE expires_at < ?");
    del.bind(1, static_cast<int64_t>(clock_.now() - 24 * 3600 * kMicrosPerSecond));
    n = del.run();
    return {};
  });
  if (!st) return st.error();
  return n;
}

}  // namespace bastion::authn
