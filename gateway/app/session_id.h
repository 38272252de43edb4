// Gateway ids from the OS CSPRNG.
#pragma once

#include <string>

namespace bastion::gateway {
std::string new_session_id();
// Whether `s` has new_session_id()'s shape: "s-" and 16 lowercase hex digits.
bool looks_like_session_id(const std::string& s);
// Elevation ids: PREFIX + "-" + 8 characters of Crockford base32 (40 random
// bits), e.g. "REQ-7K2M9QXD", "GRT-0B4N8W1C". Short enough to type.
std::string new_elevation_id(const char* prefix);
}
