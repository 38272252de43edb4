#include "gateway/sshd/connection.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "authn/public_key.h"
#include "common/encoding.h"
#include "gateway/app/daemon_log.h"
#include "gateway/sshd/channel_callbacks.h"
#include "gateway/app/monitor_protocol.h"

namespace bastion::gateway {
namespace {

using recorder::Outcome;

struct KeyIdentity {
  std::string fingerprint;  // of the public key's SSH wire bytes
  std::string type;
};

Result<KeyIdentity> key_identity(ssh_key key) {
  char* b64 = nullptr;
  if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK) return make_error("cannot export the public key");
  SshCString owner(b64);
  auto blob = base64_decode(b64);
  if (!blob) return blob.error();
  const char* t = ssh_key_type_to_char(ssh_key_type(key));
  return KeyIdentity{authn::fingerprint_sha256(*blob), t ? t : "unknown"};
}

}  // namespace

void send_banner(ssh_session s, const std::string& text) {
  SshString str(ssh_string_from_char(text.c_str()));
  if (str) ssh_send_issue_banner(s, str.get());
}

Connection::Connection(const Config& cfg, ssh_bind bind, ConnectionParams params)
    : cfg_(cfg), bind_(bind), params_(std::move(params)) {
  session_id_ = params_.session_id;
}

Connection::~Connection() {
  pairs_.clear();
  if (upstream_) ssh_disconnect(upstream_->session());
}

const std::vector<std::string>& Connection::env_allow() const { return cfg_.env_allow; }

bool Connection::audit(const std::string& action, Outcome outcome, const std::string& reason,
                       const nlohmann::json& details) {
  // The monitor writes the record, stamped with who, where and which session
  // from its own state; before it accepted a key there is nothing to report.
  if (!accepted_ || params_.supervisor_fd < 0) {
    daemon_log("not audited before authentication: " + action + " " + reason);
    return false;
  }
  constexpr auto kReplace = nlohmann::json::error_handler_t::replace;
  monitor::Audit a{action, recorder::to_string(outcome), reason.substr(0, 1000),
                   details.dump(-1, ' ', false, kReplace)};
  if (a.details.size() > monitor::kMaxJson) {
    a.details =
        nlohmann::json{{"truncated", a.details.substr(0, monitor::kMaxJson / 2)}}.dump(-1, ' ', false, kReplace);
  }
  if (auto st = monitor::send_message(params_.supervisor_fd, a); !st) {
    daemon_log("AUDIT FAILURE: " + st.message());
    // SECURITY: an event we cannot record must not let the session go on.
    closing_ = true;
    return false;
  }
  return true;
}

int Connection::on_auth_pubkey(const char* user, ssh_key key, char signature_state) {
  auto id = key_identity(key);
  if (!id) return SSH_AUTH_DENIED;
  const std::string& fp = id->fingerprint;
  const std::string& type = id->type;
  if (signature_state == SSH_PUBLICKEY_STATE_NONE) {
    // Probe: say yes only for keys the monitor knows, so the client goes on
    // to sign (it audits unknown keys).
    auto answer = ask_monitor(monitor::KeyProbe{fp, type});
    const auto* known = answer ? std::get_if<monitor::KeyKnown>(&*answer) : nullptr;
    if (known != nullptr && known->unavailable && !told_unavailable_) {
      told_unavailable_ = true;
      send_banner(session_.get(),
                  "bastion: denied: the gateway cannot check keys now (its database is unavailable); try again "
                  "shortly\n");
    }
    return known != nullptr && known->known ? SSH_AUTH_SUCCESS : SSH_AUTH_DENIED;
  }
  if (signature_state != SSH_PUBLICKEY_STATE_VALID) return SSH_AUTH_DENIED;
  if (++signed_attempts_ > cfg_.max_auth_attempts) {
    closing_ = true;
    return SSH_AUTH_DENIED;
  }
  // One publickey success per connection: after it, only the step-up is left.
  if (accepted_) return SSH_AUTH_DENIED;
  fingerprint_ = fp;
  if (auto st = authenticate_signed(user ? user : "", fp, type); !st) {
    send_banner(session_.get(), "bastion: denied: " + st.message() + "\n");
    return SSH_AUTH_DENIED;
  }
  if (step_up_url_) {
    // SECURITY: the key proved possession only (libssh checks no touch/PIN
    // flags); the login goes on only through the server-verified step-up.
    ssh_set_auth_methods(session_.get(), SSH_AUTH_METHOD_INTERACTIVE);
    return SSH_AUTH_PARTIAL;
  }
  return SSH_AUTH_SUCCESS;
}

Status Connection::authenticate_signed(const std::string& user, const std::string& fp, const std::string& type) {
  // SECURITY: the monitor decides from its own database: the person from
  // the key, the access from policy, the step-up from what the web process
  // verified. This process holds no policy and claims nothing but the key.
  auto answer = ask_monitor(monitor::Authenticate{fp, type, user});
  if (!answer) return make_error("internal error (" + answer.error().message + ")");
  if (const auto* r = std::get_if<monitor::Refused>(&*answer)) return make_error(r->reason);
  const auto* acc = std::get_if<monitor::Accepted>(&*answer);
  if (acc == nullptr) return make_error("internal error (unexpected answer from the gateway supervisor)");
  user_name_ = user;
  apply_accepted(*acc);
  return {};
}

