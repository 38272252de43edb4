// The monitor half of the supervisor: what a connection process may ask, in
// which state, and how each request is answered. The child's claims are
// never taken as facts: the person comes from the key fingerprint, the
// access decision from policy::decide_access over the monitor's own
// database, step-up freshness from the MFA store the web process writes.
//
// Residual risk, stated plainly: libssh verifies the user's signature inside
// the child and exposes neither the signature nor the session identifier, so
// the monitor cannot re-verify that the key holder signed. A compromised
// child can therefore claim any enrolled fingerprint; what it gets is what
// that key's owner may do, and nothing more (see DESIGN.md).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <cctype>

#include "authn/public_key.h"
#include "common/random.h"
#include "common/strings.h"
#include "common/unique_fd.h"
#include "gateway/app/daemon_log.h"
#include "gateway/sshd/supervisor.h"
#include "gateway/sshd/command_mode.h"
#include "gateway/sshd/monitor_rules.h"
#include "policy/access.h"
#include "recorder/channel_recording.h"
#include "recorder/stream_writer.h"
#include "policy/ingress_name.h"

namespace bastion::gateway {
namespace {

using monitor::Type;

// Whether a step-up can be offered to a person with these credentials: an
// active one approves it; a pending (unconfirmed) one gets the page that says
// how to confirm it, and the step-up fails with that reason.
bool can_offer_step_up(const std::vector<authn::StoredCredential>& creds) {
  return std::any_of(creds.begin(), creds.end(),
                     [](const auto& c) { return c.state == "active" || c.state == "pending"; });
}

// Recorded channels per connection (OpenSSH's clients open a few; a
// multiplexing client may open hundreds over a long session).
constexpr size_t kMaxRecordings = 4096;

bool looks_like_sha256_hex(const std::string& h) {
  if (h.size() != 64) return false;
  for (char ch : h) {
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) return false;
  }
  return true;
}

// Key probes a connection may make before it is killed (OpenSSH's clients
// offer each key of an agent once; a few dozen is generous).
constexpr int kMaxKeyProbes = 64;
// Refused probes audited one by one per connection; the rest are summed up
// in one record when the connection ends.
constexpr size_t kMaxProbeAudits = 3;

// The audit actions a connection process reports itself: what happens on its
// channels. Everything about who logged in and why (auth, access, step-ups,
// session start and end) the monitor writes from its own state.
bool child_may_report(const std::string& action, ChildState state) {
  static const char* const kExact[] = {
      "agent",         "x11",          "command",           "recording",   "upstream.connect", "channel.open",
      "channel.shell", "channel.exec", "channel.subsystem", "channel.end", "forward.local",    "forward.remote"};
  for (const char* a : kExact) {
    if (action == a) return true;
  }
  (void)state;
  return action.starts_with("file.") && action.size() > 5 && action.size() <= 32;
}

std::optional<recorder::Outcome> parse_outcome(const std::string& s) {
  if (s == "allow") return recorder::Outcome::kAllow;
  if (s == "deny") return recorder::Outcome::kDeny;
  if (s == "error") return recorder::Outcome::kError;
  if (s == "info") return recorder::Outcome::kInfo;
  return std::nullopt;
}

// "SHA256:" and unpadded base64, as authn::fingerprint_sha256 writes it.
bool looks_like_fingerprint(const std::string& fp) {
  if (!fp.starts_with("SHA256:") || fp.size() != 7 + 43) return false;
  for (size_t i = 7; i < fp.size(); ++i) {
    char ch = fp[i];
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '+' && ch != '/') return false;
  }
  return true;
}

bool looks_like_key_type(const std::string& t) {
  if (t.empty() || t.size() > 64) return false;
  for (char ch : t) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '@' && ch != '.') return false;
  }
  return true;
}

// `text` as an IP address in canonical form, or "" when it is not one.
std::string canonical_ip(const std::string& text) {
  unsigned char buf[sizeof(in6_addr)];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) return inet_ntop(AF_INET, buf, out, sizeof out) ? out : "";
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1) return inet_ntop(AF_INET6, buf, out, sizeof out) ? out : "";
  return "";
}

// Whether `ip` (canonical) is an address of this host: a socket can be bound
// to it. (No netlink, which the packaged unit's RestrictAddressFamilies denies.)
bool is_local_address(const std::string& ip) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    len = sizeof *v6;
  } else {
    return false;
  }
  UniqueFd fd(::socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  return fd && ::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) == 0;
}

}  // namespace

void Supervisor::read_child(ChildInfo& c) {
  // A few messages per round (a relay reports file operations in bursts),
  // then the other children get their turn.
  for (int i = 0; i < 32 && c.state != ChildState::kKilled; ++i) {
    if (!read_one_request(c)) return;
  }
}

