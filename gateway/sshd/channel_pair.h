// ChannelPair: one client channel at the ingress and, for proxied sessions,
// its twin on the upstream connection. Requests from the client are recorded
// by libssh callbacks and acted on by the connection's loop (never inside a
// callback), so no blocking call ever runs re-entrantly inside libssh.
//
// Flow control: data moves only as far as the receiving side's SSH window
// allows; unread data stays in the sender's libssh buffer, whose window is
// then not re-opened. Memory per connection is bounded by the windows.
#pragma once

#include <libssh/callbacks.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gateway/sshd/channel_state.h"
#include "gateway/sshd/ssh_handles.h"
#include "recorder/channel_recording.h"
#include "recorder/sftp_audit.h"

namespace bastion::gateway {

class Connection;

enum class ChannelAction { kNone, kShell, kExec, kSubsystem, kForward };

struct ExitSignal {
  std::string signal;
  bool core = false;
  std::string message;
};

struct ChannelPair {
  explicit ChannelPair(Connection* c) : conn(c) {}
  ChannelPair(const ChannelPair&) = delete;
  ChannelPair& operator=(const ChannelPair&) = delete;

  Connection* conn;
  ssh_channel in = nullptr;  // owned by the ingress session
  ssh_channel up = nullptr;  // owned by the upstream session
  ssh_channel_callbacks_struct in_cb{};
  ssh_channel_callbacks_struct up_cb{};

  // What the client asked for.
  bool pty = false;
  std::string term = "xterm";
  int cols = 80, rows = 24;
  std::vector<std::pair<std::string, std::string>> env;
  ChannelAction action = ChannelAction::kNone;
  std::string command;  // exec command, or subsystem name
  std::string forward_host, origin_host;
  int forward_port = 0, origin_port = 0;

  // Progress: the stage, each direction's half-close, and what the target ended with.
  ChannelState state;
  std::optional<int> exit_status;
  std::optional<ExitSignal> exit_signal;
  std::optional<std::pair<int, int>> pending_resize;
  std::vector<std::string> pending_signals;
  uint64_t bytes_in = 0;   // client -> target
  uint64_t bytes_out = 0;  // target -> client

  // Command mode: the line being typed.
  std::string line;

  // Recording of this channel (shell and exec), if any.
  int number = 0;
  std::unique_ptr<recorder::ChannelRecording> rec;
  std::optional<recorder::CastSummary> recorded;

  // File-transfer auditing of the sftp subsystem (sftp and scp).
  std::unique_ptr<recorder::SftpAuditor> sftp;
  std::string sftp_error;  // set when the auditor ends the channel (malformed, violation, refused)
};

// Moves what the windows allow in both directions; returns bytes moved.
uint64_t pump(ChannelPair& p);
// True when no upstream bytes wait to be forwarded to the client.
bool upstream_drained(const ChannelPair& p);
// Writes text to the client's stderr, best effort.
void tell_client(ssh_channel in, const std::string& text);

}  // namespace bastion::gateway
