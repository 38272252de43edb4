// ConsoleWeb: the gateway's side of the web console (the monitor answers
// the web process's console calls with it, against its own database).
//
// A console call is one JSON object the web process builds from an HTTP
// request: {"cookie", "csrf", "origin", "source", "args": {...}}; `op` names
// what is asked. The web process renders pages from the answers; it decides
// nothing. Here every call is checked again from the database:
//   - sign-in (signin-options, signin-assert): a WebAuthn assertion with
//     user verification by an active credential of an active person; it
//     creates a console session and answers {"set_cookie": VALUE}.
//   - every other call needs a live console session: the cookie names one
//     that is not ended, idle less than 15 min, younger than 8 h, whose
//     person is still active and whose signing-in credential still active.
//     Anything else ends the session (with the reason) and answers 401.
//   - state-changing calls (every op but the page reads) also need the exact
//     Origin of [web] public_url and the CSRF token that goes with the cookie.
//   - actions with consequences (approve, deny, revoke a request; end a
//     live session) take two calls:
//     action-options stores the action, its target and its parameters with a
//     fresh challenge and answers what the page shows; action-assert checks
//     an assertion over that challenge by the credential that signed in, and
//     only then acts (through ElevationService, as command mode does).
//   - a person sees only what policy/console_access.h lets them: a request,
//     session or recording they may not see answers 404, as one that does
//     not exist.
//   - a recording's file is opened here, read-only, and handed over with the
//     answer (WebReply::file); replaying and downloading are audited.
// Every sign-in, refusal, action and session end is audited.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "authn/console_store.h"
#include "gateway/app/services.h"
#include "gateway/app/web_backend.h"
#include "gateway/app/web_origin.h"

namespace bastion::gateway {

// The console's cookie: __Host- (Secure, Path=/, no Domain), so no other
// host or path can set or shadow it.
inline constexpr const char* kConsoleCookie = "__Host-bastion-console";

// The console calls, for the web process and the monitor to agree on.
// Reads (no Origin or CSRF check): "requests", "request", "live", "session",
// "recordings", "recording", "recording-file", "audit", "audit-export", "people",
// "watch", "watch-check" ("recording-file", "audit-export" and "watch" hand
// over a file with their answer).
// Changes: "signin-options", "signin-assert", "signout", "action-options", "action-assert", "request-new".
bool is_console_op(const std::string& op);
bool is_console_read(const std::string& op);

// What the console needs of the running gateway.
struct ConsoleHooks {
  // Ends live session `id` with `message` (shown to its person), on this
  // node or the one it runs on; false when it is live on none.
  std::function<bool(const std::string& id, const std::string& message)> end_session;
  // Someone starts watching live session `id` (on this node): its process
  // writes its recording at the watch interval and tells its person
  // `notice` (empty: says nothing); false when it is not live on this node.
  std::function<bool(const std::string& id, const std::string& notice)> watch_session;
  // [web] tell_watched: whether the watched person is told.
  bool tell_watched = true;
};

class ConsoleWeb {
 public:
  ConsoleWeb(Services& services, WebOrigin origin, ConsoleHooks hooks = {}, authn::ConsoleLimits limits = {})
      : s_(services), origin_(std::move(origin)), hooks_(std::move(hooks)), limits_(limits) {}

  // One console call. On success after an action, `*changed` (if given) is
  // set when elevations changed (the caller ends sessions a revocation ends).
  WebReply call(const std::string& op, const nlohmann::json& call, bool* changed = nullptr);

 private:
  // The signed-in person of a call.
  struct Signed {
    authn::ConsoleSession session;
    policy::Person person;
    std::string source;
    std::string cookie;
    std::string actor_session() const { return "console-" + session.short_id(); }
  };
  WebReply signin_options(const nlohmann::json& call);
  WebReply signin_assert(const nlohmann::json& call);
  WebReply requests_page(const Signed& who);
  WebReply request_page(const Signed& who, const nlohmann::json& args);
  WebReply live_page(const Signed& who);
  WebReply session_page(const Signed& who, const nlohmann::json& args);
  // console_recordings.cpp
  WebReply recordings_page(const Signed& who, const nlohmann::json& args);
  WebReply recording_page(const Signed& who, const nlohmann::json& args);
  WebReply recording_file(const Signed& who, const nlohmann::json& args);
  WebReply watch(const Signed& who, const nlohmann::json& args, bool check);
  // console_people.cpp
  WebReply people_page(const Signed& who, const nlohmann::json& args);
  // console_audit.cpp
  WebReply audit_page(const Signed& who, const nlohmann::json& args);
  WebReply audit_export(const Signed& who, const nlohmann::json& args);
  std::optional<std::pair<recorder::SessionRecord, std::string>> reviewable(const Signed& who, const std::string& id,
                                                                            WebReply& refusal);
  WebReply action_options(const Signed& who, const nlohmann::json& args);
  WebReply action_assert(const Signed& who, const nlohmann::json& call, bool* changed);
  WebReply end_options(const Signed& who, const std::string& id, const std::string& reason);
  WebReply break_glass_options(const Signed& who, const nlohmann::json& args);
  // Stores `bound` (the action, its target and parameters) with a challenge
  // that covers it; answers the page's WebAuthn options.
  WebReply ceremony(const Signed& who, const nlohmann::json& bound);
  WebReply request_new(const Signed& who, const nlohmann::json& args);
  WebReply signout(const Signed& who);
  // The live session the call's cookie names; nullopt with the 401/403 answer in `refusal`.
  std::optional<Signed> signed_in(const nlohmann::json& call, bool changes, WebReply& refusal);
  void audit(const std::string& actor, const std::string& action, recorder::Outcome outcome, const std::string& reason,
             nlohmann::json details, const std::string& source);

  Services& s_;
  WebOrigin origin_;
  ConsoleHooks hooks_;
  authn::ConsoleLimits limits_;
};

}  // namespace bastion::gateway