bool Supervisor::read_one_request(ChildInfo& c) {
  auto r = monitor::recv_message(c.channel.get(), MSG_DONTWAIT);
  using Kind = monitor::Received::Kind;
  if (r.kind == Kind::kNothing || r.kind == Kind::kClosed) return false;  // exit is handled by SIGCHLD
  if (r.kind == Kind::kMalformed) {
    violation(c, r.error);
    return false;
  }
  // SECURITY: a request not allowed in this state, a repeat of a one-time
  // request, or a message only the monitor sends ends the child.
  if (auto refused = admit(monitor::type_of(r.message), c.state, c.asked_once)) {
    violation(c, *refused);
    return false;
  }
  std::visit(
      [&](const auto& m) {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, monitor::KeyProbe>) on_key_probe(c, m);
        else if constexpr (std::is_same_v<M, monitor::Authenticate>) on_authenticate(c, m);
        else if constexpr (std::is_same_v<M, monitor::StepUpPoll>) on_step_up_poll(c);
        else if constexpr (std::is_same_v<M, monitor::Sign>) on_sign(c, m);
        else if constexpr (std::is_same_v<M, monitor::ElevationChanged>) on_elevation_changed(c);
        else if constexpr (std::is_same_v<M, monitor::Audit>) on_audit(c, m);
        else if constexpr (std::is_same_v<M, monitor::SessionEnd>) on_session_end(c, m);
        else if constexpr (std::is_same_v<M, monitor::RecordingOpen>) on_recording_open(c, m);
        else if constexpr (std::is_same_v<M, monitor::RecordingChunk>) on_recording_chunk(c, m);
        else if constexpr (std::is_same_v<M, monitor::RecordingEnd>) on_recording_end(c, m);
        else if constexpr (std::is_same_v<M, monitor::Command>) on_command(c, m);
      },
      r.message);
  return true;
}

void Supervisor::violation(ChildInfo& c, const std::string& what) {
  // SECURITY: a child that breaks the protocol may be compromised: it gets
  // nothing more, and is killed at once, not asked to end.
  daemon_log("monitor: connection process " + std::to_string(c.pid) + " (" + c.source +
             "): protocol violation: " + what + "; killed");
  ::kill(c.pid, SIGKILL);
  c.state = ChildState::kKilled;
  c.kill_deadline = 0;
  audit_event("monitor.violation", recorder::Outcome::kDeny, what, c, {{"pid", c.pid}, {"source", c.source}});
}

Services* Supervisor::monitor_services() {
  if (!monitor_services_) {
    auto s = Services::open(cfg_, clock_);
    if (!s) {
      daemon_log("monitor: " + s.error().message);
      metrics_.add("bastion_database_errors_total");
      return nullptr;
    }
    monitor_services_ = std::move(*s);
  }
  return monitor_services_.get();
}

void Supervisor::on_key_probe(ChildInfo& c, const monitor::KeyProbe& m) {
  if (!looks_like_fingerprint(m.fingerprint) || !looks_like_key_type(m.key_type)) {
    return violation(c, "malformed key probe");
  }
  if (++c.key_probes > kMaxKeyProbes) return violation(c, "more than " + std::to_string(kMaxKeyProbes) + " key probes");
  Services* s = monitor_services();
  auto rec = s ? s->keys().find_by_fingerprint(m.fingerprint)
               : Result<std::optional<authn::KeyRecord>>(make_error("database unavailable"));
  // SECURITY: an unsigned probe proves nothing, so its answer tells nothing:
  // an unknown key, a revoked one and one of a disabled or departed person
  // all get the same "no" (the reason goes to the audit log only). Only a
  // key that could log in is offered the signature step.
  bool known = false;
  std::string why = "key is not enrolled";
  if (rec && rec->has_value()) {
    const authn::KeyRecord& key = **rec;
    auto person = s->policy().find_person(key.user);
    if (!key.active) why = "key " + m.fingerprint + " has been revoked";
    else if (!person || !*person) why = "internal error (owner of key not found)";
    else if ((*person)->state != policy::PersonState::kActive) {
      why = "account " + (*person)->name + " is " + policy::to_string((*person)->state);
    } else {
      known = true;
    }
  }
  // SECURITY: fail closed while the database is unavailable; the client
  // is told why (an outage, not a verdict on its key), and it is not audited
  // (nowhere to write it) nor counted against the source.
  send_to(c, monitor::KeyKnown{known, !rec});
  if (!rec) {
    metrics_.add("bastion_login_denials_total", "stage=database");
    metrics_.add("bastion_database_errors_total");
    // Nowhere to audit it: the daemon's log says so, once per 10 s at most.
    if (Micros now = clock_.now(); now >= unavailable_logged_at_ + 10 * kMicrosPerSecond) {
      unavailable_logged_at_ = now;
      daemon_log("refusing logins while the database is unavailable (not audited: " + rec.error().message + ")");
    }
  }
  if (known || !rec || !c.refused_keys.insert(m.fingerprint).second) return;
  // Each refused key counts once, towards max_auth_attempts and the source's back-off.
  ++c.auth_failures;
  metrics_.add("bastion_login_denials_total", "stage=key");
  // SECURITY: a client offering many keys writes a few records, then one summary at the end.
  if (c.refused_keys.size() <= kMaxProbeAudits) {
    audit_event("auth", recorder::Outcome::kDeny, why, c, {{"fingerprint", m.fingerprint}, {"key_type", m.key_type}},
                "key:" + m.fingerprint);
  } else {
    ++c.unaudited_probes;
  }
  count_failure(c);
}

