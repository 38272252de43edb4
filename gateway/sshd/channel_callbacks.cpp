#include "gateway/sshd/channel_callbacks.h"

#include <fnmatch.h>

#include "gateway/sshd/connection.h"

namespace bastion::gateway {
namespace {

using recorder::Outcome;

ChannelPair* P(void* ud) { return static_cast<ChannelPair*>(ud); }

int on_pty(ssh_session, ssh_channel, const char* term, int w, int h, int, int, void* ud) {
  auto* p = P(ud);
  if (p->state.started()) return -1;
  p->pty = true;
  p->term = term ? term : "xterm";
  p->cols = w;
  p->rows = h;
  return 0;
}

int set_action(ChannelPair* p, ChannelAction a, const std::string& cmd) {
  if (p->action != ChannelAction::kNone) return -1;  // one action per channel
  p->action = a;
  p->command = cmd;
  return 0;
}

int on_shell(ssh_session, ssh_channel, void* ud) { return set_action(P(ud), ChannelAction::kShell, ""); }

int on_exec(ssh_session, ssh_channel, const char* command, void* ud) {
  return set_action(P(ud), ChannelAction::kExec, command ? command : "");
}

int on_subsystem(ssh_session, ssh_channel, const char* name, void* ud) {
  auto* p = P(ud);
  std::string n = name ? name : "";
  if (n != "sftp" || p->conn->command_mode()) {
    p->conn->audit("channel.subsystem", Outcome::kDeny, "unknown subsystem", {{"subsystem", n.substr(0, 64)}});
    return -1;
  }
  return set_action(p, ChannelAction::kSubsystem, n);
}

int on_env(ssh_session, ssh_channel, const char* name, const char* value, void* ud) {
  auto* p = P(ud);
  if (name == nullptr || value == nullptr || p->state.started()) return -1;
  for (const auto& pat : p->conn->env_allow()) {
    if (fnmatch(pat.c_str(), name, 0) == 0) {
      p->env.emplace_back(name, value);
      return 0;
    }
  }
  return -1;
}

int on_window_change(ssh_session, ssh_channel, int w, int h, int, int, void* ud) {
  P(ud)->pending_resize = std::make_pair(w, h);
  return 0;
}

void on_signal(ssh_session, ssh_channel, const char* sig, void* ud) {
  if (sig != nullptr && P(ud)->pending_signals.size() < 16) P(ud)->pending_signals.emplace_back(sig);
}

void on_in_eof(ssh_session, ssh_channel, void* ud) { P(ud)->state.from_client.on_eof(); }
void on_in_close(ssh_session, ssh_channel, void* ud) { P(ud)->state.from_client.on_close(); }

void on_agent(ssh_session, ssh_channel, void* ud) {
  P(ud)->conn->audit("agent", Outcome::kDeny, "agent forwarding is not allowed");
}

void on_x11(ssh_session, ssh_channel, int, const char*, const char*, uint32_t, void* ud) {
  P(ud)->conn->audit("x11", Outcome::kDeny, "X11 forwarding is not allowed");
}

void on_up_exit_status(ssh_session, ssh_channel, int status, void* ud) { P(ud)->exit_status = status; }

void on_up_exit_signal(ssh_session, ssh_channel, const char* sig, int core, const char* msg, const char*, void* ud) {
  P(ud)->exit_signal = ExitSignal{sig ? sig : "", core != 0, msg ? msg : ""};
}

void on_up_eof(ssh_session, ssh_channel, void* ud) { P(ud)->state.from_target.on_eof(); }
void on_up_close(ssh_session, ssh_channel, void* ud) { P(ud)->state.from_target.on_close(); }

}  // namespace

void install_ingress_callbacks(ChannelPair& p) {
  p.in_cb = {};
  p.in_cb.userdata = &p;
  p.in_cb.channel_pty_request_function = on_pty;
  p.in_cb.channel_shell_request_function = on_shell;
  p.in_cb.channel_exec_request_function = on_exec;
  p.in_cb.channel_subsystem_request_function = on_subsystem;
  p.in_cb.channel_env_request_function = on_env;
  p.in_cb.channel_pty_window_change_function = on_window_change;
  p.in_cb.channel_signal_function = on_signal;
  p.in_cb.channel_eof_function = on_in_eof;
  p.in_cb.channel_close_function = on_in_close;
  p.in_cb.channel_auth_agent_req_function = on_agent;
  p.in_cb.channel_x11_req_function = on_x11;
  ssh_callbacks_init(&p.in_cb);
  ssh_set_channel_callbacks(p.in, &p.in_cb);
}

void install_upstream_callbacks(ChannelPair& p) {
  p.up_cb = {};
  p.up_cb.userdata = &p;
  p.up_cb.channel_exit_status_function = on_up_exit_status;
  p.up_cb.channel_exit_signal_function = on_up_exit_signal;
  p.up_cb.channel_eof_function = on_up_eof;
  p.up_cb.channel_close_function = on_up_close;
  ssh_callbacks_init(&p.up_cb);
  ssh_set_channel_callbacks(p.up, &p.up_cb);
}

}  // namespace bastion::gateway
