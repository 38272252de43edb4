#include "gateway/app/monitor_protocol.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>
#include <type_traits>

#include "common/ssh_wire.h"

namespace bastion::gateway::monitor {
namespace {

// Field limits: names and ids are short; a key blob or certificate a few KiB.
constexpr size_t kMaxText = 1024;
constexpr size_t kMaxBlob = 8 * 1024;

class Fields {
 public:
  explicit Fields(std::span<const uint8_t> data) : r_(data) {}

  void text(std::string& out, size_t limit = kMaxText) {
    if (!ok_) return;
    auto s = r_.string();
    if (!s || s->size() > limit) return fail();
    out.assign(s->begin(), s->end());
  }
  void blob(std::vector<uint8_t>& out) {
    if (!ok_) return;
    auto s = r_.string();
    if (!s || s->size() > kMaxBlob) return fail();
    out.assign(s->begin(), s->end());
  }
  void flag(bool& out) {
    if (!ok_) return;
    auto v = r_.u8();
    if (!v || *v > 1) return fail();
    out = *v == 1;
  }
  void number(uint32_t& out) {
    if (!ok_) return;
    auto v = r_.u32();
    if (!v) return fail();
    out = *v;
  }
  void number(uint64_t& out) {
    if (!ok_) return;
    auto v = r_.u64();
    if (!v) return fail();
    out = *v;
  }
  void time(Micros& out) {
    if (!ok_) return;
    auto v = r_.u64();
    if (!v || *v > static_cast<uint64_t>(INT64_MAX)) return fail();
    out = static_cast<Micros>(*v);
  }
  [[nodiscard]] bool done() const { return ok_ && r_.at_end(); }

