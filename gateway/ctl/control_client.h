// bastionctl's side of the control socket: one typed Control request of the
// monitor protocol (gateway/app/monitor_protocol.h) per connection, one
// ControlDone answer, over a Unix SOCK_SEQPACKET socket (mode 0600; the
// daemon also checks the peer's uid).
#pragma once

#include <string>

#include "common/result.h"
#include "gateway/app/monitor_protocol.h"

namespace bastion::gateway {

// Sends `request` and returns the daemon's answer (which may say !ok, with
// its reason); an error when bastiond is not running or does not answer
// within `timeout_ms`.
Result<monitor::ControlDone> control_call(const std::string& socket_path, const monitor::Control& request,
                                          int timeout_ms = 10000);

}  // namespace bastion::gateway
