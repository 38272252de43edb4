// The WebAuthn step-up inside an SSH login (see DESIGN.md, "The libssh
// limit"): after publickey succeeds, when policy wants a fresher step-up than
// the person has, the login continues with keyboard-interactive. Its
// instruction text carries a one-time URL; the person approves it in a
// browser with their security key (touch + PIN, verified by the gateway's web
// process with libfido2), and the login goes on without anything typed.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>

#include "gateway/sshd/connection.h"

namespace bastion::gateway {

using recorder::Outcome;

int Connection::on_kbdint(ssh_message msg) {
  if (!step_up_url_ || step_up_done_) return 1;  // default: failure, listing what is left
  if (!ssh_message_auth_kbdint_is_response(msg)) {
    unsigned secs = static_cast<unsigned>(step_up_timeout_ / kMicrosPerSecond);
    std::string instruction = "Confirm with your security key (touch and PIN): open\n\n    " + *step_up_url_ +
                              "\n\nwithin " + std::to_string(secs) + " seconds. This login continues by itself.";
    // SECURITY: the login grace timer would cut the wait short; the step-up
    // has its own deadline (step_up_timeout), which the monitor enforces.
    alarm(secs + 30);
    ssh_message_auth_interactive_request(msg, "bastion: security-key step-up", instruction.c_str(), 0, nullptr,
                                         nullptr);
    return 0;
  }
  step_up_done_ = true;
  std::string reason;
  if (!wait_for_step_up(reason)) {
    send_banner(session_.get(), "bastion: denied: " + reason + "\n");
    closing_ = true;
    ssh_message_reply_default(msg);
    return 0;
  }
  authenticated_ = true;
  ssh_message_auth_reply_success(msg, 0);
  return 0;
}

bool Connection::wait_for_step_up(std::string& reason) {
  // The monitor checks the step-up, the deadline, and whether the person
  // may still log in; its verified answer means the session has begun.
  for (;;) {
    auto answer = ask_monitor(monitor::StepUpPoll{});
    if (!answer) {
      reason = kill_reason_ ? *kill_reason_ : "internal error (" + answer.error().message + ")";
      return false;
    }
    const auto* r = std::get_if<monitor::StepUpResult>(&*answer);
    if (r == nullptr) {
      reason = "internal error (unexpected answer from the gateway supervisor)";
      return false;
    }
    if (r->state == monitor::StepUpResult::kVerified) return true;
    if (r->state == monitor::StepUpResult::kFailed) {
      reason = r->reason;
      return false;
    }
    ::poll(nullptr, 0, 250);
  }
}

bool Connection::wait_for_command_step_up(const std::string& code, std::string& reason) {
  Micros deadline = services_.clock().now() + services_.config().step_up_timeout;
  while (services_.clock().now() < deadline) {
    pollfd p{params_.supervisor_fd, POLLIN, 0};
    int rc = params_.supervisor_fd >= 0 ? ::poll(&p, 1, 250) : ::poll(nullptr, 0, 250);
    if (rc > 0) on_supervisor_readable();
    if (kill_reason_) {
      reason = *kill_reason_;
      return false;
    }
    auto s = services_.mfa().find_step_up(code);
    if (!s) continue;  // a busy database: try again until the deadline
    if (s->state == "verified") {
      // SECURITY: the person may have left or been disabled while we waited.
      auto person = services_.policy().find_person(person_->name);
      if (!person || !*person || (*person)->state != policy::PersonState::kActive) {
        reason = "account " + person_->name + " is no longer active";
        return false;
      }
      return true;
    }
    if (s->state == "failed") {
      reason = "step-up failed: " + s->reason;
      return false;
    }
  }
  (void)services_.mfa().finish_step_up(code, false, "timed out", "");
  reason = "no security-key step-up within " + format_duration(services_.config().step_up_timeout);
  return false;
}

Status Connection::command_step_up(ChannelPair& p, const std::string& purpose) {
  Micros now = services_.clock().now();
  auto last = services_.mfa().last_step_up(person_->name);
  if (!last) return make_error("internal error (step-up state unavailable)");
  if (*last && **last <= now && now - **last <= kApproverStepUpMaxAge) return {};
  const std::string& base = services_.config().public_url;
  if (base.empty()) return make_error("this needs a security-key step-up, but the gateway has no web endpoint");
  auto creds = services_.mfa().credentials(person_->name);
  bool any = false;
  if (creds) {
    for (const auto& c : *creds) any = any || c.state == "active";
  }
  if (!any) {
    return make_error("this needs a security-key step-up, but you have no registered WebAuthn credential "
                      "(ask an administrator: bastionctl user invite " + person_->name + ")");
  }
  auto code = services_.mfa().create_step_up(person_->name, session_id_, "command: " + purpose,
                                             services_.config().step_up_timeout);
  if (!code) return make_error("internal error (cannot start a step-up)");
  unsigned secs = static_cast<unsigned>(services_.config().step_up_timeout / kMicrosPerSecond);
  std::string text = "This needs a fresh security-key step-up (touch and PIN). Open\r\n\r\n    " + base + "/mfa/" +
                     *code + "\r\n\r\nwithin " + std::to_string(secs) + " seconds; waiting...\r\n";
  ssh_channel_write_stderr(p.in, text.data(), static_cast<uint32_t>(text.size()));
  ssh_blocking_flush(session_.get(), 5000);
  audit("auth.step_up", Outcome::kAllow, "step-up started", {{"purpose", purpose}});
  std::string reason;
  if (!wait_for_command_step_up(*code, reason)) {
    audit("auth.step_up", Outcome::kDeny, reason, {{"purpose", purpose}});
    return make_error(reason);
  }
  audit("auth.step_up", Outcome::kAllow, "step-up verified", {{"purpose", purpose}});
  return {};
}

}  // namespace bastion::gateway
