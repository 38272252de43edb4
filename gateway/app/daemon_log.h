// The daemon's diagnostic log: one line on stderr (the journal, under
// systemd), "bastiond[PID]: MESSAGE" or "bastiond[PID]: [COMPONENT] MESSAGE".
// It is for operators: what failed and why. The audit log, not this, is the
// record of who did what. Every process of bastiond (supervisor, connection
// children, the web process) logs through here.
// Thread-safe: one fprintf per line (stdio locks the stream), so lines from
// threads do not interleave.
#pragma once

#include <string>

namespace bastion::gateway {

void daemon_log(const std::string& message);
// `component` names the part speaking, e.g. "web".
void daemon_log(const char* component, const std::string& message);

}  // namespace bastion::gateway
