// Connection: the event loop, channel start-up and teardown.
#include <poll.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>

#include "gateway/sshd/channel_callbacks.h"
#include "gateway/app/daemon_log.h"
#include "gateway/sshd/command_mode.h"
#include "gateway/sshd/connection.h"

namespace bastion::gateway {
namespace {

using recorder::Outcome;

constexpr int kPollMs = 200;
constexpr int kWatchedPollMs = static_cast<int>(monitor::kWatchFlushMicros / 1000 / 2);

int auth_pubkey_tramp(ssh_session, const char* user, ssh_key_struct* key, char state, void* ud) {
  return static_cast<Connection*>(ud)->on_auth_pubkey(user, key, state);
}
ssh_channel channel_open_tramp(ssh_session, void* ud) { return static_cast<Connection*>(ud)->on_channel_open(); }
int message_tramp(ssh_session, ssh_message msg, void* ud) { return static_cast<Connection*>(ud)->on_message(msg); }
int supervisor_tramp(socket_t, int, void* ud) {
  static_cast<Connection*>(ud)->on_supervisor_readable();
  return 0;
}

bool session_alive(ssh_session s) {
  return ssh_is_connected(s) && (ssh_get_status(s) & (SSH_CLOSED | SSH_CLOSED_ERROR)) == 0;
}

const char* action_name(ChannelAction a) {
  switch (a) {
    case ChannelAction::kShell: return "channel.shell";
    case ChannelAction::kExec: return "channel.exec";
    case ChannelAction::kSubsystem: return "channel.subsystem";
    case ChannelAction::kForward: return "forward.local";
    case ChannelAction::kNone: break;
  }
  return "channel";
}

}  // namespace

int Connection::run() {
  // SECURITY: bound the time an unauthenticated peer may hold a process.
  unsigned grace = static_cast<unsigned>(cfg_.login_grace_time / kMicrosPerSecond);
  alarm(grace > 0 ? grace : 1);
  alarm_at_ = clock_.now() + static_cast<Micros>(grace > 0 ? grace : 1) * kMicrosPerSecond;
  if (!handshake()) return 1;
  if (!authenticate()) {
    if (authenticated_) end_session("login aborted: the audit log is unavailable");
    ssh_disconnect(session_.get());
    return 1;
  }
  alarm(0);
  alarm_at_ = 0;
  ssh_set_blocking(session_.get(), 0);
  end_session(relay());
  return 0;
}

bool Connection::handshake() {
  session_.reset(ssh_new());
  if (!session_ || ssh_bind_accept_fd(bind_, session_.get(), params_.client_fd) != SSH_OK) {
    daemon_log(params_.source + ": accept failed");
    return false;
  }
  // No compression: it buys little on interactive links and has a history of
  // side channels and decompression bugs (ssh-audit flags it).
  ssh_options_set(session_.get(), SSH_OPTIONS_COMPRESSION_C_S, "none");
  ssh_options_set(session_.get(), SSH_OPTIONS_COMPRESSION_S_C, "none");
  // libssh keeps a pointer to the callbacks: they live as long as this object.
  server_cb_ = {};
  server_cb_.userdata = this;
  server_cb_.auth_pubkey_function = auth_pubkey_tramp;
  server_cb_.channel_open_request_session_function = channel_open_tramp;
  ssh_callbacks_init(&server_cb_);
  ssh_set_server_callbacks(session_.get(), &server_cb_);
  ssh_set_auth_methods(session_.get(), SSH_AUTH_METHOD_PUBLICKEY);
  ssh_set_message_callback(session_.get(), message_tramp, this);
  if (ssh_handle_key_exchange(session_.get()) != SSH_OK) {
    daemon_log(params_.source + ": key exchange failed: " + ssh_get_error(session_.get()));
    return false;
  }
  event_.reset(ssh_event_new());
  ssh_event_add_session(event_.get(), session_.get());
  if (params_.supervisor_fd >= 0) {
    ssh_event_add_fd(event_.get(), params_.supervisor_fd, POLLIN, supervisor_tramp, this);
  }
  return true;
}

bool Connection::authenticate() {
  // The callbacks (auth_pubkey, the monitor's answers) move us on.
  while (!authenticated_ && !closing_ && !kill_reason_ && session_alive(session_.get())) {
    if (ssh_event_dopoll(event_.get(), kPollMs) == SSH_ERROR) break;
  }
  return authenticated_ && !closing_;
}

std::string Connection::relay() {
  for (;;) {
    // Watched: wake often enough that what was buffered reaches the file
    // (and the watcher) within the watch interval.
    int rc = ssh_event_dopoll(event_.get(), watched_ ? kWatchedPollMs : kPollMs);
    // SECURITY: a session under a grant ends when the grant does, by this
    // process's own clock (the supervisor handles revocations).
    if (grant_ && !kill_reason_ && clock_.now() >= grant_->ends_at) {
      kill_reason_ = policy::grant_end_message(*grant_, clock_.now());
    }
    if (kill_reason_) {
      std::string why = *kill_reason_;
      terminate(why, why);
      return why;
    }
    if (notice_) {
      for (auto& p : pairs_) {
        if (p->pty && p->in != nullptr && p->state.running()) tell_client(p->in, "\r\nbastion: " + *notice_ + "\r\n");
      }
      notice_.reset();
    }
    if (closing_) {
      terminate("the gateway could not record this session", "audit failure");
      return "audit failure";
    }
    service_channels();
    if (rc == SSH_ERROR || !session_alive(session_.get())) return "client disconnected";
    if (upstream_ && !session_alive(upstream_->session())) {
      for (auto& p : pairs_) {
        if (!p->state.finished()) finish_pair(*p);
      }
      terminate("the target closed the connection", "target closed the connection");
      return "target closed the connection";
    }
  }
}

void Connection::service_channels() {
  for (size_t i = 0; i < pairs_.size(); ++i) {
    ChannelPair& p = *pairs_[i];
    if (!p.state.started() && p.action != ChannelAction::kNone) {
      if (command_mode()) start_command_pair(p);
      else start_pair(p);
    }
    if (!p.state.running()) {
      if (p.state.abandoned_by_client()) {
        p.state.finish();
        ssh_channel_close(p.in);
      }
      continue;
    }
    if (command_mode()) {
      service_command_pair(p);
      continue;
    }
    if (p.pending_resize && p.up) {
      ssh_channel_change_pty_size(p.up, p.pending_resize->first, p.pending_resize->second);
      if (p.rec) (void)p.rec->resize(p.pending_resize->first, p.pending_resize->second);
      p.pending_resize.reset();
    }
    for (const auto& s : p.pending_signals) ssh_channel_request_send_signal(p.up, s.c_str());
    p.pending_signals.clear();
    uint64_t before_in = p.bytes_in, before_out = p.bytes_out;
    pump(p);
    if (!check_recording(p)) return;
    if (!check_sftp(p)) continue;
    bytes_in_ += p.bytes_in - before_in;
    bytes_out_ += p.bytes_out - before_out;
    if (p.state.from_client.needs_eof_forwarded() && ssh_channel_poll(p.in, 0) <= 0) {
      ssh_channel_send_eof(p.up);
      p.state.from_client.eof_forwarded();
    }
    // Half-close: the target said EOF and everything before it reached the client.
    if (p.state.from_target.needs_eof_forwarded() && upstream_drained(p)) {
      ssh_channel_send_eof(p.in);
      p.state.from_target.eof_forwarded();
    }
    // Exit status arrives between EOF and CLOSE, so only CLOSE finishes.
    if (p.state.ends_when_drained() && upstream_drained(p)) finish_pair(p);
    if (p.state.abandoned_by_client()) {
      p.state.finish();
      ssh_channel_close(p.up);
      ssh_channel_close(p.in);
    }
  }
  reap_pairs();
}

void Connection::start_pair(ChannelPair& p) {
  p.state.start();
  nlohmann::json d = {{"pty", p.pty}};
  if (p.action == ChannelAction::kExec) d["command"] = p.command;
  if (p.action == ChannelAction::kSubsystem) d["subsystem"] = p.command;
  if (p.action == ChannelAction::kForward) {
    d["destination"] = p.forward_host + ":" + std::to_string(p.forward_port);
  }
  // SFTP and scp are audited per file; with sftp_content their bytes are recorded too.
  bool recorded = p.action == ChannelAction::kShell || p.action == ChannelAction::kExec ||
                  (p.action == ChannelAction::kSubsystem && cfg_.sftp_content);
  // SECURITY: record first; a session that cannot be recorded does not reach
  // the target (unless the target is explicitly best-effort).
  if (auto st = recorded ? start_recording(p) : Status{}; !st) {
    audit(action_name(p.action), Outcome::kDeny, "cannot record the session: " + st.message(), d);
    return refuse_channel(p, "session refused: it cannot be recorded (" + st.message() + ")");
  }
  if (auto st = ensure_upstream(); !st) {
    finish_recording(p);
    return refuse_channel(p, st.message());
  }
  ssh_session up = upstream_->session();
  ssh_set_blocking(up, 1);
  p.up = ssh_channel_new(up);
  int rc = SSH_ERROR;
  if (p.up != nullptr) {
    if (p.action == ChannelAction::kForward) {
      rc = ssh_channel_open_forward(p.up, p.forward_host.c_str(), p.forward_port, p.origin_host.c_str(), p.origin_port);
    } else {
      rc = ssh_channel_open_session(p.up);
    }
  }
  if (rc == SSH_OK && p.action != ChannelAction::kForward) {
    install_upstream_callbacks(p);
    if (p.pty) rc = ssh_channel_request_pty_size(p.up, p.term.c_str(), p.cols, p.rows);
    for (const auto& [k, v] : p.env) ssh_channel_request_env(p.up, k.c_str(), v.c_str());
    if (rc == SSH_OK) {
      if (p.action == ChannelAction::kShell) rc = ssh_channel_request_shell(p.up);
      else if (p.action == ChannelAction::kExec) rc = ssh_channel_request_exec(p.up, p.command.c_str());
      else rc = ssh_channel_request_subsystem(p.up, p.command.c_str());
    }
  } else if (rc == SSH_OK) {
    install_upstream_callbacks(p);
  }
  ssh_set_blocking(up, 0);
  if (rc != SSH_OK) {
    finish_recording(p);
    std::string why = std::string("target refused the request: ") + ssh_get_error(up);
    audit(action_name(p.action), Outcome::kError, why, d);
    return refuse_channel(p, why);
  }
  if (p.action != ChannelAction::kForward) audit(action_name(p.action), Outcome::kAllow, "", d);
  if (p.action == ChannelAction::kSubsystem) p.sftp = std::make_unique<recorder::SftpAuditor>();
  p.state.run();
}

void Connection::refuse_channel(ChannelPair& p, const std::string& message) {
  tell_client(p.in, "bastion: " + message + "\r\n");
  p.exit_status = 255;
  p.state.finish();
  if (p.action != ChannelAction::kForward) {
    ssh_channel_request_send_exit_status(p.in, 255);
    last_exit_status_ = 255;
  }
  ssh_channel_send_eof(p.in);
  ssh_channel_close(p.in);
}

void Connection::finish_pair(ChannelPair& p) {
  p.state.finish();
  finish_recording(p);
  if (p.sftp) {
    audit_file_events(p, p.sftp->take_events());
    audit_file_events(p, p.sftp->close_all("channel ended without CLOSE"));
  }
  if (p.exit_status) {
    ssh_channel_request_send_exit_status(p.in, *p.exit_status);
    last_exit_status_ = *p.exit_status;
  } else if (p.exit_signal) {
    ssh_channel_request_send_exit_signal(p.in, p.exit_signal->signal.c_str(), p.exit_signal->core,
                                         p.exit_signal->message.c_str(), "");
  }
  ssh_channel_close(p.in);  // sends EOF first if not yet sent
  if (p.up) ssh_channel_close(p.up);
  nlohmann::json d = {{"bytes_in", p.bytes_in}, {"bytes_out", p.bytes_out}};
  if (p.exit_status) d["exit_status"] = *p.exit_status;
  if (p.exit_signal) d["exit_signal"] = p.exit_signal->signal;
  if (p.recorded) d["recording"] = {{"size", p.recorded->size}, {"sha256", p.recorded->sha256}};
  audit("channel.end", Outcome::kInfo, "", d);
}

void Connection::reap_pairs() {
  for (auto it = pairs_.begin(); it != pairs_.end();) {
    ChannelPair& p = **it;
    bool in_done = p.in == nullptr || ssh_channel_is_closed(p.in);
    if (p.state.finished() && in_done) {
      // Freeing is safe in any state: libssh finishes the close handshake.
      // The callbacks point into this pair, so detach them first.
      if (p.up) {
        ssh_remove_channel_callbacks(p.up, &p.up_cb);
        ssh_channel_free(p.up);
      }
      ssh_remove_channel_callbacks(p.in, &p.in_cb);
      ssh_channel_free(p.in);
      it = pairs_.erase(it);
    } else {
      ++it;
    }
  }
}

void Connection::terminate(const std::string& message, const std::string& end_reason) {
  ssh_set_blocking(session_.get(), 1);
  for (auto& p : pairs_) finish_recording(*p);
  // On record before the client hears of it.
  end_session(end_reason);
  for (auto& p : pairs_) {
    if (p->state.finished() || p->in == nullptr) continue;
    tell_client(p->in, "\r\nbastion: session ended: " + message + "\r\n");
    if (p->action != ChannelAction::kForward) ssh_channel_request_send_exit_status(p->in, 255);
    ssh_channel_send_eof(p->in);
    ssh_channel_close(p->in);
    p->state.finish();
  }
  ssh_blocking_flush(session_.get(), 2000);
  ssh_disconnect(session_.get());
}

void Connection::end_session(const std::string& reason) {
  // The monitor ends the session row and writes session.end; it ends the
  // row itself if this process dies first.
  if (params_.supervisor_fd < 0 || session_end_sent_) return;
  session_end_sent_ = true;
  monitor::SessionEnd e;
  e.reason = reason.substr(0, 1000);
  e.bytes_in = bytes_in_;
  e.bytes_out = bytes_out_;
  e.has_exit_status = last_exit_status_.has_value();
  e.exit_status = static_cast<uint32_t>(last_exit_status_.value_or(0));
  constexpr auto kReplace = nlohmann::json::error_handler_t::replace;
  e.recordings = recordings_.dump(-1, ' ', false, kReplace);
  if (e.recordings.size() > monitor::kMaxJson) {
    // Very many channels: the first ones, and how many more (each has its own recording.end record).
    nlohmann::json some = nlohmann::json::array();
    for (const auto& r : recordings_) {
      if (some.dump(-1, ' ', false, kReplace).size() + r.dump(-1, ' ', false, kReplace).size() + 64 >
          monitor::kMaxJson) {
        break;
      }
      some.push_back(r);
    }
    some.push_back({{"more", recordings_.size() - some.size()}});
    e.recordings = some.dump(-1, ' ', false, kReplace);
  }
  // Waits for the monitor's acknowledgement (up to 10 s).
  if (auto answer = ask_monitor(e); !answer) {
    daemon_log("cannot report the end of " + session_id_ + ": " + answer.error().message);
  }
}

void Connection::start_command_pair(ChannelPair& p) {
  p.state.start();
  p.state.run();
  if (p.action == ChannelAction::kExec) {
    audit("command", Outcome::kAllow, "", {{"command", p.command.substr(0, 256)}});
    CommandResult r = run_remote_command(p, p.command);
    if (!r.output.empty()) {
      if (r.exit_code == 0) ssh_channel_write(p.in, r.output.data(), static_cast<uint32_t>(r.output.size()));
      else tell_client(p.in, r.output);
    }
    p.exit_status = r.exit_code;
    finish_pair(p);
    return;
  }
  std::string hello = "bastion command mode for " + person_->name + " (type `help`)\r\nbastion> ";
  ssh_channel_write(p.in, hello.data(), static_cast<uint32_t>(hello.size()));
}

void Connection::service_command_pair(ChannelPair& p) {
  if (p.state.finished()) return;
  char buf[512];
  int n = ssh_channel_read_nonblocking(p.in, buf, sizeof buf, 0);
  for (int i = 0; i < n; ++i) {
    char c = buf[i];
    std::string echo;
    if (c == '\r' || c == '\n') {
      echo = "\r\n";
      ssh_channel_write(p.in, echo.data(), 2);
      CommandResult r = run_remote_command(p, p.line);
      p.line.clear();
      std::string out;
      for (char o : r.output) out += (o == '\n') ? std::string("\r\n") : std::string(1, o);
      if (r.quit) {
        p.exit_status = 0;
        finish_pair(p);
        return;
      }
      out += "bastion> ";
      ssh_channel_write(p.in, out.data(), static_cast<uint32_t>(out.size()));
    } else if (c == 0x7f || c == 0x08) {
      if (!p.line.empty()) {
        p.line.pop_back();
        ssh_channel_write(p.in, "\b \b", 3);
      }
    } else if (c == 0x04 || c == 0x03) {  // ^D, ^C
      p.exit_status = 0;
      finish_pair(p);
      return;
    } else if (static_cast<unsigned char>(c) >= 0x20 && p.line.size() < 2048) {
      p.line += c;
      if (p.pty) ssh_channel_write(p.in, &c, 1);
    }
  }
  if (p.state.from_client.ended()) {
    p.exit_status = 0;
    finish_pair(p);
  }
}

Status Connection::start_recording(ChannelPair& p) {
  const Config& cfg = cfg_;
  if (target_ && target_->recording == "off") {
    audit("recording", Outcome::kInfo, "not recorded: recording is off for target " + target_->name);
    return {};
  }
  bool best_effort = target_ && target_->recording == "best-effort";
  // A subsystem's client bytes are not keystrokes but the files uploaded: always recorded.
  bool input = cfg.record_input || p.action == ChannelAction::kSubsystem;
  recorder::RecordingSettings rs{
      input, watched_ ? monitor::kWatchFlushMicros : cfg.flush_interval, cfg.digest_interval, {}, cfg.compress};
  if (!cfg.encrypt_to.empty()) {
    if (params_.reviewer_key.empty()) {
      if (!best_effort) return make_error(params_.reviewer_key_error);
      audit("recording", Outcome::kError, "not recorded (target is best-effort): " + params_.reviewer_key_error);
      return {};
    }
    rs.encrypt_to = params_.reviewer_key;
  }
  recorder::ChannelHeader ch{p.pty, params_.session_id, {}};
  recorder::CastHeader& h = ch.cast;
  h.width = p.pty ? p.cols : 80;
  h.height = p.pty ? p.rows : 24;
  h.started_at = clock_.now();
  h.term = p.term;
  h.title = person_->name + ": " + name_.login + "@" + name_.target;
  if (p.action == ChannelAction::kExec) h.command = p.command;
  if (p.action == ChannelAction::kSubsystem) h.command = ch.subsystem = p.command;
  p.number = ++next_channel_;
  auto r = recorder::ChannelRecording::start(*this, clock_, rs, p.number, ch);
  if (r) {
    p.rec = std::move(*r);
    return {};
  }
  if (!best_effort) return r.error();
  audit("recording", Outcome::kError, "not recorded (target is best-effort): " + r.error().message);
  return {};
}

Result<recorder::RecordingJournal::Opened> Connection::begin(int channel, recorder::RecordingFormat format) {
  return open_file(
      monitor::RecordingOpen{static_cast<uint32_t>(channel), format == recorder::RecordingFormat::kStream, false});
}

Result<recorder::RecordingJournal::Opened> Connection::begin_index(int channel) {
  return open_file(monitor::RecordingOpen{static_cast<uint32_t>(channel), false, true});
}

Result<recorder::RecordingJournal::Opened> Connection::open_file(const monitor::RecordingOpen& ask) {
  UniqueFd file;
  auto answer = ask_monitor(ask, &file);
  if (!answer) return answer.error();
  if (const auto* r = std::get_if<monitor::Refused>(&*answer)) return make_error(r->reason);
  const auto* o = std::get_if<monitor::RecordingOpened>(&*answer);
  if (o == nullptr || !file) return make_error("unexpected answer from the gateway supervisor");
  return Opened{std::move(file), o->path};
}

Status Connection::chunk(int channel, const recorder::CastChunk& c) {
  monitor::RecordingChunk m{static_cast<uint32_t>(channel), static_cast<uint64_t>(c.offset),
                            static_cast<uint64_t>(c.length), c.sha256};
  return monitor::send_message(params_.supervisor_fd, m);
}

Status Connection::end(int channel, const recorder::CastSummary& s) {
  monitor::RecordingEnd m{static_cast<uint32_t>(channel), static_cast<uint64_t>(s.size), s.sha256};
  return monitor::send_message(params_.supervisor_fd, m);
}

bool Connection::check_recording(ChannelPair& p) {
  if (!p.rec) return true;
  if (p.rec->tick().is_ok()) return true;
  std::string why = p.rec->status().message();
  if (target_ && target_->recording == "best-effort") {
    audit("recording", Outcome::kError, "recording stopped (target is best-effort): " + why);
    finish_recording(p);
    return true;
  }
  audit("recording", Outcome::kError, "session ended: " + why);
  kill_reason_ = "the session can no longer be recorded (" + why + ")";
  return false;
}

void Connection::finish_recording(ChannelPair& p) {
  if (!p.rec) return;
  auto s = p.rec->finish();
  nlohmann::json r = {{"channel", p.number}, {"path", p.rec->path()}};
  if (s) {
    p.recorded = *s;
    r["size"] = s->size;
    r["sha256"] = s->sha256;
  } else {
    r["error"] = s.error().message;
  }
  recordings_.push_back(r);
  p.rec.reset();
}

void Connection::audit_file_events(ChannelPair& p, const std::vector<recorder::FileEvent>& events) {
  for (const auto& e : events) {
    nlohmann::json d = {{"path", e.path}, {"status", e.status}, {"channel", p.number}};
    if (!e.path2.empty()) d["path2"] = e.path2;
    if (!e.mode.empty()) d["mode"] = e.mode;
    if (!e.flags.empty()) d["flags"] = e.flags;
    if (!e.detail.empty()) d["detail"] = e.detail;
    if (!e.extension.empty()) d["extension"] = e.extension;
    if (e.action == "close") {
      d["bytes_read"] = e.bytes_read;
      d["bytes_written"] = e.bytes_written;
      d["direction"] = e.bytes_written > 0 && e.bytes_read > 0 ? "both"
                       : e.bytes_written > 0                   ? "upload"
                       : e.bytes_read > 0                      ? "download"
                                                               : "none";
    }
    Outcome outcome = e.refused ? Outcome::kDeny : e.ok ? Outcome::kAllow : Outcome::kError;
    audit("file." + e.action, outcome, e.ok ? "" : e.status, d);
  }
}

bool Connection::check_sftp(ChannelPair& p) {
  if (!p.sftp) return true;
  audit_file_events(p, p.sftp->take_events());
  if (p.sftp_error.empty()) return true;
  // SECURITY: a stream we cannot parse is a stream we cannot audit: end it.
  audit("channel.subsystem", Outcome::kError, p.sftp_error + "; channel ended");
  tell_client(p.in, "bastion: file transfer ended: " + p.sftp_error + "\r\n");
  audit_file_events(p, p.sftp->close_all("channel ended: " + p.sftp_error));
  p.sftp.reset();
  p.state.finish();
  ssh_channel_close(p.up);
  ssh_channel_close(p.in);
  return false;
}

}  // namespace bastion::gateway
