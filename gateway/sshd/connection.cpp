#include "gateway/sshd/connection.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "authn/public_key.h"
#include "common/encoding.h"
#include "gateway/sshd/channel_callbacks.h"
#include "gateway/sshd/monitor_protocol.h"
#include "gateway/app/session_id.h"

namespace bastion::gateway {
namespace {

using recorder::Outcome;

// The public key as SSH wire bytes (for the fingerprint), and its type name.
bool key_identity(ssh_key key, std::string& fingerprint, std::string& type) {
  char* b64 = nullptr;
  if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK) return false;
  SshCString owner(b64);
  auto blob = base64_decode(b64);
  if (!blob) return false;
  fingerprint = authn::fingerprint_sha256(*blob);
  const char* t = ssh_key_type_to_char(ssh_key_type(key));
  type = t ? t : "unknown";
  return true;
}

}  // namespace

void send_banner(ssh_session s, const std::string& text) {
  SshString str(ssh_string_from_char(text.c_str()));
  if (str) ssh_send_issue_banner(s, str.get());
}

Connection::Connection(Services& services, ssh_bind bind, ConnectionParams params)
    : services_(services), bind_(bind), params_(std::move(params)) {
  session_id_ = new_session_id();
}

Connection::~Connection() {
  pairs_.clear();
  if (upstream_) ssh_disconnect(upstream_->session());
}

const std::vector<std::string>& Connection::env_allow() const { return services_.config().env_allow; }

bool Connection::audit(const std::string& action, Outcome outcome, const std::string& reason,
                       nlohmann::json details) {
  recorder::AuditEvent e;
  e.actor = person_ ? person_->name : (fingerprint_.empty() ? "unknown" : "key:" + fingerprint_);
  e.action = action;
  e.outcome = outcome;
  e.reason = reason;
  e.target = name_.target;
  e.login = name_.login;
  e.source = params_.source;
  e.session_id = session_id_;
  e.details = std::move(details);
  if (auto r = services_.audit().append(e); !r) {
    std::fprintf(stderr, "bastiond[%d]: AUDIT FAILURE: %s\n", getpid(), r.error().message.c_str());
    // SECURITY: an event we cannot record must not let the session go on.
    closing_ = true;
    return false;
  }
  return true;
}

int Connection::on_auth_pubkey(const char* user, ssh_key key, char signature_state) {
  std::string fp, type;
  if (!key_identity(key, fp, type)) return SSH_AUTH_DENIED;
  if (signature_state == SSH_PUBLICKEY_STATE_NONE) {
    // Probe: say yes only for keys we know, so the client goes on to sign.
    auto rec = services_.keys().find_by_fingerprint(fp);
    if (rec && *rec) return SSH_AUTH_SUCCESS;
    if (std::find(unknown_keys_seen_.begin(), unknown_keys_seen_.end(), fp) == unknown_keys_seen_.end()) {
      unknown_keys_seen_.push_back(fp);
      fingerprint_ = fp;
      audit("auth", Outcome::kDeny, "key is not enrolled", {{"fingerprint", fp}, {"key_type", type}});
      fingerprint_.clear();
      report_failure("");
    }
    return SSH_AUTH_DENIED;
  }
  if (signature_state != SSH_PUBLICKEY_STATE_VALID) return SSH_AUTH_DENIED;
  if (++signed_attempts_ > services_.config().max_auth_attempts) {
    closing_ = true;
    return SSH_AUTH_DENIED;
  }
  std::string reason;
  fingerprint_ = fp;
  if (params_.key_backoff != nullptr) {
    Micros now = services_.clock().now();
    if (Micros until = params_.key_backoff->blocked_until(fp, now); until != 0) {
      std::string why = "too many failed logins with this key; try again in " + format_duration(until - now);
      audit("auth", Outcome::kDeny, why, {{"fingerprint", fp}, {"key_type", type}, {"backoff", true}});
      send_banner(session_.get(), "bastion: denied: " + why + "\n");
      return SSH_AUTH_DENIED;
    }
  }
  // One publickey success per connection: after it, only the step-up is left.
  if (step_up_code_) return SSH_AUTH_DENIED;
  if (!authenticate_signed(user ? user : "", fp, type, reason)) {
    send_banner(session_.get(), "bastion: denied: " + reason + "\n");
    report_failure(fp);
    return SSH_AUTH_DENIED;
  }
  if (step_up_code_) {
    // SECURITY: the key proved possession only (libssh checks no touch/PIN
    // flags); the login goes on only through the server-verified step-up.
    ssh_set_auth_methods(session_.get(), SSH_AUTH_METHOD_INTERACTIVE);
    return SSH_AUTH_PARTIAL;
  }
  return SSH_AUTH_SUCCESS;
}

