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

#include <csignal>
#include <cstdio>
#include <memory>

#include <openssl/rand.h>

#include "authn/public_key.h"
#include "common/unique_fd.h"
#include "gateway/app/session_id.h"
#include "gateway/sshd/supervisor.h"
#include "policy/access.h"
#include "policy/ingress_name.h"

namespace bastion::gateway {
namespace {

using monitor::Type;

void log(const std::string& msg) { std::fprintf(stderr, "bastiond[%d]: %s\n", getpid(), msg.c_str()); }

constexpr unsigned bit(ChildState s) { return static_cast<unsigned>(s); }
constexpr unsigned bit(Type t) { return 1u << static_cast<unsigned>(t); }

// The dispatch table (like OpenSSH's mon_dispatch): a request type is
// answered only in the states listed, and at most once where `once` is set.
// Monitor-to-child types are not listed: a child sending one is a violation.
struct Rule {
  Type type;
  unsigned states;
  bool once;
};
constexpr Rule kRules[] = {
    {Type::kAuthFailed, bit(ChildState::kPreauth), false},
    {Type::kAuthenticate, bit(ChildState::kPreauth), true},
    {Type::kSign, bit(ChildState::kProxy), true},
    {Type::kElevationChanged, bit(ChildState::kCommand), false},
};

const char* state_name(ChildState s) {
  switch (s) {
    case ChildState::kPreauth: return "pre-auth";
    case ChildState::kProxy: return "authenticated";
    case ChildState::kCommand: return "command mode";
    case ChildState::kRefused: return "refused";
  }
  return "?";
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
  auto r = monitor::recv_message(c.channel.get(), MSG_DONTWAIT);
  using Kind = monitor::Received::Kind;
  if (r.kind == Kind::kNothing || r.kind == Kind::kClosed) return;  // exit is handled by SIGCHLD
  if (r.kind == Kind::kMalformed) return violation(c, r.error);
  Type type = monitor::type_of(r.message);
  const Rule* rule = nullptr;
  for (const auto& candidate : kRules) {
    if (candidate.type == type) rule = &candidate;
  }
  // SECURITY: a request not allowed in this state, a repeat of a one-time
  // request, or a message only the monitor sends ends the child.
  if (rule == nullptr || (rule->states & bit(c.state)) == 0) {
    return violation(c, std::string("unpermitted request ") + monitor::type_name(type) + " in state " +
                            state_name(c.state));
  }
  if (rule->once && (c.asked_once & bit(type)) != 0) {
    return violation(c, std::string("repeated one-time request ") + monitor::type_name(type));
  }
  if (rule->once) c.asked_once |= bit(type);
  std::visit(
      [&](const auto& m) {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, monitor::AuthFailed>) on_auth_failed(c, m);
        else if constexpr (std::is_same_v<M, monitor::Authenticate>) on_authenticate(c, m);
        else if constexpr (std::is_same_v<M, monitor::Sign>) on_sign(c, m);
        else if constexpr (std::is_same_v<M, monitor::ElevationChanged>) on_elevation_changed(c);
      },
      r.message);
}

void Supervisor::violation(ChildInfo& c, const std::string& what) {
  // SECURITY: a child that breaks the protocol may be compromised: it gets
  // nothing more, and is killed at once, not asked to end.
  log("monitor: connection process " + std::to_string(c.pid) + " (" + c.source + "): protocol violation: " + what +
      "; killed");
  ::kill(c.pid, SIGKILL);
  c.state = ChildState::kRefused;
  c.kill_deadline = 0;
  audit_event("monitor.violation", recorder::Outcome::kDeny, what, c, {{"pid", c.pid}, {"source", c.source}});
}

void Supervisor::refuse(ChildInfo& c, const std::string& reason, const nlohmann::json& details) {
  log("monitor: connection process " + std::to_string(c.pid) + " (" + c.source + "): refused: " + reason);
  audit_event("monitor.refuse", recorder::Outcome::kDeny, reason, c, details);
  (void)monitor::send_message(c.channel.get(), monitor::Refused{reason}, MSG_DONTWAIT);
  // SECURITY: an honest child closes the connection with the reason; one
  // that does not is killed after kill_grace.
  c.state = ChildState::kRefused;
  c.kill_deadline = SystemClock::instance().now() + cfg_.kill_grace;
}

void Supervisor::on_auth_failed(ChildInfo& c, const monitor::AuthFailed& m) {
  // With a fingerprint: an enrolled key was refused (counts against the key).
  // Without: the client could not authenticate at all (counts against the
  // source when the connection ends without a login).
  if (m.fingerprint.empty()) ++c.auth_failures;
  else key_backoff_.failure(m.fingerprint, SystemClock::instance().now());
}

void Supervisor::on_authenticate(ChildInfo& c, const monitor::Authenticate& m) {
  c.claimed_session = true;
  c.session_id = m.session_id;
  c.fingerprint = m.fingerprint;
  nlohmann::json details = {{"fingerprint", m.fingerprint}, {"user_name", m.user_name},
                            {"claimed", {{"person", m.person}, {"target", m.target}, {"login", m.login},
                                         {"grant_id", m.grant_id}, {"port_forwarding", m.port_forwarding},
                                         {"command_mode", m.command_mode}}}};
  if (!looks_like_session_id(m.session_id)) return violation(c, "malformed session id");
  for (const auto& [pid, other] : children_) {
    if (pid != c.pid && other.session_id == m.session_id) return violation(c, "session id of another connection");
  }
  auto s = Services::open(cfg_);
  if (!s) return refuse(c, "internal error (database unavailable)", details);
  Micros now = SystemClock::instance().now();
  // The person: from the key, never from the child.
  auto key = (*s)->keys().find_by_fingerprint(m.fingerprint);
  if (!key) return refuse(c, "internal error (database unavailable)", details);
  if (!*key) return refuse(c, "key is not enrolled", details);
  if (!(*key)->active) return refuse(c, "key " + m.fingerprint + " has been revoked", details);
  auto person = (*s)->policy().find_person((*key)->user);
  if (!person || !*person) return refuse(c, "internal error (owner of key not found)", details);
  if ((*person)->state != policy::PersonState::kActive) {
    return refuse(c, "account " + (*person)->name + " is " + policy::to_string((*person)->state), details);
  }
  if (!authn::is_security_key((*key)->type) && !(*person)->service_account) {
    return refuse(c, "plain " + (*key)->type + " keys are not accepted for people", details);
  }
  if (m.person != (*person)->name) {
    return refuse(c, "the key belongs to " + (*person)->name + ", not " + m.person, details);
  }
  auto name = policy::parse_ingress_name(m.user_name);
  if (!name) return refuse(c, name.error().message, details);
  if (name->command_mode != m.command_mode || (!m.command_mode && (name->target != m.target || name->login != m.login))) {
    return refuse(c, "the claim does not match the user name " + m.user_name, details);
  }
  c.user = (*person)->name;
  if (name->command_mode) {
    if (name->person != c.user) return refuse(c, "this key belongs to " + c.user + ", not " + name->person, details);
    c.state = ChildState::kCommand;
  } else {
    auto in = policy::decide_access((*s)->policy(), c.user, name->target, name->login, now);
    if (!in) return refuse(c, "internal error (policy unavailable)", details);
    const policy::Decision& d = in->decision;
    details["decided"] = {{"allow", d.allow}, {"reason", d.reason}, {"grant_id", d.grant_id},
                          {"port_forwarding", d.allow_port_forwarding}};
    if (!d.allow) return refuse(c, d.reason, details);
    if (d.grant_id != m.grant_id || d.allow_port_forwarding != m.port_forwarding) {
      return refuse(c, "the claim disagrees with the gateway's decision (" + d.reason + ")", details);
    }
    // SECURITY: step-up freshness is the monitor's to check, from what the
    // web process verified: never the child's word.
    if (d.step_up.kind != policy::StepUpRule::Kind::kNone) {
      auto last = (*s)->mfa().last_step_up(c.user);
      auto mine = (*s)->mfa().session_step_up(c.user, m.session_id);
      if (!last || !mine) return refuse(c, "internal error (step-up state unavailable)", details);
      if (!policy::step_up_satisfied(d.step_up, *last, mine->has_value(), now)) {
        return refuse(c, "no security-key step-up as fresh as " + policy::to_string(d.step_up) + " requires",
                      details);
      }
    }
    if (!in->target) return refuse(c, "internal error (target vanished)", details);
    c.target = name->target;
    c.login = name->login;
    c.principal = policy::certificate_principal(*in->target, name->login);
    c.allow_port_forwarding = d.allow_port_forwarding;
    c.grant_id = d.grant_id;
    c.grant_ends_at = d.grant_id.empty() ? 0 : d.not_after;
    c.state = ChildState::kProxy;
  }
  c.authenticated = true;
  c.started_at = now;
  source_backoff_.success(c.source_ip);
  key_backoff_.success(c.fingerprint);
  (void)monitor::send_message(c.channel.get(), monitor::Accepted{c.user, c.allow_port_forwarding, c.grant_ends_at},
                              MSG_DONTWAIT);
}

std::string Supervisor::certificate_source_address(const std::string& reported) {
  if (!cfg_.egress_addresses.empty()) {
    std::string out;
    for (const auto& a : cfg_.egress_addresses) out += (out.empty() ? "" : ",") + a;
    return out;
  }
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
    (void)monitor::send_message(c.channel.get(), monitor::Refused{why}, MSG_DONTWAIT);
  };
  if (c.grant_ends_at != 0 && SystemClock::instance().now() >= c.grant_ends_at) {
    return ref("grant " + c.grant_id + " has ended");
  }
  std::string source = certificate_source_address(m.source_address);
  if (source.empty()) return violation(c, "upstream source address '" + m.source_address + "' is not this host's");
  if (!authn::validate_key_blob(m.subject)) return violation(c, "certificate subject is not a public key");
  authn::CertificateRequest cr;
  cr.subject_key_blob = m.subject;
  RAND_bytes(reinterpret_cast<unsigned char*>(&cr.serial), sizeof cr.serial);
  cr.key_id = "bastion person=" + c.user + " session=" + c.session_id;
  cr.principals = {c.principal};
  Micros secs = SystemClock::instance().now() / kMicrosPerSecond;
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
  (void)monitor::send_message(c.channel.get(), monitor::Certificate{*cert, cr.key_id}, MSG_DONTWAIT);
}

void Supervisor::on_elevation_changed(ChildInfo&) { sweep_grants(true); }

}  // namespace bastion::gateway
