// The monitor protocol: the typed messages between the supervisor (the
// monitor) and whoever asks it, over SOCK_SEQPACKET sockets, one message per
// packet: a connection process (its channel), the web process (the web
// channel) and bastionctl (the control socket). Like OpenSSH's monitor_wrap:
// the others ask, the monitor decides. Each channel accepts only its own
// requests; the others' are violations.
//
// Encoding: one type byte, then the fields in SSH wire encoding (strings are
// u32-length-prefixed, booleans one byte, integers u32 or u64, times u64).
// decode() is a parser of hostile input (the child may be compromised): it
// accepts only a known type, exactly its fields with each string within its
// limit, and no trailing bytes; anything else is an error, which the monitor
// treats as a protocol violation (audited, child killed). Plain values; no
// I/O except send/recv.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace bastion::gateway::monitor {

enum class Type : uint8_t {
  // child -> monitor
  kKeyProbe = 1,
  kAuthenticate = 2,
  kSign = 3,
  kElevationChanged = 4,
  kStepUpPoll = 5,
  kAudit = 6,
  kSessionEnd = 7,
  kRecordingOpen = 8,
  kRecordingChunk = 9,
  kRecordingEnd = 10,
  kCommand = 11,
  // web process -> monitor
  kWebCall = 12,
  // bastionctl -> monitor (the control socket)
  kControl = 13,
  // monitor -> child
  kAccepted = 64,
  kRefused = 65,
  kCertificate = 66,
  kKill = 67,
  kKeyKnown = 68,
  kStepUpResult = 69,
  kRecordingOpened = 70,
  kCommandOutput = 71,
  kAck = 72,
  // monitor -> web process
  kWebAnswer = 73,
  // monitor -> bastionctl
  kControlDone = 74,
  // monitor -> child
  kWatch = 75,
};

// "A client offers this public key (not yet signed): is it enrolled?" The
// monitor answers KeyKnown, and audits and counts an unknown key itself.
struct KeyProbe {
  std::string fingerprint;
  std::string key_type;
};

// "The key with this fingerprint signed for user name USER_NAME." The child
// claims nothing else: the monitor derives the person from the key and the
// decision from its own database, and answers Accepted or Refused (a refusal
// is a failed attempt; the client may try another key).
struct Authenticate {
  std::string fingerprint;
  std::string key_type;
  std::string user_name;  // the SSH user name as sent (login@target, or the person's name)
};

// Certify `subject` (an SSH public key blob) for the authenticated session;
// `source_address` is the local address the upstream connection was made from.
struct Sign {
  std::vector<uint8_t> subject;
  std::string source_address;
};

// Command mode changed elevations: the monitor sweeps live grants now.
struct ElevationChanged {};

// While a step-up is offered: "has the person confirmed it?" Answered with
// StepUpResult; the monitor enforces the deadline.
struct StepUpPoll {};

// An audit record about this session. The monitor fills in who, where and
// which session from its own state; the child gives only what happened, and
// only for actions a relay reports (channels, forwards, files, commands).
struct Audit {
  std::string action;
  std::string outcome;  // allow, deny, error, info
  std::string reason;
  std::string details;  // a JSON object
};

// The session is over: its totals (the monitor writes the session row's end).
struct SessionEnd {
  std::string reason;
  uint64_t bytes_in = 0, bytes_out = 0;
  bool has_exit_status = false;
  uint32_t exit_status = 0;
  std::string recordings;  // a JSON array of the session's recordings
};

// "Channel CHANNEL of my session is to be recorded." The monitor creates the
// file (under the recording folder, named by the session it assigned), adds
// its row and its recording.start record, and answers RecordingOpened with
// the file's descriptor attached (append-only), or Refused. `stream`: the
// channel has no terminal, so it is recorded byte-exact (a .stream file whose
// final digest is over its chunk digests) rather than as asciicast.
// `index`: instead, the command index file of terminal channel CHANNEL,
// whose recording the monitor opened before (SESSION-CHANNEL.cmdidx); the
// monitor hashes it itself at the recording's end.
struct RecordingOpen {
  uint32_t channel = 0;
  bool stream = false;
  bool index = false;
};

