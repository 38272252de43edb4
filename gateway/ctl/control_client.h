// The control socket protocol between bastionctl and bastiond: one JSON
// request line, one JSON reply line, over a Unix socket (mode 0600; the
// daemon also checks the peer's uid).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/result.h"

namespace bastion::gateway {

// Sends `request` and returns the reply; `timeout_ms` bounds the whole call.
Result<nlohmann::json> control_call(const std::string& socket_path, const nlohmann::json& request,
                                    int timeout_ms = 10000);

}  // namespace bastion::gateway
