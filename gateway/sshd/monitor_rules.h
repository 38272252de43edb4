// The monitor's dispatch table (like OpenSSH's mon_dispatch): what a
// connection process may ask in each state of its life, and what only once.
//
// Contract: admit() is a pure function of the request type, the child's
// state and the one-time requests it already made; it needs no socket, no
// process and no database (monitor_rules_test.cpp drives it). A refusal is a
// protocol violation: the monitor kills the child and audits the reason.
#pragma once

#include <optional>
#include <string>

#include "gateway/app/monitor_protocol.h"

namespace bastion::gateway {

// Where a connection process is in its life, for the dispatch table: what it
// may ask depends on it.
enum class ChildState : unsigned {
  kPreauth = 1,  // may probe keys and ask to authenticate (max_auth_attempts times)
  kProxy = 2,    // a session for LOGIN@TARGET: may ask for one certificate, report channel events
  kCommand = 4,  // authenticated in command mode: may report elevation changes and events
  kRefused = 8,  // refused (a failed step-up, a refused certificate): may only end
  kStepUp = 16,  // accepted pending a step-up: may ask whether it is done
  kKilled = 32,  // broke the protocol: SIGKILLed; nothing it sent is read any more
};

const char* state_name(ChildState s);

// The one-time requests a child has made (a bit per request type).
struct AskedOnce {
  unsigned bits = 0;
};

// Whether the monitor answers a request of `type` from a child in `state`.
// nullopt: admitted (a one-time request is then marked in `asked`); else the
// violation, one line for the audit record. Monitor-to-child types and
// types from the web process or bastionctl are never admitted from a child.
std::optional<std::string> admit(monitor::Type type, ChildState state, AskedOnce& asked);

}  // namespace bastion::gateway