void Supervisor::count_failure(ChildInfo& c) {
  if (++c.failures <= cfg_.max_auth_attempts || c.kill_deadline != 0) return;
  // Like sshd's "Too many authentication failures".
  std::string why = "too many authentication failures (" + std::to_string(c.failures) + ")";
  audit_event("auth", recorder::Outcome::kDeny, why, c, {{"max_auth_attempts", cfg_.max_auth_attempts}}, "unknown");
  request_kill(c, why);
}

void Supervisor::on_authenticate(ChildInfo& c, const monitor::Authenticate& m) {
  if (!looks_like_fingerprint(m.fingerprint) || !looks_like_key_type(m.key_type)) {
    return violation(c, "malformed authentication request");
  }
  if (++c.auth_attempts > cfg_.max_auth_attempts) {
    return violation(
        c, "more than max_auth_attempts (" + std::to_string(cfg_.max_auth_attempts) + ") authentication requests");
  }
  // Each attempt starts afresh: a client may try another key after a refusal.
  c.user.clear();
  c.target.clear();
  c.login.clear();
  c.fingerprint = m.fingerprint;
  c.accepted = {};
  Micros now = clock_.now();
  // SECURITY: a key that keeps failing waits, by the monitor's own count.
  if (Micros until = key_backoff_.blocked_until(m.fingerprint, now); until != 0) {
    std::string why = "too many failed logins with this key; try again in " + format_duration(until - now);
    nlohmann::json d = {{"fingerprint", m.fingerprint}, {"key_type", m.key_type}, {"backoff", true}};
    audit_event("auth", recorder::Outcome::kDeny, why, c, d);
    send_to(c, monitor::Refused{why});
    metrics_.add("bastion_login_denials_total", "stage=backoff");
    return;
  }
  nlohmann::json details = {{"fingerprint", m.fingerprint}, {"key_type", m.key_type}, {"user_name", m.user_name}};
  if (drain_) {
    // Not the person's fault: no back-off, no failure counted.
    std::string why = "this gateway node is draining for maintenance" +
                      (drain_->message.empty() ? std::string() : " (" + drain_->message + ")") +
                      "; connect again in a few minutes";
    details["drain"] = true;
    audit_event("auth", recorder::Outcome::kDeny, why, c, details);
    metrics_.add("bastion_login_denials_total", "stage=drain");
    return send_to(c, monitor::Refused{why});
  }
  LoginStep step = decide_login(c, m, details, now);
  if (step.refusal) {
    // A refusal is audited with its reason, counts against the key, and
    // leaves the connection pre-auth.
    audit_event(step.refusal->action, recorder::Outcome::kDeny, step.refusal->why, c, details);
    const std::string& action = step.refusal->action;
    metrics_.add("bastion_login_denials_total", step.refusal->why.find("unavailable") != std::string::npos
                                                    ? "stage=database"
                                                : action == "access"       ? "stage=access"
                                                : action == "auth.step_up" ? "stage=step_up"
                                                                           : "stage=auth");
    key_backoff_.failure(m.fingerprint, clock_.now());
    send_to(c, monitor::Refused{step.refusal->why});
    return count_failure(c);
  }
  if (step.step_up_started) return send_to(c, c.accepted);
  accept(c);
}

Supervisor::LoginStep Supervisor::decide_login(ChildInfo& c, const monitor::Authenticate& m, nlohmann::json& details,
                                               Micros now) {
  Services* s = monitor_services();
  if (s == nullptr) return LoginStep::refused("internal error (database unavailable)");
  if (auto step = identify_key_owner(c, *s, m); step.refusal) return step;
  auto name = policy::parse_ingress_name(m.user_name);
  if (!name) return LoginStep::refused(name.error().message);
  c.accepted.person = c.user;
  if (name->command_mode) {
    if (name->person != c.user) return LoginStep::refused("this key belongs to " + c.user + ", not " + name->person);
    if (!audit_event("auth", recorder::Outcome::kAllow, "command mode", c, details)) {
      return LoginStep::refused("internal error (audit log unavailable)");
    }
    c.accepted.command_mode = true;
    c.state = ChildState::kCommand;
    return {};
  }
  c.target = name->target;
  c.login = name->login;
  auto in = policy::decide_access(s->policy(), c.user, name->target, name->login, now);
  if (!in) return LoginStep::refused("internal error (policy unavailable)");
  const policy::Decision& d = in->decision;
  details["role"] = d.role;
  if (!d.grant_id.empty()) {
    details["grant_id"] = d.grant_id;
    details["request_id"] = d.request_id;
    details["grant_ends_at"] = format_utc(d.not_after);
    if (d.break_glass) details["break_glass"] = true;
  }
  if (!d.allow) return LoginStep::refused(d.reason, "access");
  if (!in->target) return LoginStep::refused("internal error (target vanished)");
  if (!audit_event("access", recorder::Outcome::kAllow, d.reason, c, details)) {
    return LoginStep::refused("internal error (audit log unavailable)");
  }
  settle_access(c, *in->target, d, name->login);
  // SECURITY: step-up freshness is the monitor's to check, from what the
  // web process verified: never the child's word. A step-up we cannot offer
  // is a deny, never a skip.
  details["step_up"] = policy::to_string(d.step_up);
  if (d.step_up.kind != policy::StepUpRule::Kind::kNone) {
    auto last = s->mfa().last_step_up(c.user);
    if (!last) return LoginStep::refused("internal error (step-up state unavailable)", "auth.step_up");
    if (!policy::step_up_satisfied(d.step_up, *last, false, now)) return start_step_up(c, *s, details, now);
    details["step_up_at"] = format_utc(**last);
  }
  if (auto st = begin_session(c, details); !st) return LoginStep::refused(st.message());
  return {};
}

