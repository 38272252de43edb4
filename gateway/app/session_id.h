// Gateway ids from the OS CSPRNG.
#pragma once

#include <string>

namespace bastion::gateway {
std::string new_session_id();
// Elevation ids: PREFIX + "-" + 8 characters of Crockford base32 (40 random
// bits), e.g. "REQ-7K2M9QXD", "GRT-0B4N8W1C". Short enough to type.
std::string new_elevation_id(const char* prefix);
}
