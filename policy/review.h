// Access review: the quarterly report an auditor asks for. Pure functions
// over plain values; the caller gathers people, roles, targets and sessions.
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "policy/model.h"

namespace bastion::policy {

struct LoginUse {
  std::string target, login;
  Micros last = 0;  // last session start
  int sessions = 0;
};

struct UnusedAccess {
  std::string target, login, role;
};

// Standing access (a role that selects a target and lists a login) that no
// session used within `window` before `now`.
std::vector<UnusedAccess> unused_access(const std::vector<Role>& roles, const std::vector<Target>& targets,
                                        const std::vector<LoginUse>& uses, Micros now, Micros window);

}  // namespace bastion::policy