Supervisor::LoginStep Supervisor::identify_key_owner(ChildInfo& c, Services& s, const monitor::Authenticate& m) {
  // The person: from the key, never from the child.
  auto key = s.keys().find_by_fingerprint(m.fingerprint);
  if (!key) return LoginStep::refused("internal error (database unavailable)");
  if (!*key) return LoginStep::refused("key is not enrolled");
  auto person = s.policy().find_person((*key)->user);
  if (!person || !*person) return LoginStep::refused("internal error (owner of key not found)");
  c.user = (*person)->name;
  if (!(*key)->active) return LoginStep::refused("key " + m.fingerprint + " has been revoked");
  if ((*person)->state != policy::PersonState::kActive) {
    return LoginStep::refused("account " + c.user + " is " + policy::to_string((*person)->state));
  }
  // SECURITY: re-check the key class at login, not only at enrollment, in
  // case a service-account flag was removed later.
  if (!authn::is_security_key((*key)->type) && !(*person)->service_account) {
    return LoginStep::refused("plain " + (*key)->type + " keys are not accepted for people; use a FIDO2 security key");
  }
  return {};
}

void Supervisor::settle_access(ChildInfo& c, const policy::Target& t, const policy::Decision& d,
                               const std::string& login) {
  c.principal = policy::certificate_principal(t, login);
  c.allow_port_forwarding = d.allow_port_forwarding;
  c.grant_id = d.grant_id;
  c.grant_ends_at = d.grant_id.empty() ? 0 : d.not_after;
  monitor::Accepted& acc = c.accepted;
  acc.target = t.name;
  acc.host = t.host;
  acc.port = t.port;
  acc.host_key = t.host_key;
  acc.recording = t.recording;
  acc.principals = t.principals;
  acc.login = login;
  acc.role = d.role;
  acc.grant_id = d.grant_id;
  acc.request_id = d.request_id;
  acc.break_glass = d.break_glass;
  acc.port_forwarding = d.allow_port_forwarding;
  acc.grant_ends_at = c.grant_ends_at;
}

Supervisor::LoginStep Supervisor::start_step_up(ChildInfo& c, Services& s, const nlohmann::json& details, Micros now) {
  if (cfg_.public_url.empty()) {
    return LoginStep::refused(
        "a security-key step-up is required, but this gateway has no web endpoint ([web] public_url)", "auth.step_up");
  }
  auto creds = s.mfa().credentials(c.user);
  if (!creds) return LoginStep::refused("internal error (credentials unavailable)", "auth.step_up");
  if (!can_offer_step_up(*creds)) {
    return LoginStep::refused("a security-key step-up is required, but " + c.user +
                                  " has no registered WebAuthn credential (ask an administrator: bastionctl user "
                                  "invite " +
                                  c.user + ")",
                              "auth.step_up");
  }
  std::string purpose = c.login + "@" + c.target + " from " + c.source;
  if (!c.grant_id.empty()) purpose += " under grant " + c.grant_id;
  auto code = s.mfa().create_step_up(c.user, c.session_id, purpose, cfg_.step_up_timeout);
  if (!code) return LoginStep::refused("internal error (cannot start a step-up)", "auth.step_up");
  c.step_up_code = *code;
  c.step_up_deadline = now + cfg_.step_up_timeout;
  c.step_up_details = details;
  c.accepted.step_up_url = cfg_.public_url + "/mfa/" + *code;
  c.accepted.step_up_timeout = cfg_.step_up_timeout;
  c.state = ChildState::kStepUp;
  audit_event("auth.step_up", recorder::Outcome::kAllow, "step-up started", c,
              {{"url_code", code->substr(0, 4) + "-...."}});
  LoginStep started;
  started.step_up_started = true;
  return started;
}

Status Supervisor::begin_session(ChildInfo& c, const nlohmann::json& details) {
  Services* s = monitor_services();
  if (s == nullptr) return make_error("internal error (database unavailable)");
  recorder::SessionRecord r;
  r.id = c.session_id;
  r.user = c.user;
  r.target = c.target;
  r.login = c.login;
  r.source = c.source;
  r.pid = c.pid;
  r.grant_id = c.grant_id;
  r.node = cfg_.node_name;
  if (auto st = s->sessions().start(r); !st) return make_error("internal error (cannot record session)");
  c.session_row = true;
  if (!audit_event("session.start", recorder::Outcome::kAllow, "", c, details)) {
    return make_error("internal error (audit log unavailable)");
  }
  c.state = ChildState::kProxy;
  return {};
}

