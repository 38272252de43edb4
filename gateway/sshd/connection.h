// Connection: everything that happens in one connection process, from key
// exchange to the last byte. Created in the child after fork().
//
// Lifecycle: key exchange -> publickey authentication (the key names the
// person; the user name names the destination) -> access decision (deny
// ends authentication with the reason in a banner) -> channels, relayed to
// one upstream connection per gateway session -> session end in the audit
// log. The supervisor may ask it to end at any time (control fd).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "authn/key_registry.h"
#include "authn/user_ca.h"
#include "gateway/sshd/channel_pair.h"
#include "gateway/sshd/command_mode.h"
#include "gateway/app/monitor_protocol.h"
#include "common/config.h"
#include "gateway/sshd/ssh_handles.h"
#include "gateway/sshd/upstream.h"
#include "policy/decision.h"
#include "policy/ingress_name.h"

namespace bastion::gateway {

// Sends an SSH auth banner (shown by OpenSSH before the next prompt or error).
void send_banner(ssh_session s, const std::string& text);

struct ConnectionParams {
  int client_fd = -1;
  int supervisor_fd = -1;  // SOCK_SEQPACKET to bastiond's supervisor
  std::string source;      // "ip:port"
  std::string session_id;  // assigned by the supervisor
  // [recording] encrypt_to, read by the supervisor: the reviewer's public
  // key, or why it could not be read (this process opens no files).
  std::vector<uint8_t> reviewer_key;
  std::string reviewer_key_error;
};

// A Connection is its recordings' journal: the monitor creates each file
// and hands over the open descriptor, and records digests and ends.
class Connection : private recorder::RecordingJournal {
 public:
  Connection(const Config& cfg, ssh_bind bind, ConnectionParams params);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs to completion; returns the process exit code.
  int run();

  // libssh callbacks (public for the C trampolines in the .cpp).
  int on_auth_pubkey(const char* user, ssh_key key, char signature_state);
  ssh_channel on_channel_open();
  int on_message(ssh_message msg);
  void on_supervisor_readable();
  ChannelPair* find_pair(ssh_channel ch);
  bool audit(const std::string& action, recorder::Outcome outcome, const std::string& reason,
             const nlohmann::json& details = nlohmann::json::object());
  [[nodiscard]] bool command_mode() const { return name_.command_mode; }
  [[nodiscard]] const std::vector<std::string>& env_allow() const;

 private:
  // Asks the monitor to authenticate the signed key for user name `user`;
  // OK: accepted (perhaps pending a step-up); an error: refused, with the reason.
  Status authenticate_signed(const std::string& user, const std::string& fingerprint, const std::string& key_type);
  // Takes what the monitor accepted: who, where, and under which decision.
  void apply_accepted(const monitor::Accepted& acc);
  // Step-up (connection_step_up.cpp): the keyboard-interactive exchange for
  // the step-up the monitor started; the wait for its verdict; command
  // mode's own step-up for approvals.
  int on_kbdint(ssh_message msg);
  // OK once the monitor says the step-up was verified; else why not.
  Status wait_for_step_up();
  // Command mode: the monitor runs `line` (see run_remote_command in connection_step_up.cpp).
  CommandResult run_remote_command(ChannelPair& p, const std::string& line);
  // The monitor (the supervisor) decides; this process only asks. Sends
  // `request` and waits up to 10 s for the answer (a Kill meanwhile ends the wait).
  // A descriptor the answer carries is put in `passed`.
  Result<monitor::Message> ask_monitor(const monitor::Message& request, UniqueFd* passed = nullptr);
  // recorder::RecordingJournal, through the monitor.
  Result<Opened> begin(int channel, recorder::RecordingFormat format) override;
  Result<Opened> begin_index(int channel) override;
  Result<Opened> open_file(const monitor::RecordingOpen& ask);
  Status chunk(int channel, const recorder::CastChunk& c) override;
  Status end(int channel, const recorder::CastSummary& s) override;
  void service_channels();
  void start_pair(ChannelPair& p);
  void start_command_pair(ChannelPair& p);
  void service_command_pair(ChannelPair& p);
  void finish_pair(ChannelPair& p);
  // OK when the channel is recorded, or need not be (recording off, or a
  // best-effort target, audited); an error refuses the channel.
  Status start_recording(ChannelPair& p);
  void finish_recording(ChannelPair& p);
  bool check_recording(ChannelPair& p);
  void audit_file_events(ChannelPair& p, const std::vector<recorder::FileEvent>& events);
  bool check_sftp(ChannelPair& p);
  // The three parts of run(): the SSH handshake (false: logged, end);
  // authentication, with the monitor deciding (false: not authenticated);
  // relaying channels until the session ends (returns why it ended).
  bool handshake();
  bool authenticate();
  std::string relay();
  // A channel that cannot start: tells the client why ("bastion: MESSAGE"),
  // exit status 255, and closes it. The caller has audited the reason.
  void refuse_channel(ChannelPair& p, const std::string& message);
  // Connects upstream once; a failure is remembered and given to every later channel.
  Status ensure_upstream();
  Result<SignedCertificate> request_certificate(std::span<const uint8_t> subject, const std::string& source_address);
  void reap_pairs();
  // Ends every channel with `message` to the client, after the session's
  // end (`end_reason`) is on record.
  void terminate(const std::string& message, const std::string& end_reason);
  void end_session(const std::string& reason);

  const Config& cfg_;
  const Clock& clock_ = SystemClock::instance();
  ssh_bind bind_;
  ConnectionParams params_;
  ssh_server_callbacks_struct server_cb_{};  // libssh points to it while session_ lives
  SshSession session_;
  SshEvent event_;
  std::optional<Upstream> upstream_;
  std::optional<Error> upstream_error_;  // why the upstream connection failed, once it has
  std::vector<std::unique_ptr<ChannelPair>> pairs_;

  // Who and where, once authenticated.
  bool authenticated_ = false;
  // When the pending alarm() (login grace, step-up wait) ends this process; 0: none.
  Micros alarm_at_ = 0;
  bool accepted_ = false;  // the monitor accepted a key (authenticated_, or a step-up is offered)
  bool closing_ = false;
  int signed_attempts_ = 0;
  bool told_unavailable_ = false;  // the banner saying the database is unavailable went out
  std::string session_id_;
  std::string fingerprint_;
  std::string user_name_;  // the SSH user name the key signed for
  policy::IngressName name_;
  std::optional<policy::Person> person_;
  std::optional<policy::Target> target_;
  policy::Decision decision_;
  std::optional<policy::Elevation> grant_;  // the grant this session runs under, if any
  std::optional<std::string> kill_reason_;
  std::optional<std::string> notice_;  // to show on the interactive channels (a drain), then forget
  bool watched_ = false;               // someone watches in the web console: recordings flush every 40 ms
  void on_watch(const monitor::Watch& w);
  std::optional<int> last_exit_status_;
  bool session_end_sent_ = false;
  uint64_t bytes_in_ = 0, bytes_out_ = 0;
  std::optional<std::string> step_up_url_;  // set while a step-up is offered
  Micros step_up_timeout_ = 0;
  bool step_up_done_ = false;
  int next_channel_ = 0;
  nlohmann::json recordings_ = nlohmann::json::array();
};

}  // namespace bastion::gateway
