// The web console's sign-in state in the database: console sessions (what a
// browser's cookie stands for) and WebAuthn ceremonies in progress (a
// sign-in, or one action with consequences whose challenge covers that
// action, its target and its parameters).
//
// Contract: the cookie and the ceremony token are random 32-byte secrets
// handed out once; only their SHA-256 is stored, so a copy of the database
// signs nobody in. A session lives until it is ended (sign-out, an
// administrator, the person's leaver event or disablement, noticed on the
// next request) or until it is idle or old beyond the limits the caller
// checks (ConsoleLimits). A ceremony is single use and expires. Every
// mutation is one transaction. Not thread-safe: one per thread or guarded by
// the caller (the monitor answers web calls one at a time).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/database.h"
#include "common/result.h"

namespace bastion::authn {

struct ConsoleLimits {
  Micros idle = 15 * 60 * kMicrosPerSecond;         // no request for this long ends a session
  Micros absolute = 8 * 3600 * kMicrosPerSecond;    // a session never lives longer
  Micros ceremony_ttl = 5 * 60 * kMicrosPerSecond;  // a sign-in or an action must be finished within
  Micros touch_every = 30 * kMicrosPerSecond;       // last_seen_at is written at most this often
};

struct ConsoleSession {
  std::string id;  // SHA-256 (hex) of the cookie; its first 12 digits name it to administrators
  std::string user;
  std::string credential_id;  // base64url: the credential that signed in (the session is bound to it)
  std::string source;         // "ip" of the browser at sign-in
  Micros created_at = 0;
  Micros last_seen_at = 0;
  std::optional<Micros> ended_at;
  std::string end_reason;
  [[nodiscard]] std::string short_id() const { return id.substr(0, 12); }
};

struct ConsoleCeremony {
  std::string session_id;  // the console session an action belongs to; "" for a sign-in
  std::string user;        // who must answer it; "" for a sign-in with any discoverable credential
  std::string action;      // JSON: {"op":"signin"} or the action, its target and its parameters
  std::string challenge;   // raw bytes
  Micros created_at = 0;
  Micros expires_at = 0;
};

// The console session id (SHA-256 hex) of a cookie value.
std::string console_session_id(std::string_view cookie);
// The CSRF token that goes with a cookie: derived from it, so it needs no
// storage and cannot be computed without the (HttpOnly) cookie.
std::string console_csrf_token(std::string_view cookie);

class ConsoleStore {
 public:
  ConsoleStore(Database& db, const Clock& clock) : db_(db), clock_(clock) {}

  // A new session: returns the cookie value (43 characters of base64url).
  Result<std::string> create_session(const std::string& user, const std::string& credential_id,
                                     const std::string& source);
  // kNotFound when there is no such session.
  Result<ConsoleSession> find_session(std::string_view cookie);
  // Records activity (at most every limits.touch_every).
  Status touch(const ConsoleSession& s, const ConsoleLimits& limits);
  // Ends a live session; kNotFound when `id_or_prefix` (at least 8 hex
  // digits) names no live session, kInvalid when it names several.
  Result<ConsoleSession> end_session(const std::string& id_or_prefix, const std::string& reason);
  // Ends every live session of `user`; returns how many.
  Result<int> end_sessions_of(const std::string& user, const std::string& reason);
  // Sessions newest first: live ones (not ended; the caller judges idleness),
  // or every one with `include_ended`.
  Result<std::vector<ConsoleSession>> sessions(bool include_ended);

  // A ceremony: returns its token (43 characters of base64url).
  Result<std::string> create_ceremony(const ConsoleCeremony& c);
  // Takes a ceremony once: kNotFound (unknown), kGone (used or expired).
  Result<ConsoleCeremony> take_ceremony(std::string_view token);
  // Deletes ceremonies that expired more than a day ago; returns how many.
  Result<int> purge_ceremonies();

 private:
  Database& db_;
  const Clock& clock_;
};

}  // namespace bastion::authn