// The SHA-256 of the next bytes of a recording the monitor opened: offset
// must be where the previous chunk ended.
struct RecordingChunk {
  uint32_t channel = 0;
  uint64_t offset = 0, length = 0;
  std::string sha256;  // hex
};

// The recording is complete: its size and SHA-256.
struct RecordingEnd {
  uint32_t channel = 0;
  uint64_t size = 0;
  std::string sha256;  // hex
};

// Command mode: one command line, run by the monitor as the session's person
// (the elevation workflow needs the database). Answered with CommandOutput.
struct Command {
  std::string line;
};

// The monitor's answer to Authenticate: what it derived itself, and what the
// child needs to serve the session. With a step-up URL, the session begins
// only once StepUpPoll answers verified.
struct Accepted {
  std::string person;
  bool command_mode = false;
  // Not in command mode: the destination and the decision.
  std::string target, host, host_key, recording, principals, login;
  uint32_t port = 0;
  std::string role, grant_id, request_id;
  bool break_glass = false;
  bool port_forwarding = false;
  Micros grant_ends_at = 0;  // 0: not under a grant
  std::string step_up_url;   // non-empty: the step-up to offer first
  Micros step_up_timeout = 0;
};

struct Refused {
  std::string reason;
};

struct Certificate {
  std::vector<uint8_t> blob;
  std::string key_id;
};

// End the session now (grant ended, leaver, sessions kill, shutdown).
struct Kill {
  std::string reason;
  // Only tell the person (a drain: the gateway goes down soon); the session
  // carries on. Shown on the session's interactive (pty) channels.
  bool notice = false;
};

// Someone watches this session live in the web console: from now on the
// child writes its recordings at the watch interval (kWatchFlushMicros), so
// the watcher sees what happens within a fraction of a second, and shows
// `notice`, if any, on the session's interactive channels.
struct Watch {
  std::string notice;
};
inline constexpr Micros kWatchFlushMicros = 40 * 1000;

struct KeyKnown {
  bool known = false;
  // Not known because the monitor could not look (its database is
  // unavailable): the client is told so, rather than a bare refusal.
  bool unavailable = false;
};

// Comes with the recording file's descriptor (SCM_RIGHTS).
struct RecordingOpened {
  std::string path;
};

// A command's output, or (step_up_url set) "a step-up first": the child
// shows the URL, waits with StepUpPoll, and sends the command again.
struct CommandOutput {
  std::string output;  // lines end with "\n"; at most kMaxCommandOutput bytes
  uint32_t exit_code = 0;
  bool quit = false;
  std::string step_up_url;
  Micros step_up_timeout = 0;
};

// "Done" (the session's end is recorded).
struct Ack {};

// The web process's one request (gateway/app/web_backend.h, one call per
// op): the monitor runs it against its database and answers WebAnswer. The
// web process parses HTTP and TLS; the monitor checks every value again.
struct WebCall {
  enum Op : uint32_t {
    kInviteInfo = 1,
    kInviteOptions = 2,
    kInviteRegister = 3,
    kStepUpInfo = 4,
    kStepUpOptions = 5,
    kStepUpAssert = 6,
    kHealth = 7,   // GET /healthz on [web] metrics_listen (no key, no body)
    kMetrics = 8,  // GET /metrics: the answer's body is {"text": "..."} (Prometheus exposition)
    // The web console (gateway/app/console_web.h): key = the console op
    // ("requests", "action-assert", ...), body = the console call (JSON).
    kConsole = 9,
    // SCIM provisioning (gateway/app/scim_service.h): key "scim", body
    // {"method","path","query":{...},"token","if_match","body","source"}.
    kScim = 10,
  };
  uint32_t op = 0;
  std::string key;   // the invitation token or the step-up code from the URL; kConsole: the console op
  std::string body;  // kInviteRegister, kStepUpAssert: the browser's credential (JSON); kConsole: the call; else empty
};

// HTTP status and JSON body (WebReply).
struct WebAnswer {
  uint32_t status = 0;
  std::string body;
};

