// The WebAuthn step-up inside an SSH login (see DESIGN.md, "The libssh
// limit"): after publickey succeeds, when policy wants a fresher step-up than
// the person has, the login continues with keyboard-interactive. Its
// instruction text carries a one-time URL; the person approves it in a
// browser with their security key (touch + PIN, verified by the gateway's web
// process with libfido2), and the login goes on without anything typed.
// The monitor starts the step-up, keeps its deadline and checks the result;
// this process shows the URL and asks.
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
    alarm_at_ = clock_.now() + static_cast<Micros>(secs + 30) * kMicrosPerSecond;
    ssh_message_auth_interactive_request(msg, "bastion: security-key step-up", instruction.c_str(), 0, nullptr,
                                         nullptr);
    return 0;
  }
  step_up_done_ = true;
  if (auto st = wait_for_step_up(); !st) {
    send_banner(session_.get(), "bastion: denied: " + st.message() + "\n");
    closing_ = true;
    ssh_message_reply_default(msg);
    return 0;
  }
  authenticated_ = true;
  ssh_message_auth_reply_success(msg, 0);
  return 0;
}

Status Connection::wait_for_step_up() {
  // The monitor checks the step-up, the deadline, and whether the person
  // may still log in; its verified answer means the session has begun.
  for (;;) {
    auto answer = ask_monitor(monitor::StepUpPoll{});
    if (!answer) return make_error(kill_reason_ ? *kill_reason_ : "internal error (" + answer.error().message + ")");
    const auto* r = std::get_if<monitor::StepUpResult>(&*answer);
    if (r == nullptr) return make_error("internal error (unexpected answer from the gateway supervisor)");
    if (r->state == monitor::StepUpResult::kVerified) return {};
    if (r->state == monitor::StepUpResult::kFailed) return make_error(r->reason);
    ::poll(nullptr, 0, 250);
  }
}

CommandResult Connection::run_remote_command(ChannelPair& p, const std::string& line) {
  // Command mode runs in the monitor, as the person it derived; this process
  // relays the line and the output. An approval may need a step-up first:
  // show its URL, wait, and send the command again.
  for (int round = 0; round < 2; ++round) {
    auto answer = ask_monitor(monitor::Command{line.substr(0, 4096)});
    if (!answer) return {"internal error (" + answer.error().message + ")\n", 1, true};
    const auto* out = std::get_if<monitor::CommandOutput>(&*answer);
    if (out == nullptr) return {"internal error (unexpected answer from the gateway supervisor)\n", 1, true};
    if (out->step_up_url.empty()) return {out->output, static_cast<int>(out->exit_code), out->quit};
    if (round == 1) break;
    unsigned secs = static_cast<unsigned>(out->step_up_timeout / kMicrosPerSecond);
    std::string text = "This needs a fresh security-key step-up (touch and PIN). Open\r\n\r\n    " + out->step_up_url +
                       "\r\n\r\nwithin " + std::to_string(secs) + " seconds; waiting...\r\n";
    ssh_channel_write_stderr(p.in, text.data(), static_cast<uint32_t>(text.size()));
    ssh_blocking_flush(session_.get(), 5000);
    if (auto st = wait_for_step_up(); !st) return {st.message() + "\n", 1, false};
  }
  return {"the step-up did not take effect; try again\n", 1, false};
}

}  // namespace bastion::gateway
