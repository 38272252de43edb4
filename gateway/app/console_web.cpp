#include "gateway/app/console_web.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <map>
#include <set>

#include "common/ed25519_key.h"
#include "common/encoding.h"
#include "common/random.h"
#include "gateway/app/console_detail.h"
#include "gateway/app/daemon_log.h"
#include "gateway/app/webauthn_check.h"
#include "policy/console_access.h"

namespace bastion::gateway {
using console_detail::error;
using console_detail::kMaxName;
using console_detail::session_json;
using console_detail::str;
using console_detail::View;
using console_detail::view_of;
namespace {

using recorder::Outcome;

// How many requests a page lists per section (newest first).
constexpr size_t kListed = 100;
// How many of the requester's earlier requests to the same customer a request page shows.
constexpr size_t kHistory = 10;
constexpr size_t kMaxReason = 500;

std::string b64url(std::string_view raw) { return base64url_encode(as_bytes(raw)); }

const nlohmann::json& args_of(const nlohmann::json& call) {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  auto it = call.find("args");
  return it != call.end() && it->is_object() ? *it : kEmpty;
}

bool equal_secret(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool plausible_secret(const std::string& s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

constexpr std::array<const char*, 12> kReads = {"requests",     "request",   "live",           "session",
                                                "recordings",   "recording", "recording-file", "audit",
                                                "audit-export", "people",    "watch",          "watch-check"};
constexpr std::array<const char*, 6> kChanges = {"signin-options", "signin-assert", "signout",
                                                 "action-options", "action-assert", "request-new"};

}  // namespace

bool is_console_read(const std::string& op) {
  return std::any_of(kReads.begin(), kReads.end(), [&](const char* o) { return op == o; });
}

bool is_console_op(const std::string& op) {
  return is_console_read(op) || std::any_of(kChanges.begin(), kChanges.end(), [&](const char* o) { return op == o; });
}

void ConsoleWeb::audit(const std::string& actor, const std::string& action, Outcome outcome, const std::string& reason,
                       nlohmann::json details, const std::string& source) {
  recorder::AuditEvent e;
  e.actor = actor;
  e.action = action;
  e.outcome = outcome;
  e.reason = reason;
  e.source = source;
  e.details = std::move(details);
  if (auto r = s_.audit().append(e); !r) daemon_log("web", "AUDIT FAILURE: " + r.error().message);
}

WebReply ConsoleWeb::call(const std::string& op, const nlohmann::json& c, bool* changed) {
  if (!is_console_op(op)) return error(404, "not found");
  if (!c.is_object()) return error(400, "malformed console call");
  if (op == "signin-options" || op == "signin-assert") {
    // SECURITY: only the console's own page may start or finish a sign-in
    // (another site cannot sign a browser in to an account of its choosing).
    if (str(c, "origin") != origin_.origin) {
      audit("unknown", "console.signin", Outcome::kDeny, "request from another origin",
            {{"origin", str(c, "origin").substr(0, kMaxName)}}, str(c, "source"));
      return error(403, "cross-origin request refused");
    }
    return op == "signin-options" ? signin_options(c) : signin_assert(c);
  }
  WebReply refusal;
  auto who = signed_in(c, !is_console_read(op), refusal);
  if (!who) return refusal;
  const auto& args = args_of(c);
  if (op == "requests") return requests_page(*who);
  if (op == "recordings" || op == "audit" || op == "people") {
    WebReply r = op == "recordings" ? recordings_page(*who, args)
                 : op == "audit"    ? audit_page(*who, args)
                                    : people_page(*who, args);
    // SECURITY: a page whose role the person lacks answers with a note and
    // nothing else; that refusal is audited like the others.
    if (r.status == 200 && r.body.contains("note")) {
      audit(who->person.name, "console.refused", Outcome::kDeny, str(r.body, "note"),
            {{"op", op}, {"console_session", who->session.short_id()}}, who->source);
    }
    return r;
  }
  if (op == "request" || op == "session" || op == "action-options" || op == "recording" || op == "recording-file" ||
      op == "audit-export" || op == "watch" || op == "watch-check") {
    WebReply r = op == "request"          ? request_page(*who, args)
                 : op == "session"        ? session_page(*who, args)
                 : op == "recording"      ? recording_page(*who, args)
                 : op == "recording-file" ? recording_file(*who, args)
                 : op == "audit-export"   ? audit_export(*who, args)
                 : op == "watch"          ? watch(*who, args, false)
                 : op == "watch-check"    ? watch(*who, args, true)
                                          : action_options(*who, args);
    // SECURITY: a refusal (not visible to this person, not theirs to decide,
    // no longer live) is audited with its reason, as the action itself would be.
    if (r.status == 403 || r.status == 404 || r.status == 409) {
      audit(who->person.name, "console.refused", Outcome::kDeny, str(r.body, "error"),
            {{"op", op},
             {"id", str(args, "id").substr(0, kMaxName)},
             {"action", str(args, "action").substr(0, 16)},
             {"console_session", who->session.short_id()}},
            who->source);
    }
    return r;
  }
  if (op == "live") return live_page(*who);
  if (op == "action-assert") return action_assert(*who, c, changed);
  if (op == "request-new") return request_new(*who, args);
  return signout(*who);
}

std::optional<ConsoleWeb::Signed> ConsoleWeb::signed_in(const nlohmann::json& call, bool changes, WebReply& refusal) {
  const std::string cookie = str(call, "cookie");
  const std::string source = str(call, "source");
  auto unauthenticated = [&refusal](const std::string& why) {
    refusal = {401, {{"error", why}, {"signin", true}}};
    return std::nullopt;
  };
  if (!plausible_secret(cookie)) return unauthenticated("not signed in");
  auto session = s_.console().find_session(cookie);
  if (!session) {
    if (session.error().code == ErrorCode::kNotFound) return unauthenticated("not signed in");
    refusal = error(500, "internal error: " + session.error().message);
    return std::nullopt;
  }
  if (session->ended_at)
    return unauthenticated("your console session ended (" + session->end_reason + "); sign in again");
  const Micros now = s_.clock().now();
  // Ends the session for `why` (audited), and answers 401.
  auto end = [&](const std::string& why) {
    (void)s_.console().end_session(session->id, why);
    audit(session->user, "console.session_end", Outcome::kInfo, why, {{"console_session", session->short_id()}},
          source);
    return unauthenticated("your console session ended (" + why + "); sign in again");
  };
  if (now - session->last_seen_at > limits_.idle) {
    return end("idle for more than " + format_duration(limits_.idle));
  }
  if (now - session->created_at > limits_.absolute) {
    return end("signed in more than " + format_duration(limits_.absolute) + " ago");
  }
  auto person = s_.policy().find_person(session->user);
  if (!person) {
    refusal = error(500, "internal error: " + person.error().message);
    return std::nullopt;
  }
  // SECURITY: a leaver or a disabled person loses the console at their next
  // request, whatever their cookie says.
  if (!*person) return end(session->user + " no longer exists");
  if ((*person)->state != policy::PersonState::kActive) {
    return end(session->user + " is " + policy::to_string((*person)->state));
  }
  auto raw_id = base64url_decode(session->credential_id);
  auto cred = raw_id ? s_.mfa().find_credential(std::string(raw_id->begin(), raw_id->end()))
                     : Result<std::optional<authn::StoredCredential>>(make_error("malformed credential id"));
  if (!cred) {
    refusal = error(500, "internal error: " + cred.error().message);
    return std::nullopt;
  }
  // SECURITY: the session is bound to the security key that signed in: a
  // revoked or locked key ends it.
  if (!*cred || (*cred)->user != session->user) return end("the security key that signed in is gone");
  if ((*cred)->state != "active") return end("the security key that signed in is " + (*cred)->state);
  if (changes) {
    // SECURITY: a change needs this origin's page (exact Origin) and the
    // token only a page of this session holds; SameSite=Strict is the
    // browser's half of the same rule.
    if (str(call, "origin") != origin_.origin) {
      audit(session->user, "console.refused", Outcome::kDeny, "request from another origin",
            {{"origin", str(call, "origin").substr(0, kMaxName)}, {"console_session", session->short_id()}}, source);
      refusal = error(403, "cross-origin request refused");
      return std::nullopt;
    }
    if (!equal_secret(str(call, "csrf"), authn::console_csrf_token(cookie))) {
      audit(session->user, "console.refused", Outcome::kDeny, "missing or wrong CSRF token",
            {{"console_session", session->short_id()}}, source);
      refusal = error(403, "missing or wrong CSRF token; reload the page");
      return std::nullopt;
    }
  }
  if (auto st = s_.console().touch(*session, limits_); !st) {
    refusal = error(500, "internal error: " + st.message());
    return std::nullopt;
  }
  return Signed{*session, **person, source, cookie};
}

WebReply ConsoleWeb::signin_options(const nlohmann::json& call) {
  const std::string user = str(args_of(call), "user");
  if (user.size() > kMaxName) return error(400, "user name too long");
  nlohmann::json allow = nlohmann::json::array();
  if (!user.empty()) {
    auto person = s_.policy().find_person(user);
    if (!person) return error(500, "internal error: " + person.error().message);
    auto creds = s_.mfa().credentials(user);
    if (!creds) return error(500, "internal error: " + creds.error().message);
    if (*person && (*person)->state == policy::PersonState::kActive) {
      for (const auto& c : *creds) {
        if (c.state == "active") allow.push_back({{"type", "public-key"}, {"id", c.id}});
      }
    }
    // SECURITY: an unknown name gets the same answer shape as a known one
    // (no list): the sign-in then fails at the key, without saying whether
    // the name exists.
  }
  const Micros now = s_.clock().now();
  authn::ConsoleCeremony c;
  c.user = user;
  c.action = nlohmann::json{{"op", "signin"}}.dump();
  c.challenge = random_bytes(32);
  c.created_at = now;
  c.expires_at = now + limits_.ceremony_ttl;
  auto token = s_.console().create_ceremony(c);
  if (!token) return error(500, "internal error: " + token.error().message);
  (void)s_.console().purge_ceremonies();
  nlohmann::json pk = {{"challenge", b64url(c.challenge)},
                       {"rpId", origin_.rp_id},
                       {"allowCredentials", allow},
                       {"userVerification", "required"},
                       {"timeout", 120000}};
  return {200, {{"ceremony", *token}, {"publicKey", pk}}};
}

WebReply ConsoleWeb::signin_assert(const nlohmann::json& call) {
  const auto& args = args_of(call);
  const std::string source = str(call, "source");
  const std::string token = str(args, "ceremony");
  if (!plausible_secret(token)) return error(400, "missing ceremony");
  auto c = s_.console().take_ceremony(token);
  if (!c) return error(c.error().code == ErrorCode::kGone ? 410 : 404, c.error().message);
  auto action = nlohmann::json::parse(c->action, nullptr, false);
  if (!c->session_id.empty() || str(action, "op") != "signin") return error(400, "not a sign-in request");
  std::string who = c->user.empty() ? "unknown" : c->user;
  auto refuse = [&](const std::string& why, const std::string& credential_id) {
    audit(who, "console.signin", Outcome::kDeny, why, {{"credential_id", credential_id}}, source);
    return error(403, "sign-in refused: " + why);
  };
  auto a = posted_assertion(args.contains("credential") ? args["credential"] : nlohmann::json());
  if (!a) return refuse(a.error().message, "");
  const std::string id = b64url(a->raw_id);
  auto stored = s_.mfa().find_credential(a->raw_id);
  if (!stored) return error(500, "internal error: " + stored.error().message);
  if (!*stored) return refuse("unknown security key", id);
  if (!c->user.empty() && (*stored)->user != c->user) return refuse("this security key is not " + c->user + "'s", id);
  who = (*stored)->user;
  if ((*stored)->state != "active") return refuse("the security key is " + (*stored)->state, id);
  auto person = s_.policy().find_person(who);
  if (!person) return error(500, "internal error: " + person.error().message);
  if (!*person || (*person)->state != policy::PersonState::kActive) {
    return refuse(who + " is " + (*person ? policy::to_string((*person)->state) : std::string("unknown")), id);
  }
  // SECURITY: user presence and verification (touch and PIN) are required.
  auto ok = check_posted_assertion(s_.mfa(), origin_, *a, **stored, c->challenge, [&](const std::string& why) {
    audit(who, "webauthn.alert", Outcome::kDeny, why, {{"credential_id", id}}, source);
  });
  if (!ok) return refuse(ok.error().message, id);
  auto cookie = s_.console().create_session(who, id, source);
  if (!cookie) return error(500, "internal error: " + cookie.error().message);
  const std::string short_id = authn::console_session_id(*cookie).substr(0, 12);
  audit(who, "console.signin", Outcome::kAllow, "signed in with a security key",
        {{"credential_id", id}, {"sign_count", *ok}, {"console_session", short_id}}, source);
  return {200, {{"ok", true}, {"user", who}, {"set_cookie", *cookie}, {"next", "/console/requests"}}};
}

namespace console_detail {

WebReply error(int status, const std::string& message) { return {status, {{"error", message}}}; }

std::string str(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<View> view_of(Services& s, const policy::Person& p) {
  View v;
  auto roles = s.policy().roles_of(p);
  auto customers = s.policy().list_customers();
  if (!roles || !customers) return make_error("internal error (policy unavailable)");
  v.roles = std::move(*roles);
  v.customers = std::move(*customers);
  v.access = policy::console_access(p, v.customers, v.roles);
  return v;
}

nlohmann::json page_of(const std::string& user, const std::string& cookie, const View& v) {
  return {{"user", user}, {"csrf", authn::console_csrf_token(cookie)}, {"roles", roles_json(v)}};
}

Result<std::optional<Micros>> parse_day(const std::string& text, bool end_of_day) {
  if (text.empty()) return std::optional<Micros>{};
  if (text.size() == 10) {
    auto t = parse_utc(text + "T00:00:00Z");
    if (!t) return make_error("not a date (YYYY-MM-DD): " + text);
    return std::optional<Micros>(*t + (end_of_day ? 86'400 * kMicrosPerSecond : 0));
  }
  auto t = parse_utc(text);
  if (!t) return make_error("not a date (YYYY-MM-DD) or a UTC time: " + text.substr(0, 40));
  return std::optional<Micros>(*t);
}

nlohmann::json roles_json(const View& v) {
  return {{"approver_of", v.access.approver_of}, {"auditor", v.access.auditor}, {"admin", v.access.admin}};
}

nlohmann::json session_json(const recorder::SessionRecord& r, const std::string& customer) {
  return {{"id", r.id},
          {"user", r.user},
          {"target", r.target},
          {"login", r.login},
          {"source", r.source},
          {"customer", customer},
          {"grant_id", r.grant_id},
          {"node", r.node},
          {"started_at", format_utc(r.started_at)},
          {"ended_at", r.ended_at ? format_utc(*r.ended_at) : ""},
          {"end_reason", r.end_reason},
          {"bytes_in", r.bytes_in},
          {"bytes_out", r.bytes_out},
          {"live", !r.ended_at.has_value()}};
}

}  // namespace console_detail

namespace {

std::vector<std::string> approvers_of(const View& v, const std::string& customer) {
  for (const auto& c : v.customers) {
    if (c.name == customer) return c.approvers;
  }
  return {};
}

}  // namespace

WebReply ConsoleWeb::requests_page(const Signed& who) {
  auto v = view_of(s_, who.person);
  if (!v) return error(500, v.error().message);
  auto awaiting = s_.elevation().awaiting(who.person.name);
  if (!awaiting) return error(500, "internal error (elevations unavailable)");
  // The elevated roles whose internal approvals this person gives.
  std::vector<std::string> approving_roles;
  auto all_roles = s_.policy().list_roles();
  if (!all_roles) return error(500, "internal error (roles unavailable)");
  for (const auto& r : *all_roles) {
    if (r.internal_approvals > 0 &&
        std::find(v->access.roles.begin(), v->access.roles.end(), r.approver_role) != v->access.roles.end()) {
      approving_roles.push_back(r.name);
    }
  }
  auto own = s_.policy().recent_elevations(who.person.name, {}, {}, kListed);
  auto theirs = approving_roles.empty() && v->access.approver_of.empty()
                    ? Result<std::vector<policy::Elevation>>(std::vector<policy::Elevation>{})
                    : s_.policy().recent_elevations("", v->access.approver_of, approving_roles, kListed);
  if (!own || !theirs) return error(500, "internal error (elevations unavailable)");
  const Micros now = s_.clock().now();
  nlohmann::json waiting = nlohmann::json::array(), mine = nlohmann::json::array(), others = nlohmann::json::array();
  std::set<std::string> waiting_ids;
  for (const auto& e : *awaiting) {
    if (waiting.size() >= kListed) break;
    waiting.push_back(elevation_json(e, now));
    waiting_ids.insert(e.id);
  }
  for (const auto& e : *own) mine.push_back(elevation_json(e, now));
  std::map<std::string, std::optional<policy::Role>> role_cache;
  for (const auto& e : *theirs) {
    if (e.user == who.person.name || waiting_ids.contains(e.id)) continue;
    if (!role_cache.contains(e.role)) {
      auto r = s_.policy().find_role(e.role);
      role_cache[e.role] = r ? *r : std::nullopt;
    }
    const auto& role = role_cache[e.role];
    // SECURITY: the query selects by customer and role; the policy decides.
    if (policy::may_view_request(v->access, e, role ? &*role : nullptr)) others.push_back(elevation_json(e, now));
  }
  return {200,
          {{"user", who.person.name},
           {"csrf", authn::console_csrf_token(who.cookie)},
           {"roles", console_detail::roles_json(*v)},
           {"approver_of", v->access.approver_of},
           {"awaiting", waiting},
           {"mine", mine},
           {"others", others}}};
}

WebReply ConsoleWeb::request_page(const Signed& who, const nlohmann::json& args) {
  const std::string id = str(args, "id");
  auto v = view_of(s_, who.person);
  if (!v) return error(500, v.error().message);
  auto found =
      id.size() <= kMaxName ? s_.policy().find_elevation(id) : Result<std::optional<policy::Elevation>>(std::nullopt);
  if (!found) return error(500, "internal error: " + found.error().message);
  std::optional<policy::Role> role;
  if (*found) {
    auto r = s_.policy().find_role((*found)->role);
    if (r) role = *r;
  }
  // SECURITY: one answer for "does not exist" and "not yours to see".
  if (!*found || !policy::may_view_request(v->access, **found, role ? &*role : nullptr)) {
    return error(404, "no request " + id + " that you can see");
  }
  const policy::Elevation& e = **found;
  const Micros now = s_.clock().now();
  nlohmann::json out = {{"user", who.person.name},
                        {"csrf", authn::console_csrf_token(who.cookie)},
                        {"roles", console_detail::roles_json(*v)},
                        {"request", elevation_json(e, now)}};
  nlohmann::json approvals = nlohmann::json::array();
  for (const auto& a : e.approvals) {
    approvals.push_back({{"approver", a.approver}, {"kind", a.kind}, {"at", format_utc_seconds(a.at)}});
  }
  out["approvals"] = approvals;
  bool can_decide = false;
  std::string why_not;
  if (e.state_at(now) == policy::ElevationState::kPending && role) {
    auto kind = policy::approval_kind(e, who.person, approvers_of(*v, e.customer), v->roles, *role, now);
    can_decide = static_cast<bool>(kind);
    if (!kind) why_not = kind.error().message;
  }
  out["can_decide"] = can_decide;
  if (!why_not.empty()) out["cannot_decide"] = why_not;
  out["can_revoke"] = static_cast<bool>(
      policy::check_revoke(e, who.person.name, policy::approves_for(v->access, e.customer), false, now));
  // The requester's recent requests to the same customer (what an approver weighs).
  nlohmann::json history = nlohmann::json::array();
  auto theirs = s_.policy().recent_elevations(e.user, {}, {}, 10 * kListed);
  if (theirs) {
    for (const auto& h : *theirs) {
      if (h.id == e.id || h.customer != e.customer) continue;
      if (history.size() >= kHistory) break;
      history.push_back(elevation_json(h, now));
    }
  }
  out["history"] = history;
  return {200, out};
}

WebReply ConsoleWeb::action_options(const Signed& who, const nlohmann::json& args) {
  const std::string action = str(args, "action");
  const std::string id = str(args, "id");
  if (action == "end") return end_options(who, id, clean_text(str(args, "reason")));
  if (action == "break-glass") return break_glass_options(who, args);
  if (action != "approve" && action != "deny" && action != "revoke") return error(400, "unknown action");
  WebReply page = request_page(who, {{"id", id}});
  if (page.status != 200) return page;
  const nlohmann::json& r = page.body["request"];
  std::string duration = str(args, "duration");
  std::string reason = clean_text(str(args, "reason"));
  if (reason.size() > kMaxReason) return error(400, "the reason is longer than 500 characters");
  const std::string who_what = str(r, "user") + ", " + str(r, "login") + "@" + str(r, "target");
  std::string summary;
  if (action == "approve" || action == "deny") {
    if (!page.body.value("can_decide", false)) {
      return error(403, "you cannot decide on " + id + ": " +
                            (page.body.contains("cannot_decide") ? str(page.body, "cannot_decide")
                                                                 : "it is " + str(r, "state")));
    }
  } else if (!page.body.value("can_revoke", false)) {
    return error(403, "you cannot revoke " + id);
  }
  if (action == "approve") {
    if (!reason.empty()) return error(400, "approving takes no reason");
    if (!duration.empty()) {
      auto d = parse_duration(duration);
      if (!d || *d <= 0) return error(400, "duration: say how long, e.g. 30m or 2h");
      duration = format_duration(*d);
    }
    summary = "Approve " + id + ": " + str(r, "user") + " gets " + str(r, "login") + "@" + str(r, "target") + " for " +
              (duration.empty() ? str(r, "duration") : duration + " (asked for " + str(r, "duration") + ")") +
              ". Their reason: " + str(r, "reason");
  } else if (action == "deny") {
    if (!duration.empty()) return error(400, "denying takes no duration");
    if (reason.empty()) return error(400, "say why you deny it (the requester sees the reason)");
    summary = "Deny " + id + " (" + who_what + "), telling them: " + reason;
  } else {
    if (!duration.empty()) return error(400, "revoking takes no duration");
    summary = "Revoke " + (str(r, "grant_id").empty() ? id : str(r, "grant_id")) + " (" + who_what +
              "): its live sessions end now" + (reason.empty() ? "" : ", telling them: " + reason);
  }
  return ceremony(who, {{"op", action},
                        {"id", id},
                        {"duration", duration},
                        {"reason", reason},
                        {"summary", summary},
                        {"console_session", who.session.short_id()}});
}

WebReply ConsoleWeb::end_options(const Signed& who, const std::string& id, const std::string& reason) {
  if (reason.size() > kMaxReason) return error(400, "the reason is longer than 500 characters");
  WebReply page = session_page(who, {{"id", id}});
  if (page.status != 200) return page;
  const nlohmann::json& r = page.body["session"];
  if (!page.body.value("can_end", false)) return error(409, "session " + id + " is not live");
  std::string summary = "End session " + id + " of " + str(r, "user") + " on " + str(r, "login") + "@" +
                        str(r, "target") + " now" + (reason.empty() ? "" : ", telling them: " + reason);
  return ceremony(who, {{"op", "end"},
                        {"id", id},
                        {"duration", ""},
                        {"reason", reason},
                        {"summary", summary},
                        {"console_session", who.session.short_id()}});
}

// Break-glass: an emergency grant without the customer's consent, for
// administrators, confirmed by the key like every action and audited as
// elevation.break-glass (ElevationService::break_glass checks the rest).
WebReply ConsoleWeb::break_glass_options(const Signed& who, const nlohmann::json& args) {
  auto v = view_of(s_, who.person);
  if (!v) return error(500, v.error().message);
  if (!policy::may_break_glass(v->access)) {
    return error(403, "break-glass is for administrators (a role with console = admin)");
  }
  const std::string user = str(args, "user");
  const std::string destination = str(args, "destination");
  const std::string reason = clean_text(str(args, "reason"));
  if (user.empty() || user.size() > kMaxName) return error(400, "say who gets the grant");
  std::string login, target;
  if (destination.size() > kMaxName || !split_destination(destination, login, target)) {
    return error(400, "say where: LOGIN@TARGET");
  }
  auto d = parse_duration(str(args, "duration"));
  if (!d || *d <= 0) return error(400, "duration: say how long, e.g. 30m");
  if (reason.empty()) return error(400, "say why consent could not be asked (an incident reference)");
  if (reason.size() > kMaxReason) return error(400, "the reason is longer than 500 characters");
  const std::string summary = "BREAK-GLASS: " + user + " gets " + destination + " for " + format_duration(*d) +
                              " WITHOUT the customer's consent. Reason: " + reason;
  return ceremony(who, {{"op", "break-glass"},
                        {"id", ""},
                        {"user", user},
                        {"destination", destination},
                        {"duration", format_duration(*d)},
                        {"reason", reason},
                        {"summary", summary},
                        {"console_session", who.session.short_id()}});
}

WebReply ConsoleWeb::ceremony(const Signed& who, const nlohmann::json& bound) {
  const std::string summary = str(bound, "summary");
  const std::string action_text = bound.dump();
  // SECURITY: the challenge covers the action: its first 32 bytes are the
  // SHA-256 of the action, its target and its parameters (as stored with
  // the ceremony), the rest is fresh randomness. The assertion thus proves
  // consent to this action, not to a sign-in.
  auto digest = sha256(as_bytes(action_text));
  const Micros now = s_.clock().now();
  authn::ConsoleCeremony c;
  c.session_id = who.session.id;
  c.user = who.person.name;
  c.action = action_text;
  c.challenge = std::string(digest.begin(), digest.end()) + random_bytes(16);
  c.created_at = now;
  c.expires_at = now + limits_.ceremony_ttl;
  auto token = s_.console().create_ceremony(c);
  if (!token) return error(500, "internal error: " + token.error().message);
  nlohmann::json allow = nlohmann::json::array({{{"type", "public-key"}, {"id", who.session.credential_id}}});
  nlohmann::json pk = {{"challenge", b64url(c.challenge)},
                       {"rpId", origin_.rp_id},
                       {"allowCredentials", allow},
                       {"userVerification", "required"},
                       {"timeout", 120000}};
  return {200, {{"ceremony", *token}, {"summary", summary}, {"publicKey", pk}}};
}

WebReply ConsoleWeb::action_assert(const Signed& who, const nlohmann::json& call, bool* changed) {
  const auto& args = args_of(call);
  const std::string token = str(args, "ceremony");
  if (!plausible_secret(token)) return error(400, "missing ceremony");
  auto c = s_.console().take_ceremony(token);
  if (!c) return error(c.error().code == ErrorCode::kGone ? 410 : 404, c.error().message);
  auto bound = nlohmann::json::parse(c->action, nullptr, false);
  const std::string op = str(bound, "op");
  const std::string id = str(bound, "id");
  auto refuse = [&](const std::string& why, const std::string& credential_id) {
    audit(who.person.name, "console.action", Outcome::kDeny, why,
          {{"action", op}, {"id", id}, {"credential_id", credential_id}, {"console_session", who.session.short_id()}},
          who.source);
    return error(403, op + " refused: " + why);
  };
  // SECURITY: an action's ceremony belongs to the console session that asked for it.
  if (c->session_id != who.session.id) return refuse("this confirmation belongs to another console session", "");
  if (op != "approve" && op != "deny" && op != "revoke" && op != "end" && op != "break-glass") {
    return error(400, "not an action");
  }
  auto a = posted_assertion(args.contains("credential") ? args["credential"] : nlohmann::json());
  if (!a) return refuse(a.error().message, "");
  const std::string id64 = b64url(a->raw_id);
  if (id64 != who.session.credential_id) return refuse("not the security key you signed in with", id64);
  auto stored = s_.mfa().find_credential(a->raw_id);
  if (!stored) return error(500, "internal error: " + stored.error().message);
  if (!*stored || (*stored)->user != who.person.name || (*stored)->state != "active") {
    return refuse("the security key is not active", id64);
  }
  auto ok = check_posted_assertion(s_.mfa(), origin_, *a, **stored, c->challenge, [&](const std::string& why) {
    audit(who.person.name, "webauthn.alert", Outcome::kDeny, why, {{"credential_id", id64}}, who.source);
  });
  if (!ok) return refuse(ok.error().message, id64);
  audit(who.person.name, "console.action", Outcome::kAllow, "confirmed with a security key",
        {{"action", op},
         {"id", id},
         {"summary", str(bound, "summary")},
         {"challenge_sha256", hex_encode(sha256(as_bytes(c->challenge)))},
         {"credential_id", id64},
         {"sign_count", *ok},
         {"console_session", who.session.short_id()}},
        who.source);
  if (op == "end") {
    // SECURITY: decided again now (the session may have ended, or the
    // person lost their approver role, since the page was shown).
    WebReply page = session_page(who, {{"id", id}});
    if (page.status != 200) return page;
    if (!page.body.value("can_end", false) || !hooks_.end_session) return error(409, "session " + id + " is not live");
    const std::string reason = str(bound, "reason");
    const std::string message =
        "ended by " + who.person.name + " in the web console" + (reason.empty() ? "" : ": " + reason);
    if (!hooks_.end_session(id, message)) return error(409, "session " + id + " is not live on any gateway");
    return {200, {{"ok", true}, {"message", "Ended session " + id + "; its person is told: " + message + "."}}};
  }
  if (op == "break-glass") {
    // SECURITY: decided again now (the person may have lost the admin role since).
    auto v = view_of(s_, who.person);
    if (!v) return error(500, v.error().message);
    if (!policy::may_break_glass(v->access)) return refuse("break-glass is for administrators", id64);
    auto d = parse_duration(str(bound, "duration"));
    if (!d) return error(400, d.error().message);
    Actor admin{who.person.name, true, who.actor_session(), who.source};
    auto e = s_.elevation().break_glass(admin, str(bound, "user"), str(bound, "destination"), *d, str(bound, "reason"));
    if (!e) return error(409, e.error().message);
    if (changed != nullptr) *changed = true;
    return {200,
            {{"ok", true},
             {"message", "BREAK-GLASS grant " + e->grant_id + " (request " + e->id + "): " + e->user + " may use " +
                             e->destination() + " until " + format_utc_seconds(e->ends_at) +
                             "; the audit log has it as elevation.break-glass."},
             {"request", elevation_json(*e, s_.clock().now())}}};
  }
  Actor actor{who.person.name, false, who.actor_session(), who.source};
  Result<policy::Elevation> e = make_error("unreachable");
  if (op == "approve") {
    std::optional<Micros> d;
    if (!str(bound, "duration").empty()) {
      auto parsed = parse_duration(str(bound, "duration"));
      if (!parsed) return error(400, parsed.error().message);
      d = *parsed;
    }
    e = s_.elevation().approve(actor, id, d);
  } else if (op == "deny") {
    e = s_.elevation().deny(actor, id, str(bound, "reason"));
  } else {
    e = s_.elevation().revoke(actor, id, str(bound, "reason"));
  }
  if (!e) return error(409, e.error().message);
  if (changed != nullptr) *changed = true;
  const Micros now = s_.clock().now();
  std::string message;
  if (op == "approve") {
    message = e->state_at(now) == policy::ElevationState::kApproved
                  ? "Approved " + e->id + ": grant " + e->grant_id + " lets " + e->user + " use " + e->destination() +
                        " until " + format_utc_seconds(e->ends_at) + "."
                  : "Your approval of " + e->id + " is recorded; it still needs more approvals.";
  } else if (op == "deny") {
    message = "Denied " + e->id + "; " + e->user + " sees your reason.";
  } else {
    message = "Revoked " + (e->grant_id.empty() ? e->id : e->grant_id) + "; its live sessions end now.";
  }
  return {200, {{"ok", true}, {"message", message}, {"request", elevation_json(*e, now)}}};
}

WebReply ConsoleWeb::live_page(const Signed& who) {
  auto v = view_of(s_, who.person);
  if (!v) return error(500, v.error().message);
  auto live = s_.sessions().list(true, 1000);
  auto targets = s_.policy().list_targets();
  if (!live || !targets) return error(500, "internal error (sessions unavailable)");
  std::map<std::string, std::string> customer_of;
  for (const auto& t : *targets) customer_of[t.name] = t.customer;
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : *live) {
    const std::string& customer = customer_of[r.target];
    if (!policy::may_view_session(v->access, r.user, customer)) continue;
    auto j = session_json(r, customer);
    j["can_watch"] = policy::may_view_recording(v->access, customer);
    out.push_back(std::move(j));
  }
  return {200,
          {{"user", who.person.name},
           {"csrf", authn::console_csrf_token(who.cookie)},
           {"roles", console_detail::roles_json(*v)},
           {"approver_of", v->access.approver_of},
           {"sessions", out}}};
}

WebReply ConsoleWeb::session_page(const Signed& who, const nlohmann::json& args) {
  const std::string id = str(args, "id");
  auto v = view_of(s_, who.person);
  if (!v) return error(500, v.error().message);
  auto found =
      id.size() <= kMaxName ? s_.sessions().find(id) : Result<std::optional<recorder::SessionRecord>>(std::nullopt);
  if (!found) return error(500, "internal error: " + found.error().message);
  std::string customer;
  if (*found) {
    auto t = s_.policy().find_target((*found)->target);
    if (t && *t) customer = (*t)->customer;
  }
  // SECURITY: one answer for "does not exist" and "not yours to see".
  if (!*found || !policy::may_view_session(v->access, (*found)->user, customer)) {
    return error(404, "no session " + id + " that you can see");
  }
  return {200,
          {{"user", who.person.name},
           {"csrf", authn::console_csrf_token(who.cookie)},
           {"roles", console_detail::roles_json(*v)},
           {"session", session_json(**found, customer)},
           {"can_end", !(*found)->ended_at.has_value()},
           {"can_watch", !(*found)->ended_at.has_value() && policy::may_view_recording(v->access, customer)}}};
}

WebReply ConsoleWeb::request_new(const Signed& who, const nlohmann::json& args) {
  const std::string dest = str(args, "destination");
  const std::string reason = str(args, "reason");
  if (dest.empty() || dest.size() > kMaxName) return error(400, "say where: LOGIN@TARGET");
  if (reason.size() > kMaxReason) return error(400, "the reason is longer than 500 characters");
  auto d = parse_duration(str(args, "duration"));
  if (!d || *d <= 0) return error(400, "duration: say how long, e.g. 30m or 2h");
  Actor actor{who.person.name, false, who.actor_session(), who.source};
  auto e = s_.elevation().request(actor, dest, *d, reason);
  if (!e) return error(409, e.error().message);
  return {200,
          {{"ok", true},
           {"message", "Requested " + e->id + ": " + e->destination() + " for " + format_duration(e->duration) +
                           "; it waits for consent."},
           {"request", elevation_json(*e, s_.clock().now())}}};
}

WebReply ConsoleWeb::signout(const Signed& who) {
  (void)s_.console().end_session(who.session.id, "signed out");
  audit(who.person.name, "console.session_end", Outcome::kInfo, "signed out",
        {{"console_session", who.session.short_id()}}, who.source);
  return {200, {{"ok", true}, {"clear_cookie", true}, {"next", "/console/signin"}}};
}

}  // namespace bastion::gateway