// bastionctl, after it changed the database, asks the running daemon to act
// on live sessions now (the control socket: mode 0600, and the monitor checks
// that the peer is root or its own uid). Answered with ControlDone.
struct Control {
  enum Op : uint32_t {
    kSweep = 1,    // elevations changed: end sessions whose grant is gone
    kEndUser = 2,  // subject = a person who left or was disabled: end their sessions with `reason`
    kEndKey = 3,   // subject = a revoked key's fingerprint: end the sessions it opened with `reason`
    kRecheck = 4,  // subject = a person whose access changed: re-decide their live sessions
    kKill = 5,     // subject = a session id: end it with `reason`; answered once it has ended
    // subject = "start" (refuse new logins, tell live sessions `reason`),
    // "status", "end" (end the live sessions now) or "cancel"; count = live sessions
    kDrain = 6,
    // subject = "reload" (load [ca] user_ca_key again: after `ca rotate
    // --promote`) or "status"; ok: `error` is the fingerprint bastiond signs with
    kUserCa = 7,
    // subject = "reload": load [audit] signing_key again (after `audit
    // rotate-key`); ok: `error` is the key's public line
    kAuditKey = 8,
  };
  uint32_t op = 0;
  std::string subject;
  std::string reason;
};

struct ControlDone {
  bool ok = false;
  std::string error;   // !ok: one line for the administrator; kKill ok with count 0: the node that ends it;
                       // kUserCa ok: the user CA key's fingerprint
  uint32_t count = 0;  // kEndUser, kEndKey: sessions ended
};

struct StepUpResult {
  enum State : uint32_t { kPending = 0, kVerified = 1, kFailed = 2 };
  uint32_t state = kPending;
  std::string reason;  // kFailed: why
};

using Message =
    std::variant<KeyProbe, Authenticate, Sign, ElevationChanged, StepUpPoll, Audit, SessionEnd, RecordingOpen,
                 RecordingChunk, RecordingEnd, Command, Accepted, Refused, Certificate, Kill, KeyKnown, StepUpResult,
                 RecordingOpened, CommandOutput, Ack, WebCall, WebAnswer, Control, ControlDone, Watch>;

// Largest encoded message a child may send (the monitor reads no more), and
// the largest JSON field in one (audit details, a session's recordings).
inline constexpr size_t kMaxMessage = 16 * 1024;
inline constexpr size_t kMaxJson = 12 * 1024;
// Answers may be larger: a command's output.
inline constexpr size_t kMaxCommandOutput = 64 * 1024;
inline constexpr size_t kMaxAnswer = kMaxCommandOutput + 4 * 1024;
// The web channel: a credential with its attestation certificates, and the
// JSON the monitor answers with.
inline constexpr size_t kMaxWebBody = 48 * 1024;
inline constexpr size_t kMaxWebMessage = kMaxWebBody + 2 * 1024;

Type type_of(const Message& m);
const char* type_name(Type t);
std::vector<uint8_t> encode(const Message& m);
Result<Message> decode(std::span<const uint8_t> bytes);

// One message per packet. send_message does not block on a full socket with
// MSG_DONTWAIT in `flags`; `pass_fd` (>= 0) goes with it as SCM_RIGHTS.
Status send_message(int fd, const Message& m, int flags = 0, int pass_fd = -1);

struct Received {
  enum class Kind { kMessage, kNothing, kClosed, kMalformed };
  Kind kind = Kind::kNothing;
  Message message;
  std::string error;  // kMalformed: why
  UniqueFd fd;        // a descriptor that came with it (only with accept_fd)
};
// kNothing: no packet waiting (MSG_DONTWAIT) or interrupted; kClosed: the
// peer is gone; kMalformed: a packet too large or that does not decode.
// Without accept_fd (the monitor's side) any descriptor a peer attaches is
// never installed: the kernel discards it.
// A packet larger than `max` (the monitor: kMaxMessage; a child: kMaxAnswer) is kMalformed.
Received recv_message(int fd, int flags = 0, bool accept_fd = false, size_t max = kMaxMessage);

}  // namespace bastion::gateway::monitor