void Supervisor::accept(ChildInfo& c) {
  Micros now = clock_.now();
  c.authenticated = true;
  c.started_at = now;
  source_backoff_.success(c.source_group);
  key_backoff_.success(c.fingerprint);
  metrics_.add("bastion_logins_total");
  send_to(c, c.accepted);
}

void Supervisor::on_step_up_poll(ChildInfo& c) {
  if (c.state == ChildState::kCommand) return on_command_step_up_poll(c);
  using monitor::StepUpResult;
  Micros now = clock_.now();
  Services* s = monitor_services();
  auto fail = [&](const std::string& why) {
    audit_event("auth.step_up", recorder::Outcome::kDeny, why, c, c.step_up_details);
    metrics_.add("bastion_step_ups_total", now >= c.step_up_deadline ? "outcome=timed_out" : "outcome=failed");
    metrics_.add("bastion_login_denials_total", "stage=step_up");
    key_backoff_.failure(c.fingerprint, now);
    send_to(c, StepUpResult{StepUpResult::kFailed, why});
    // SECURITY: an honest child closes the connection with the reason; one
    // that does not is killed after kill_grace.
    c.state = ChildState::kRefused;
    c.kill_deadline = now + cfg_.kill_grace;
  };
  if (now >= c.step_up_deadline) {
    if (s != nullptr) (void)s->mfa().finish_step_up(c.step_up_code, false, "timed out", "");
    return fail("no security-key step-up within " + format_duration(cfg_.step_up_timeout));
  }
  auto rec = s ? s->mfa().find_step_up(c.step_up_code) : Result<authn::StepUpRecord>(make_error("unavailable"));
  // A busy database: still pending; the deadline above ends the wait.
  if (!rec || rec->state == "pending") {
    send_to(c, StepUpResult{StepUpResult::kPending, ""});
    return;
  }
  if (rec->state != "verified") return fail("step-up failed: " + rec->reason);
  // SECURITY: the person may have left, or the access ended, while we waited.
  auto in = policy::decide_access(s->policy(), c.user, c.target, c.login, now);
  if (!in || !in->person) return fail("internal error (policy unavailable)");
  if (in->person->state != policy::PersonState::kActive) return fail("account " + c.user + " is no longer active");
  auto key = s->keys().find_by_fingerprint(c.fingerprint);
  if (!key || !*key || !(*key)->active) return fail("key " + c.fingerprint + " has been revoked");
  if (!in->decision.allow) return fail(in->decision.reason);
  if (in->decision.grant_id != c.grant_id) return fail("the access changed during the step-up; log in again");
  nlohmann::json details = c.step_up_details;
  details["step_up_at"] = format_utc(now);
  if (!audit_event("auth.step_up", recorder::Outcome::kAllow, "step-up verified", c, details)) {
    return fail("internal error (audit log unavailable)");
  }
  if (auto st = begin_session(c, details); !st) return fail(st.message());
  c.authenticated = true;
  c.started_at = now;
  source_backoff_.success(c.source_group);
  key_backoff_.success(c.fingerprint);
  metrics_.add("bastion_step_ups_total", "outcome=verified");
  metrics_.add("bastion_logins_total");
  send_to(c, StepUpResult{StepUpResult::kVerified, ""});
}

