#include "gateway/sshd/monitor_rules.h"

namespace bastion::gateway {
namespace {

using monitor::Type;

constexpr unsigned bit(ChildState s) { return static_cast<unsigned>(s); }

struct Rule {
  Type type;
  unsigned states;
  bool once;
};
constexpr unsigned kAnyState = bit(ChildState::kPreauth) | bit(ChildState::kStepUp) | bit(ChildState::kProxy) |
                               bit(ChildState::kCommand) | bit(ChildState::kRefused);
constexpr Rule kRules[] = {
    {Type::kKeyProbe, bit(ChildState::kPreauth), false},
    // Repeatable while refused attempts leave it pre-auth (bounded by max_auth_attempts).
    {Type::kAuthenticate, bit(ChildState::kPreauth), false},
    // A login's step-up, or (command mode) an approver's.
    {Type::kStepUpPoll, bit(ChildState::kStepUp) | bit(ChildState::kCommand), false},
    {Type::kCommand, bit(ChildState::kCommand), false},
    {Type::kSign, bit(ChildState::kProxy), true},
    {Type::kElevationChanged, bit(ChildState::kCommand), false},
    {Type::kAudit, bit(ChildState::kProxy) | bit(ChildState::kCommand), false},
    // The session's end and totals, once, whatever happened before.
    {Type::kSessionEnd, kAnyState, true},
    // Recordings of a proxy session's channels: files the monitor creates.
    {Type::kRecordingOpen, bit(ChildState::kProxy), false},
    {Type::kRecordingChunk, bit(ChildState::kProxy), false},
    {Type::kRecordingEnd, bit(ChildState::kProxy), false},
};

// Child-to-monitor types are below 32 (monitor_protocol.h), so each has a bit.
constexpr unsigned once_bit(Type t) { return 1u << static_cast<unsigned>(t); }
static_assert(static_cast<unsigned>(Type::kRecordingEnd) < 32 && static_cast<unsigned>(Type::kCommand) < 32);

}  // namespace

const char* state_name(ChildState s) {
  switch (s) {
    case ChildState::kPreauth: return "pre-auth";
    case ChildState::kStepUp: return "step-up";
    case ChildState::kKilled: return "killed";
    case ChildState::kProxy: return "authenticated";
    case ChildState::kCommand: return "command mode";
    case ChildState::kRefused: return "refused";
  }
  return "?";
}

std::optional<std::string> admit(Type type, ChildState state, AskedOnce& asked) {
  const Rule* rule = nullptr;
  for (const auto& candidate : kRules) {
    if (candidate.type == type) rule = &candidate;
  }
  if (rule == nullptr || (rule->states & bit(state)) == 0) {
    return std::string("unpermitted request ") + monitor::type_name(type) + " in state " + state_name(state);
  }
  if (rule->once) {
    if ((asked.bits & once_bit(type)) != 0) return std::string("repeated one-time request ") + monitor::type_name(type);
    asked.bits |= once_bit(type);
  }
  return std::nullopt;
}

}  // namespace bastion::gateway