void Connection::apply_accepted(const monitor::Accepted& acc) {
  accepted_ = true;
  if (acc.command_mode) {
    name_ = policy::IngressName{};
    name_.command_mode = true;
    name_.person = acc.person;
    person_ = policy::Person{};
    person_->name = acc.person;
    authenticated_ = true;
    return;
  }
  person_ = policy::Person{};
  person_->name = acc.person;
  name_ = policy::IngressName{};
  name_.target = acc.target;
  name_.login = acc.login;
  target_ = policy::Target{};
  target_->name = acc.target;
  target_->host = acc.host;
  target_->port = static_cast<uint16_t>(acc.port);
  target_->host_key = acc.host_key;
  target_->recording = acc.recording;
  target_->principals = acc.principals;
  decision_ = policy::Decision{};
  decision_.allow = true;
  decision_.role = acc.role;
  decision_.allow_port_forwarding = acc.port_forwarding;
  decision_.grant_id = acc.grant_id;
  decision_.request_id = acc.request_id;
  decision_.not_after = acc.grant_ends_at;
  decision_.break_glass = acc.break_glass;
  if (!acc.grant_id.empty()) {
    grant_ = policy::Elevation{};
    grant_->grant_id = acc.grant_id;
    grant_->user = acc.person;
    grant_->target = acc.target;
    grant_->login = acc.login;
    grant_->state = policy::ElevationState::kApproved;
    grant_->ends_at = acc.grant_ends_at;
  }
  if (!acc.step_up_url.empty()) {
    step_up_url_ = acc.step_up_url;
    step_up_timeout_ = acc.step_up_timeout;
    return;  // the session begins in on_kbdint, after the step-up
  }
  authenticated_ = true;
}

Result<monitor::Message> Connection::ask_monitor(const monitor::Message& request, UniqueFd* passed) {
  if (params_.supervisor_fd < 0) return make_error("no gateway supervisor");
  if (auto st = monitor::send_message(params_.supervisor_fd, request); !st) {
    return make_error("cannot reach the gateway supervisor");
  }
  // Patient: on a host whose CPU a login storm (or anything else) saturates,
  // the monitor answers late, not never; giving up early would deny logins
  // for a reason inside the gateway. A monitor that is gone is noticed at once
  // (end of file, below). Before login, though, give up shortly before the
  // login grace alarm ends the process (2 s, or a quarter of the time left
  // if that is less), so that the person is told why.
  Micros now = clock_.now();
  Micros deadline = now + 30 * kMicrosPerSecond;
  if (alarm_at_ > now) {
    Micros margin = std::min<Micros>(2 * kMicrosPerSecond, (alarm_at_ - now) / 4);
    deadline = std::min(deadline, alarm_at_ - margin);
  }
  while (clock_.now() < deadline) {
    pollfd p{params_.supervisor_fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    auto r = monitor::recv_message(params_.supervisor_fd, 0, passed != nullptr, monitor::kMaxAnswer);
    using Kind = monitor::Received::Kind;
    if (r.kind == Kind::kNothing) continue;
    if (r.kind != Kind::kMessage) {
      kill_reason_ = "gateway supervisor exited";
      return make_error("the gateway supervisor went away");
    }
    if (const auto* k = std::get_if<monitor::Kill>(&r.message)) {
      if (k->notice) continue;  // not logged in yet: nothing to show it on
      kill_reason_ = k->reason;
      return make_error("the session is being ended");
    }
    // Not an answer: a watch may begin while this process waits for one.
    if (const auto* w = std::get_if<monitor::Watch>(&r.message)) {
      on_watch(*w);
      continue;
    }
    if (passed != nullptr) *passed = std::move(r.fd);
    return std::move(r.message);
  }
  return make_error("the gateway supervisor did not answer");
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
  auto r = monitor::recv_message(params_.supervisor_fd, MSG_DONTWAIT, false, monitor::kMaxAnswer);
  using Kind = monitor::Received::Kind;
  if (r.kind == Kind::kNothing) return;
  // SECURITY: the supervisor is gone (crashed or killed), or says something
  // this process cannot read; nobody could end this session any more, so end it now.
  if (r.kind != Kind::kMessage) {
    kill_reason_ = "gateway supervisor exited";
    return;
  }
  if (const auto* k = std::get_if<monitor::Kill>(&r.message)) {
    if (k->notice) notice_ = k->reason;
    else kill_reason_ = k->reason;
  }
  if (const auto* w = std::get_if<monitor::Watch>(&r.message)) on_watch(*w);
}

void Connection::on_watch(const monitor::Watch& w) {
  watched_ = true;
  for (auto& p : pairs_) {
    if (p->rec) p->rec->set_flush_interval(monitor::kWatchFlushMicros);
  }
  if (!w.notice.empty()) notice_ = w.notice;
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

Status Connection::ensure_upstream() {
  if (upstream_) return {};
  if (upstream_error_) return *upstream_error_;
  UpstreamRequest req;
  req.target = &*target_;
  req.login = name_.login;
  req.person = person_->name;
  req.session_id = session_id_;
  req.allow_port_forwarding = decision_.allow_port_forwarding;
  req.connect_timeout = cfg_.connect_timeout;
  req.certificate_validity = cfg_.certificate_validity;
  auto up = Upstream::connect(
      req, [this](std::span<const uint8_t> s, const std::string& source) { return request_certificate(s, source); });
  if (!up) {
    upstream_error_ = up.error();
    audit("upstream.connect", Outcome::kError, up.error().message);
    return up.error();
  }
  upstream_ = std::move(*up);
  audit("upstream.connect", Outcome::kAllow, "certificate issued", {{"key_id", upstream_->certificate_key_id()}});
  ssh_event_add_session(event_.get(), upstream_->session());
  return {};
}

}  // namespace bastion::gateway