bool Connection::authenticate_signed(const std::string& user, const std::string& fp,
                                     const std::string& type, std::string& reason) {
  nlohmann::json details = {{"fingerprint", fp}, {"key_type", type}, {"user_name", user}};
  auto deny = [&](const std::string& why, const char* action = "auth") {
    reason = why;
    audit(action, Outcome::kDeny, why, details);
    return false;
  };
  auto rec = services_.keys().find_by_fingerprint(fp);
  if (!rec) return deny("internal error (database unavailable)");
  if (!*rec) return deny("key is not enrolled");
  const authn::KeyRecord& key = **rec;
  auto person = services_.policy().find_person(key.user);
  if (!person || !*person) return deny("internal error (owner of key not found)");
  person_ = **person;
  if (!key.active) return deny("key " + fp + " has been revoked");
  if (person_->state != policy::PersonState::kActive) {
    return deny("account " + person_->name + " is " + policy::to_string(person_->state));
  }
  // SECURITY: re-check the key class at login, not only at enrollment, in
  // case a service-account flag was removed later.
  if (!authn::is_security_key(type) && !person_->service_account) {
    return deny("plain " + type + " keys are not accepted for people; use a FIDO2 security key");
  }
  user_name_ = user;
  auto parsed = policy::parse_ingress_name(user);
  if (!parsed) return deny(parsed.error().message);
  name_ = *parsed;
  details["fingerprint"] = fp;
  if (name_.command_mode) {
    if (name_.person != person_->name) {
      return deny("this key belongs to " + person_->name + ", not " + name_.person);
    }
    if (!audit("auth", Outcome::kAllow, "command mode", details)) {
      reason = "internal error (audit log unavailable)";
      return false;
    }
    // The monitor decides too, and can then end this connection (leaver, disabled, revoked key).
    if (auto st = ask_monitor_to_authenticate(); !st) return deny(st.message());
    authenticated_ = true;
    return true;
  }
  auto target = services_.policy().find_target(name_.target);
  auto roles = services_.policy().roles_of(*person_);
  auto elevations = services_.policy().list_elevations(person_->name, false);
  if (!target || !roles || !elevations) return deny("internal error (policy unavailable)");
  if (*target) target_ = **target;
  policy::AccessRequest req;
  req.person = &*person_;
  req.roles = &*roles;
  req.target = target_ ? &*target_ : nullptr;
  req.target_name = name_.target;
  req.login = name_.login;
  req.now = services_.clock().now();
  req.elevations = &*elevations;
  decision_ = policy::decide(req);
  details["role"] = decision_.role;
  if (!decision_.grant_id.empty()) {
    details["grant_id"] = decision_.grant_id;
    details["request_id"] = decision_.request_id;
    details["grant_ends_at"] = format_utc(decision_.not_after);
    if (decision_.break_glass) details["break_glass"] = true;
    for (const auto& e : *elevations) {
      if (e.grant_id == decision_.grant_id) grant_ = e;
    }
  }
  if (!decision_.allow) return deny(decision_.reason, "access");
  if (!audit("access", Outcome::kAllow, decision_.reason, details)) {
    reason = "internal error (audit log unavailable)";
    return false;
  }
  if (!plan_step_up(details, reason)) {
    audit("auth.step_up", Outcome::kDeny, reason, details);
    return false;
  }
  if (step_up_code_) return true;  // the session begins in on_kbdint, after the step-up
  return begin_session(details, reason);
}

