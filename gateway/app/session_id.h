// Session ids (random, from common/random.h).
#pragma once

#include <string>

namespace bastion::gateway {
std::string new_session_id();
// Whether `s` has new_session_id()'s shape: "s-" and 16 lowercase hex digits.
bool looks_like_session_id(const std::string& s);
}  // namespace bastion::gateway