void Supervisor::on_command(ChildInfo& c, const monitor::Command& m) {
  auto answer = [&](monitor::CommandOutput out) {
    if (out.output.size() > monitor::kMaxCommandOutput) {
      out.output.resize(monitor::kMaxCommandOutput - 64);
      out.output += "\n(output truncated)\n";
    }
    send_to(c, out);
  };
  Services* s = monitor_services();
  if (s == nullptr) return answer({"internal error (database unavailable)\n", 1, false, "", 0});
  auto person = s->policy().find_person(c.user);
  if (!person || !*person) return answer({"internal error (policy unavailable)\n", 1, false, "", 0});
  if ((*person)->state != policy::PersonState::kActive) {
    std::string why = "account " + c.user + " is " + policy::to_string((*person)->state);
    audit_event("command", recorder::Outcome::kDeny, why, c, {{"command", m.line.substr(0, 256)}});
    return answer({why + "\n", 1, true, "", 0});
  }
  // SECURITY: the command runs here, as the person the monitor derived.
  CommandContext ctx;
  ctx.person = &**person;
  ctx.repo = &s->policy();
  ctx.elevation = &s->elevation();
  ctx.clock = &clock_;
  ctx.key_fingerprint = c.fingerprint;
  ctx.source = c.source;
  ctx.gateway_host = cfg_.public_name;
  ctx.session_id = c.session_id;
  bool changed = false;
  ctx.on_elevation_change = [&changed] { changed = true; };
  std::string step_up_url;
  // Approving needs the approver's own step-up for this very approval (the
  // page names it), verified within kApproverStepUpMaxAge, used once. The
  // monitor never waits: it starts one and tells the child, which waits
  // (StepUpPoll) and sends the command again.
  ctx.require_step_up = [&](const std::string& purpose) -> Status {
    Micros now = clock_.now();
    // SECURITY: a step-up confirms the approval it was shown for, not any
    // other one the same session (or a stolen SSH key) asks for next.
    const bool confirmed = c.step_up_verified_for == purpose && now >= c.step_up_verified_at &&
                           now - c.step_up_verified_at <= kApproverStepUpMaxAge;
    c.step_up_verified_for.clear();
    if (confirmed) return {};
    if (cfg_.public_url.empty())
      return make_error("this needs a security-key step-up, but the gateway has no web endpoint");
    auto creds = s->mfa().credentials(c.user);
    if (!creds || !can_offer_step_up(*creds)) {
      return make_error(
          "this needs a security-key step-up, but you have no registered WebAuthn credential "
          "(ask an administrator: bastionctl user invite " +
          c.user + ")");
    }
    auto code = s->mfa().create_step_up(c.user, c.session_id, "command: " + purpose, cfg_.step_up_timeout);
    if (!code) return make_error("internal error (cannot start a step-up)");
    c.step_up_code = *code;
    c.step_up_deadline = now + cfg_.step_up_timeout;
    c.step_up_details = {{"purpose", purpose}};
    audit_event("auth.step_up", recorder::Outcome::kAllow, "step-up started", c, c.step_up_details);
    step_up_url = cfg_.public_url + "/mfa/" + *code;
    return make_error("a security-key step-up comes first");
  };
  ctx.confirm_key = [&](const std::string& code) { return confirm_key(c, *s, code); };
  CommandResult r = run_command(m.line, ctx);
  if (!step_up_url.empty()) answer({"", 1, false, step_up_url, cfg_.step_up_timeout});
  else answer({r.output, static_cast<uint32_t>(r.exit_code), r.quit, "", 0});
  if (changed) sweep_grants(true);
}

// `confirm-key CODE` in command mode: the session's person (derived from
// the SSH key they logged in with) confirms their own pending security key.
Result<std::string> Supervisor::confirm_key(ChildInfo& c, Services& s, const std::string& code) {
  std::string code_owner;
  const std::string by = "ssh-key " + c.fingerprint;
  auto r = s.mfa().confirm_credential_with_code(c.user, code, by, &code_owner);
  if (!r) {
    nlohmann::json details = {{"method", "ssh-key"}, {"key", c.fingerprint}};
    // SECURITY: a code of someone else's registration in this person's hands
    // means a link or code went astray: the audit log names whose it was.
    if (!code_owner.empty()) details["code_of"] = code_owner;
    audit_event("webauthn.confirm", recorder::Outcome::kDeny, r.error().message, c, details);
    return make_error(r.error().message);
  }
  if (!audit_event("webauthn.confirm", recorder::Outcome::kAllow, "security key confirmed with the SSH key", c,
                   {{"method", "ssh-key"}, {"key", c.fingerprint}, {"credential_id", r->id}})) {
    return make_error("internal error (audit log unavailable); the key was confirmed, tell your administrator");
  }
  return "confirmed: your security key (credential " + r->id.substr(0, 16) +
         "...) is active and can approve step-ups now\n";
}

void Supervisor::on_command_step_up_poll(ChildInfo& c) {
  using monitor::StepUpResult;
  if (c.step_up_code.empty()) return violation(c, "step-up poll with no step-up offered");
  Micros now = clock_.now();
  Services* s = monitor_services();
  auto finish = [&](uint32_t state, const std::string& why) {
    if (state == StepUpResult::kFailed)
      audit_event("auth.step_up", recorder::Outcome::kDeny, why, c, c.step_up_details);
    else audit_event("auth.step_up", recorder::Outcome::kAllow, "step-up verified", c, c.step_up_details);
    c.step_up_code.clear();
    send_to(c, StepUpResult{state, why});
  };
  if (now >= c.step_up_deadline) {
    if (s != nullptr) (void)s->mfa().finish_step_up(c.step_up_code, false, "timed out", "");
    return finish(StepUpResult::kFailed, "no security-key step-up within " + format_duration(cfg_.step_up_timeout));
  }
  auto rec = s ? s->mfa().find_step_up(c.step_up_code) : Result<authn::StepUpRecord>(make_error("unavailable"));
  if (!rec || rec->state == "pending") {
    send_to(c, StepUpResult{StepUpResult::kPending, ""});
    return;
  }
  if (rec->state != "verified") return finish(StepUpResult::kFailed, "step-up failed: " + rec->reason);
  // SECURITY: the person may have left or been disabled while we waited.
  auto person = s->policy().find_person(c.user);
  if (!person || !*person || (*person)->state != policy::PersonState::kActive) {
    return finish(StepUpResult::kFailed, "account " + c.user + " is no longer active");
  }
  c.step_up_verified_for = c.step_up_details.value("purpose", "");
  c.step_up_verified_at = now;
  finish(StepUpResult::kVerified, "");
}