bool Connection::begin_session(const nlohmann::json& details, std::string& reason) {
  auto deny = [&](const std::string& why) {
    reason = why;
    audit("auth", Outcome::kDeny, why, details);
    return false;
  };
  // SECURITY: the monitor re-derives this decision from its own database;
  // only its yes lets the session begin.
  if (auto st = ask_monitor_to_authenticate(); !st) return deny(st.message());
  recorder::SessionRecord s;
  s.id = session_id_;
  s.user = person_->name;
  s.target = name_.target;
  s.login = name_.login;
  s.source = params_.source;
  s.pid = getpid();
  s.grant_id = decision_.grant_id;
  if (auto st = services_.sessions().start(s); !st) {
    return deny("internal error (cannot record session)");
  }
  session_started_ = true;
  if (!audit("session.start", Outcome::kAllow, "", details)) {
    reason = "internal error (audit log unavailable)";
    return false;
  }
  authenticated_ = true;
  return true;
}

void Connection::report_failure(const std::string& fingerprint) {
  if (params_.supervisor_fd < 0) return;
  (void)monitor::send_message(params_.supervisor_fd, monitor::AuthFailed{fingerprint});
}

Result<monitor::Message> Connection::ask_monitor(const monitor::Message& request) {
  if (params_.supervisor_fd < 0) return make_error("no gateway supervisor");
  if (auto st = monitor::send_message(params_.supervisor_fd, request); !st) {
    return make_error("cannot reach the gateway supervisor");
  }
  Micros deadline = services_.clock().now() + 10 * kMicrosPerSecond;
  while (services_.clock().now() < deadline) {
    pollfd p{params_.supervisor_fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    auto r = monitor::recv_message(params_.supervisor_fd);
    using Kind = monitor::Received::Kind;
    if (r.kind == Kind::kNothing) continue;
    if (r.kind != Kind::kMessage) {
      kill_reason_ = "gateway supervisor exited";
      return make_error("the gateway supervisor went away");
    }
    if (const auto* k = std::get_if<monitor::Kill>(&r.message)) {
      kill_reason_ = k->reason;
      return make_error("the session is being ended");
    }
    return std::move(r.message);
  }
  return make_error("the gateway supervisor did not answer");
}

Status Connection::ask_monitor_to_authenticate() {
  monitor::Authenticate a;
  a.session_id = session_id_;
  a.fingerprint = fingerprint_;
  a.user_name = user_name_;
  a.command_mode = name_.command_mode;
  a.person = person_->name;
  a.target = name_.target;
  a.login = name_.login;
  a.grant_id = decision_.grant_id;
  a.port_forwarding = decision_.allow_port_forwarding;
  auto answer = ask_monitor(a);
  if (!answer) return make_error("internal error (" + answer.error().message + ")");
  if (const auto* r = std::get_if<monitor::Refused>(&*answer)) return make_error(r->reason);
  if (!std::holds_alternative<monitor::Accepted>(*answer)) {
    return make_error("internal error (unexpected answer from the gateway supervisor)");
  }
  return {};
}

CommandContext Connection::command_context(ChannelPair& p) {
  CommandContext ctx;
  ctx.person = &*person_;
  ctx.repo = &services_.policy();
  ctx.elevation = &services_.elevation();
  ctx.clock = &services_.clock();
  ctx.key_fingerprint = fingerprint_;
  ctx.source = params_.source;
  ctx.gateway_host = services_.config().public_name;
  ctx.session_id = session_id_;
  ctx.require_step_up = [this, &p](const std::string& purpose) { return command_step_up(p, purpose); };
  ctx.on_elevation_change = [this] {
    if (params_.supervisor_fd >= 0) (void)monitor::send_message(params_.supervisor_fd, monitor::ElevationChanged{});
  };
  return ctx;
}

Result<SignedCertificate> Connection::request_certificate(std::span<const uint8_t> subject,
                                                          const std::string& source_address) {
  monitor::Sign req;
  req.subject.assign(subject.begin(), subject.end());
  req.source_address = source_address;
  auto answer = ask_monitor(req);
  if (!answer) return answer.error();
  if (const auto* r = std::get_if<monitor::Refused>(&*answer)) return make_error(r->reason);
  const auto* cert = std::get_if<monitor::Certificate>(&*answer);
  if (cert == nullptr) return make_error("unexpected answer from the gateway supervisor");
  return SignedCertificate{cert->blob, cert->key_id};
}

void Connection::on_supervisor_readable() {
  auto r = monitor::recv_message(params_.supervisor_fd, MSG_DONTWAIT);
  using Kind = monitor::Received::Kind;
  if (r.kind == Kind::kNothing) return;
  // SECURITY: the supervisor is gone (crashed or killed), or says something
  // this process cannot read; nobody could end this session any more, so end it now.
  if (r.kind != Kind::kMessage) {
    kill_reason_ = "gateway supervisor exited";
    return;
  }
  if (const auto* k = std::get_if<monitor::Kill>(&r.message)) kill_reason_ = k->reason;
}

ssh_channel Connection::on_channel_open() {
  if (!authenticated_ || closing_) return nullptr;
  auto p = std::make_unique<ChannelPair>(this);
  p->in = ssh_channel_new(session_.get());
  if (p->in == nullptr) return nullptr;
  install_ingress_callbacks(*p);
  ssh_channel ch = p->in;
  pairs_.push_back(std::move(p));
  return ch;
}

ChannelPair* Connection::find_pair(ssh_channel ch) {
  for (auto& p : pairs_) {
    if (p->in == ch || p->up == ch) return p.get();
  }
  return nullptr;
}

int Connection::on_message(ssh_message msg) {
  int type = ssh_message_type(msg);
  int sub = ssh_message_subtype(msg);
  if (type == SSH_REQUEST_AUTH && sub == SSH_AUTH_METHOD_INTERACTIVE && !authenticated_) return on_kbdint(msg);
  if (type == SSH_REQUEST_CHANNEL_OPEN && sub == SSH_CHANNEL_DIRECT_TCPIP) {
    std::string host = ssh_message_channel_request_open_destination(msg);
    int port = ssh_message_channel_request_open_destination_port(msg);
    nlohmann::json d = {{"destination", host + ":" + std::to_string(port)}};
    if (!authenticated_ || command_mode() || !decision_.allow_port_forwarding) {
      audit("forward.local", Outcome::kDeny, "port forwarding is not allowed for this target", d);
      return 1;
    }
    auto p = std::make_unique<ChannelPair>(this);
    p->in = ssh_message_channel_request_open_reply_accept(msg);
    if (p->in == nullptr) return 0;
    p->action = ChannelAction::kForward;
    p->forward_host = host;
    p->forward_port = port;
    p->origin_host = ssh_message_channel_request_open_originator(msg);
    p->origin_port = ssh_message_channel_request_open_originator_port(msg);
    install_ingress_callbacks(*p);
    audit("forward.local", Outcome::kAllow, "role " + decision_.role + " allows port forwarding", d);
    pairs_.push_back(std::move(p));
    return 0;
  }
  if (type == SSH_REQUEST_GLOBAL && sub == SSH_GLOBAL_REQUEST_TCPIP_FORWARD) {
    audit("forward.remote", Outcome::kDeny, "remote port forwarding is not supported by the gateway");
    return 1;
  }
  if (type == SSH_REQUEST_CHANNEL && sub == SSH_CHANNEL_REQUEST_X11) {
    audit("x11", Outcome::kDeny, "X11 forwarding is not allowed");
    return 1;
  }
  if (type == SSH_REQUEST_CHANNEL_OPEN) {
    audit("channel.open", Outcome::kDeny, "channel type not allowed", {{"subtype", sub}});
  }
  return 1;  // libssh replies with the default refusal
}

bool Connection::ensure_upstream(std::string& error) {
  if (upstream_) return true;
  if (upstream_failed_) {
    error = upstream_error_;
    return false;
  }
  UpstreamRequest req;
  req.target = &*target_;
  req.login = name_.login;
  req.person = person_->name;
  req.session_id = session_id_;
  req.allow_port_forwarding = decision_.allow_port_forwarding;
  req.connect_timeout = services_.config().connect_timeout;
  req.certificate_validity = services_.config().certificate_validity;
  auto up = Upstream::connect(req, [this](std::span<const uint8_t> s, const std::string& source) {
    return request_certificate(s, source);
  });
  if (!up) {
    upstream_failed_ = true;
    upstream_error_ = up.error().message;
    error = upstream_error_;
    audit("upstream.connect", Outcome::kError, error);
    return false;
  }
  upstream_ = std::move(*up);
  audit("upstream.connect", Outcome::kAllow, "certificate issued",
        {{"key_id", upstream_->certificate_key_id()}});
  ssh_event_add_session(event_.get(), upstream_->session());
  return true;
}

}  // namespace bastion::gateway
