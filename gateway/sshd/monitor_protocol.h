// The monitor protocol: the typed messages between a connection process and
// the supervisor (the monitor), over a SOCK_SEQPACKET pair, one message per
// packet. Like OpenSSH's monitor_wrap: the child asks, the monitor decides.
//
// Encoding: one type byte, then the fields in SSH wire encoding (strings are
// u32-length-prefixed, booleans one byte, times u64). decode() is a parser of
// hostile input (the child may be compromised): it accepts only a known type,
// exactly its fields with each string within its limit, and no trailing
// bytes; anything else is an error, which the monitor treats as a protocol
// violation (audited, child killed). Plain values; no I/O except send/recv.
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
  kAuthFailed = 1,
  kAuthenticate = 2,
  kSign = 3,
  kElevationChanged = 4,
  // monitor -> child
  kAccepted = 64,
  kRefused = 65,
  kCertificate = 66,
  kKill = 67,
};

// A login attempt failed. With a fingerprint: an enrolled key was refused
// (counts against the key); without: no enrolled key at all.
struct AuthFailed {
  std::string fingerprint;
};

// "The key with this fingerprint signed for user name USER_NAME; I believe it
// belongs to PERSON and may reach LOGIN@TARGET." The monitor re-derives all of
// it from its database and answers Accepted or Refused.
struct Authenticate {
  std::string session_id;
  std::string fingerprint;
  std::string user_name;  // the SSH user name as sent (login@target, or the person's name)
  bool command_mode = false;
  // The child's claim; the monitor's own derivation must agree.
  std::string person, target, login, grant_id;
  bool port_forwarding = false;
};

// Certify `subject` (an SSH public key blob) for the authenticated session;
// `source_address` is the local address the upstream connection was made from.
struct Sign {
  std::vector<uint8_t> subject;
  std::string source_address;
};

// Command mode changed elevations: the monitor sweeps live grants now.
struct ElevationChanged {};

// The monitor's answer to Authenticate: what it derived itself.
struct Accepted {
  std::string person;
  bool port_forwarding = false;
  Micros grant_ends_at = 0;  // 0: not under a grant
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

using Message = std::variant<AuthFailed, Authenticate, Sign, ElevationChanged, Accepted, Refused, Certificate, Kill>;

// Largest encoded message either side sends or accepts.
inline constexpr size_t kMaxMessage = 16 * 1024;

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