void Supervisor::on_audit(ChildInfo& c, const monitor::Audit& m) {
  if (!child_may_report(m.action, c.state)) {
    return violation(c, "audit action '" + m.action.substr(0, 64) + "' is not a connection's to report");
  }
  auto outcome = parse_outcome(m.outcome);
  if (!outcome)
    return violation(c, "audit outcome '" + m.outcome.substr(0, 16) + "' is not one of allow, deny, error, info");
  auto details = nlohmann::json::parse(m.details, nullptr, false);
  if (details.is_discarded() || !details.is_object()) return violation(c, "audit details are not a JSON object");
  // SECURITY: an event we cannot record must not let the session go on.
  if (!audit_event(m.action, *outcome, m.reason, c, std::move(details))) {
    request_kill(c, "the gateway could not record this session");
  }
}

void Supervisor::on_session_end(ChildInfo& c, const monitor::SessionEnd& m) {
  auto recordings = nlohmann::json::parse(m.recordings, nullptr, false);
  if (recordings.is_discarded() || !recordings.is_array()) {
    return violation(c, "session recordings are not a JSON array");
  }
  constexpr uint64_t kMax = static_cast<uint64_t>(INT64_MAX);
  if (m.bytes_in > kMax || m.bytes_out > kMax) return violation(c, "session byte counts out of range");
  if (!c.session_row) {
    audit_event("session.end", recorder::Outcome::kInfo, m.reason, c, nlohmann::json::object());
    send_to(c, monitor::Ack{});
    return;
  }
  std::optional<int> exit_status;
  if (m.has_exit_status) exit_status = static_cast<int>(std::min<uint32_t>(m.exit_status, INT32_MAX));
  Services* s = monitor_services();
  auto st = s ? s->sessions().end(c.session_id, static_cast<int64_t>(m.bytes_in), static_cast<int64_t>(m.bytes_out),
                                  exit_status, m.reason)
              : Status(make_error("database unavailable"));
  // On failure the row is ended when the process exits (end_orphans).
  if (!st) daemon_log("cannot record the end of " + c.session_id + ": " + st.message());
  else c.session_row = false;
  nlohmann::json d = {{"bytes_in", m.bytes_in}, {"bytes_out", m.bytes_out}, {"recordings", recordings}};
  if (exit_status) d["exit_status"] = *exit_status;
  audit_event("session.end", recorder::Outcome::kInfo, m.reason, c, std::move(d));
  // The child tells the client only once the end is on record.
  send_to(c, monitor::Ack{});
}

recorder::AuditEvent Supervisor::session_event(const ChildInfo& c) const {
  recorder::AuditEvent e;
  e.actor = c.user;
  e.target = c.target;
  e.login = c.login;
  e.source = c.source;
  e.session_id = c.session_id;
  return e;
}

// The command index of a terminal channel whose recording is open: its file
// is the monitor's too (named after the recording), hashed here at the end.
void Supervisor::on_index_open(ChildInfo& c, const monitor::RecordingOpen& m) {
  auto it = c.recordings.find(m.channel);
  if (it == c.recordings.end() || it->second.ended || it->second.stream || !it->second.index_path.empty()) {
    return violation(c, "command index of channel " + std::to_string(m.channel) +
                            ", which has no open terminal recording or has one already");
  }
  auto o = recorder::begin_index(it->second.path);
  if (!o) {
    send_to(c, monitor::Refused{o.error().message});
    return;
  }
  it->second.index_path = o->path;
  send_to(c, monitor::RecordingOpened{o->path}, std::move(o->file));
}

void Supervisor::on_recording_open(ChildInfo& c, const monitor::RecordingOpen& m) {
  if (m.index) return on_index_open(c, m);
  if (m.channel == 0 || m.channel > kMaxRecordings || c.recordings.contains(m.channel)) {
    return violation(c, "recording of channel " + std::to_string(m.channel) + " asked twice or out of range");
  }
  if (c.recordings.size() >= kMaxRecordings) return violation(c, "too many recordings");
  Services* s = monitor_services();
  if (s == nullptr) {
    send_to(c, monitor::Refused{"database unavailable"});
    return;
  }
  // SECURITY: the file's name, folder and row are the monitor's; the child
  // gets one descriptor, opened for appending to that new file only.
  auto o =
      s->recordings().begin(cfg_.recording_dir, !cfg_.encrypt_to.empty(), session_event(c), static_cast<int>(m.channel),
                            m.stream ? recorder::RecordingFormat::kStream : recorder::RecordingFormat::kAsciicast);
  if (!o) {
    send_to(c, monitor::Refused{o.error().message});
    return;
  }
  ChildInfo::Recording rec;
  rec.path = o->path;
  rec.stream = m.stream;
  c.recordings[m.channel] = std::move(rec);
  send_to(c, monitor::RecordingOpened{o->path}, std::move(o->file));
}

