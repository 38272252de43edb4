// The monitor protocol: the typed messages between a connection process and
// the supervisor (the monitor), over a SOCK_SEQPACKET pair, one message per
// packet. Like OpenSSH's monitor_wrap: the child asks, the monitor decides.
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
  // monitor -> child
  kAccepted = 64,
  kRefused = 65,
  kCertificate = 66,
  kKill = 67,
  kKeyKnown = 68,
  kStepUpResult = 69,
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
};

struct KeyKnown {
  bool known = false;
};

struct StepUpResult {
  enum State : uint32_t { kPending = 0, kVerified = 1, kFailed = 2 };
  uint32_t state = kPending;
  std::string reason;  // kFailed: why
};

using Message = std::variant<KeyProbe, Authenticate, Sign, ElevationChanged, StepUpPoll, Audit, SessionEnd, Accepted,
                             Refused, Certificate, Kill, KeyKnown, StepUpResult>;

// Largest encoded message either side sends or accepts, and the largest
// JSON field in one (audit details, a session's recordings).
inline constexpr size_t kMaxMessage = 16 * 1024;
inline constexpr size_t kMaxJson = 12 * 1024;

Type type_of(const Message& m);
const char* type_name(Type t);
std::vector<uint8_t> encode(const Message& m);
Result<Message> decode(std::span<const uint8_t> bytes);

// One message per packet. send_message does not block on a full socket with
// MSG_DONTWAIT in `flags`.
Status send_message(int fd, const Message& m, int flags = 0);

struct Received {
  enum class Kind { kMessage, kNothing, kClosed, kMalformed };
  Kind kind = Kind::kNothing;
  Message message;
  std::string error;  // kMalformed: why
};
// kNothing: no packet waiting (MSG_DONTWAIT) or interrupted; kClosed: the
// peer is gone; kMalformed: a packet too large or that does not decode.
Received recv_message(int fd, int flags = 0);

}  // namespace bastion::gateway::monitor
