// Gateway session ids: "s-" + 16 hex digits from the OS CSPRNG.
#pragma once

#include <string>

namespace bastion::gateway {
std::string new_session_id();
}