 private:
  void fail() { ok_ = false; }
  WireReader r_;
  bool ok_ = true;
};

void put(WireWriter& w, const std::string& s) { w.string(std::string_view(s)); }
void put(WireWriter& w, const std::vector<uint8_t>& b) { w.string(std::span<const uint8_t>(b)); }
void put(WireWriter& w, bool b) { w.u8(b ? 1 : 0); }
void put(WireWriter& w, Micros t) { w.u64(static_cast<uint64_t>(t)); }
void put(WireWriter& w, uint32_t v) { w.u32(v); }
void put(WireWriter& w, uint64_t v) { w.u64(v); }

// A JSON-valued text field: same encoding, a larger limit.
struct Json {
  std::string& text;
};
void put(WireWriter& w, const Json& j) { w.string(std::string_view(j.text)); }
// A command's output: same encoding, the largest limit.
struct Output {
  std::string& text;
};
void put(WireWriter& w, const Output& o) { w.string(std::string_view(o.text)); }

// Each message lists its fields once; encode and decode both walk the list.
template <class W>
void fields(W& w, KeyProbe& m) {
  w(m.fingerprint), w(m.key_type);
}
template <class W>
void fields(W& w, Authenticate& m) {
  w(m.fingerprint), w(m.key_type), w(m.user_name);
}
template <class W>
void fields(W& w, Sign& m) {
  w(m.subject), w(m.source_address);
}
template <class W>
void fields(W&, ElevationChanged&) {}
template <class W>
void fields(W&, StepUpPoll&) {}
template <class W>
void fields(W& w, Audit& m) {
  w(m.action), w(m.outcome), w(m.reason), w(Json{m.details});
}
template <class W>
void fields(W& w, SessionEnd& m) {
  w(m.reason), w(m.bytes_in), w(m.bytes_out), w(m.has_exit_status), w(m.exit_status), w(Json{m.recordings});
}
template <class W>
void fields(W& w, RecordingOpen& m) {
  w(m.channel), w(m.stream), w(m.index);
}
template <class W>
void fields(W& w, RecordingChunk& m) {
  w(m.channel), w(m.offset), w(m.length), w(m.sha256);
}
template <class W>
void fields(W& w, RecordingEnd& m) {
  w(m.channel), w(m.size), w(m.sha256);
}
template <class W>
void fields(W& w, RecordingOpened& m) {
  w(m.path);
}
template <class W>
void fields(W& w, Watch& m) {
  w(m.notice);
}
template <class W>
void fields(W& w, Command& m) {
  w(m.line);
}
template <class W>
void fields(W& w, CommandOutput& m) {
  w(Output{m.output}), w(m.exit_code), w(m.quit), w(m.step_up_url), w(m.step_up_timeout);
}
template <class W>
void fields(W&, Ack&) {}
// A web call's or answer's JSON: same encoding, the web channel's limit.
struct WebBody {
  std::string& text;
};
void put(WireWriter& w, const WebBody& b) { w.string(std::string_view(b.text)); }
template <class W>
void fields(W& w, WebCall& m) {
  w(m.op), w(m.key), w(WebBody{m.body});
}
template <class W>
void fields(W& w, WebAnswer& m) {
  w(m.status), w(WebBody{m.body});
}
template <class W>
void fields(W& w, Control& m) {
  w(m.op), w(m.subject), w(m.reason);
}
template <class W>
void fields(W& w, ControlDone& m) {
  w(m.ok), w(m.error), w(m.count);
}
template <class W>
void fields(W& w, Accepted& m) {
  w(m.person), w(m.command_mode), w(m.target), w(m.host), w(m.host_key), w(m.recording), w(m.principals), w(m.login),
      w(m.port), w(m.role), w(m.grant_id), w(m.request_id), w(m.break_glass), w(m.port_forwarding), w(m.grant_ends_at),
      w(m.step_up_url), w(m.step_up_timeout);
}
template <class W>
void fields(W& w, Refused& m) {
  w(m.reason);
}
template <class W>
void fields(W& w, Certificate& m) {
  w(m.blob), w(m.key_id);
}
template <class W>
void fields(W& w, Kill& m) {
  w(m.reason), w(m.notice);
}
template <class W>
void fields(W& w, KeyKnown& m) {
  w(m.known), w(m.unavailable);
}
template <class W>
void fields(W& w, StepUpResult& m) {
  w(m.state), w(m.reason);
}

template <class T>
Result<Message> decode_as(std::span<const uint8_t> body) {
  T m;
  Fields f(body);
  auto read = [&f](auto&& field) {
    using F = std::decay_t<decltype(field)>;
    if constexpr (std::is_same_v<F, std::string>) f.text(field);
    else if constexpr (std::is_same_v<F, Json>) f.text(field.text, kMaxJson);
    else if constexpr (std::is_same_v<F, Output>) f.text(field.text, kMaxCommandOutput);
    else if constexpr (std::is_same_v<F, WebBody>) f.text(field.text, kMaxWebBody);
    else if constexpr (std::is_same_v<F, uint32_t> || std::is_same_v<F, uint64_t>) f.number(field);
    else if constexpr (std::is_same_v<F, std::vector<uint8_t>>) f.blob(field);
    else if constexpr (std::is_same_v<F, bool>) f.flag(field);
    else f.time(field);
  };
  fields(read, m);
  if (!f.done()) return make_error(std::string("malformed monitor message: bad ") + type_name(type_of(Message{T{}})));
  return Message{std::move(m)};
}

}  // namespace

Type type_of(const Message& m) {
  static constexpr Type kTypes[] = {
      Type::kKeyProbe,       Type::kAuthenticate,    Type::kSign,          Type::kElevationChanged,
      Type::kStepUpPoll,     Type::kAudit,           Type::kSessionEnd,    Type::kRecordingOpen,
      Type::kRecordingChunk, Type::kRecordingEnd,    Type::kCommand,       Type::kAccepted,
      Type::kRefused,        Type::kCertificate,     Type::kKill,          Type::kKeyKnown,
      Type::kStepUpResult,   Type::kRecordingOpened, Type::kCommandOutput, Type::kAck,
      Type::kWebCall,        Type::kWebAnswer,       Type::kControl,       Type::kControlDone,
      Type::kWatch};
  static_assert(std::size(kTypes) == std::variant_size_v<Message>);
  return kTypes[m.index()];
}

const char* type_name(Type t) {
  switch (t) {
    case Type::kKeyProbe: return "key-probe";
    case Type::kAuthenticate: return "authenticate";
    case Type::kSign: return "sign";
    case Type::kElevationChanged: return "elevation-changed";
    case Type::kStepUpPoll: return "step-up-poll";
    case Type::kAudit: return "audit";
    case Type::kSessionEnd: return "session-end";
    case Type::kRecordingOpen: return "recording-open";
    case Type::kRecordingChunk: return "recording-chunk";
    case Type::kRecordingEnd: return "recording-end";
    case Type::kRecordingOpened: return "recording-opened";
    case Type::kCommand: return "command";
    case Type::kCommandOutput: return "command-output";
    case Type::kAck: return "ack";
    case Type::kAccepted: return "accepted";
    case Type::kRefused: return "refused";
    case Type::kCertificate: return "certificate";
    case Type::kKill: return "kill";
    case Type::kKeyKnown: return "key-known";
    case Type::kStepUpResult: return "step-up-result";
    case Type::kWebCall: return "web-call";
    case Type::kWebAnswer: return "web-answer";
    case Type::kControl: return "control";
    case Type::kControlDone: return "control-done";
    case Type::kWatch: return "watch";
  }
  return "unknown";
}

std::vector<uint8_t> encode(const Message& m) {
  WireWriter w;
  w.u8(static_cast<uint8_t>(type_of(m)));
  std::visit(
      [&w](auto msg) {
        auto write = [&w](const auto& field) { put(w, field); };
        fields(write, msg);
      },
      m);
  return w.bytes();
}

Result<Message> decode(std::span<const uint8_t> bytes) {
  if (bytes.empty() || bytes.size() > kMaxAnswer) return make_error("malformed monitor message: bad size");
  auto body = bytes.subspan(1);
  switch (static_cast<Type>(bytes[0])) {
    case Type::kKeyProbe: return decode_as<KeyProbe>(body);
    case Type::kAuthenticate: return decode_as<Authenticate>(body);
    case Type::kSign: return decode_as<Sign>(body);
    case Type::kElevationChanged: return decode_as<ElevationChanged>(body);
    case Type::kStepUpPoll: return decode_as<StepUpPoll>(body);
    case Type::kAudit: return decode_as<Audit>(body);
    case Type::kSessionEnd: return decode_as<SessionEnd>(body);
    case Type::kRecordingOpen: return decode_as<RecordingOpen>(body);
    case Type::kRecordingChunk: return decode_as<RecordingChunk>(body);
    case Type::kRecordingEnd: return decode_as<RecordingEnd>(body);
    case Type::kRecordingOpened: return decode_as<RecordingOpened>(body);
    case Type::kCommand: return decode_as<Command>(body);
    case Type::kCommandOutput: return decode_as<CommandOutput>(body);
    case Type::kAck: return decode_as<Ack>(body);
    case Type::kAccepted: return decode_as<Accepted>(body);
    case Type::kRefused: return decode_as<Refused>(body);
    case Type::kCertificate: return decode_as<Certificate>(body);
    case Type::kKill: return decode_as<Kill>(body);
    case Type::kKeyKnown: return decode_as<KeyKnown>(body);
    case Type::kStepUpResult: return decode_as<StepUpResult>(body);
    case Type::kWebCall: return decode_as<WebCall>(body);
    case Type::kWebAnswer: return decode_as<WebAnswer>(body);
    case Type::kControl: return decode_as<Control>(body);
    case Type::kControlDone: return decode_as<ControlDone>(body);
    case Type::kWatch: return decode_as<Watch>(body);
  }
  return make_error("malformed monitor message: unknown type " + std::to_string(bytes[0]));
}

Status send_message(int fd, const Message& m, int flags, int pass_fd) {
  auto bytes = encode(m);
  if (bytes.size() > kMaxAnswer) return make_error("monitor message too large");
  iovec iov{bytes.data(), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (pass_fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
  }
  if (::sendmsg(fd, &msg, MSG_NOSIGNAL | flags) != static_cast<ssize_t>(bytes.size())) {
    return make_error(std::string("cannot send to the monitor channel: ") + std::strerror(errno));
  }
  return {};
}

Received recv_message(int fd, int flags, bool accept_fd, size_t max) {
  Received r;
  std::vector<uint8_t> buf(max + 1);
  iovec iov{buf.data(), buf.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (accept_fd) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
  }
  ssize_t n = ::recvmsg(fd, &msg, flags | MSG_TRUNC | MSG_CMSG_CLOEXEC);
  if (n < 0) {
    r.kind = (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? Received::Kind::kNothing
                                                                         : Received::Kind::kClosed;
    return r;
  }
  if (accept_fd) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int))) {
        int passed = -1;
        std::memcpy(&passed, CMSG_DATA(c), sizeof(int));
        r.fd.reset(passed);
      }
    }
  }
  if (n == 0) {
    r.kind = Received::Kind::kClosed;
    return r;
  }
  if (static_cast<size_t>(n) > max) {
    r.kind = Received::Kind::kMalformed;
    r.error = "monitor message of " + std::to_string(n) + " bytes is too large";
    return r;
  }
  auto m = decode(std::span<const uint8_t>(buf.data(), static_cast<size_t>(n)));
  if (!m) {
    r.kind = Received::Kind::kMalformed;
    r.error = m.error().message;
    return r;
  }
  r.kind = Received::Kind::kMessage;
  r.message = std::move(*m);
  return r;
}

}  // namespace bastion::gateway::monitor