void Supervisor::on_recording_chunk(ChildInfo& c, const monitor::RecordingChunk& m) {
  auto it = c.recordings.find(m.channel);
  if (it == c.recordings.end() || it->second.ended) {
    return violation(c, "digest for channel " + std::to_string(m.channel) + ", which has no open recording");
  }
  if (m.offset != it->second.next_offset || m.length == 0 || m.length > (1ULL << 40) ||
      !looks_like_sha256_hex(m.sha256)) {
    return violation(c, "recording digest out of sequence or malformed");
  }
  it->second.next_offset += m.length;
  (void)it->second.chunk_digests.add(m.sha256);
  Services* s = monitor_services();
  recorder::CastChunk chunk{static_cast<int64_t>(m.offset), static_cast<int64_t>(m.length), m.sha256};
  // SECURITY: an event we cannot record must not let the session go on.
  if (s == nullptr || !recorder::record_chunk(s->audit(), session_event(c), static_cast<int>(m.channel), chunk)) {
    request_kill(c, "the gateway could not record this session");
  }
}

void Supervisor::on_recording_end(ChildInfo& c, const monitor::RecordingEnd& m) {
  auto it = c.recordings.find(m.channel);
  if (it == c.recordings.end() || it->second.ended) {
    return violation(c, "end of channel " + std::to_string(m.channel) + ", which has no open recording");
  }
  if (m.size < it->second.next_offset || m.size > (1ULL << 50) || !looks_like_sha256_hex(m.sha256)) {
    return violation(c, "recording end malformed");
  }
  // SECURITY: a recording's final digest is re-derived from the chunk
  // digests this monitor journaled, and every byte must be in a chunk; a
  // child that claims otherwise is lying about its recording.
  if (m.size != it->second.next_offset || it->second.chunk_digests.final() != m.sha256) {
    return violation(c, "recording end does not match the chunk digests of channel " + std::to_string(m.channel));
  }
  it->second.ended = true;
  Services* s = monitor_services();
  // Both kinds of recording are vouched for by their chunk digests (older
  // versions vouched for a cast by the SHA-256 of the whole file).
  recorder::CastSummary sum{static_cast<int64_t>(m.size), m.sha256, std::string(recorder::kDigestOfChunks)};
  // SECURITY: the index's digest is the monitor's own reading of the file
  // it created, not a claim of the child.
  std::optional<recorder::IndexDigest> index;
  if (!it->second.index_path.empty()) {
    auto d = recorder::digest_index_file(it->second.index_path);
    if (!d) return violation(c, d.error().message);
    index = std::move(*d);
  }
  if (s == nullptr || !s->recordings().end(session_event(c), static_cast<int>(m.channel), it->second.path, sum,
                                           index ? &*index : nullptr)) {
    daemon_log("monitor: cannot record the end of " + it->second.path);
  }
}

std::string Supervisor::certificate_source_address(const std::string& reported) {
  if (!cfg_.egress_addresses.empty()) return join(cfg_.egress_addresses, ",");
  std::string ip = canonical_ip(reported);
  return !ip.empty() && is_local_address(ip) ? ip : "";
}

void Supervisor::on_sign(ChildInfo& c, const monitor::Sign& m) {
  // SECURITY: the CA key lives only here. A certificate is issued once per
  // connection, for the person, login and session the monitor derived
  // itself, for minutes, never past the grant, and only from the gateway's
  // own addresses.
  auto ref = [&](const std::string& why) {
    audit_event("monitor.refuse", recorder::Outcome::kDeny, "no certificate: " + why, c, {{"request", "sign"}});
    send_to(c, monitor::Refused{why});
  };
  if (c.grant_ends_at != 0 && clock_.now() >= c.grant_ends_at) {
    return ref("grant " + c.grant_id + " has ended");
  }
  std::string source = certificate_source_address(m.source_address);
  if (source.empty()) return violation(c, "upstream source address '" + m.source_address + "' is not this host's");
  if (!authn::validate_key_blob(m.subject)) return violation(c, "certificate subject is not a public key");
  authn::CertificateRequest cr;
  cr.subject_key_blob = m.subject;
  random_fill({reinterpret_cast<uint8_t*>(&cr.serial), sizeof cr.serial});
  cr.key_id = "bastion person=" + c.user + " session=" + c.session_id;
  cr.principals = {c.principal};
  Micros secs = clock_.now() / kMicrosPerSecond;
  // Backdated a minute for clock skew; short-lived so a leak is soon useless.
  cr.valid_after = static_cast<uint64_t>(secs - 60);
  cr.valid_before = static_cast<uint64_t>(secs + cfg_.certificate_validity / kMicrosPerSecond);
  if (c.grant_ends_at != 0) {
    cr.valid_before = std::min(cr.valid_before, static_cast<uint64_t>(c.grant_ends_at / kMicrosPerSecond));
  }
  cr.critical_options = {{"source-address", source}};
  cr.extensions = {"permit-pty"};
  if (c.allow_port_forwarding) cr.extensions.push_back("permit-port-forwarding");
  auto cert = ca_->sign_user_certificate(cr);
  if (!cert) return ref(cert.error().message);
  ++c.certificates;
  send_to(c, monitor::Certificate{*cert, cr.key_id});
}

void Supervisor::on_elevation_changed(ChildInfo&) { sweep_grants(true); }

}  // namespace bastion::gateway
