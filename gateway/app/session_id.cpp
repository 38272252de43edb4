#include "gateway/app/session_id.h"

#include "common/encoding.h"
#include "common/random.h"

namespace bastion::gateway {

std::string new_session_id() { return "s-" + hex_encode(as_bytes(random_bytes(8))); }

bool looks_like_session_id(const std::string& s) {
  return s.size() == 18 && s.starts_with("s-") && s.find_first_not_of("0123456789abcdef", 2) == std::string::npos;
}

}  // namespace bastion::gateway
