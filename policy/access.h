// One path to every access decision: gathers what policy::decide needs from
// the repository (the person, their roles, the target, their elevations) and
// decides. The connection process's pre-check, the monitor's re-derivation,
// the HR re-check of live sessions and `bastionctl access check|who-can` all
// call this, so the inputs cannot drift apart between them.
//
// Contract: an error means the repository could not answer (the caller
// denies); otherwise `decision` is decide()'s outcome, which never allows by
// default. An unknown person is a deny with a reason, not an error.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "policy/decision.h"
#include "policy/repository.h"

namespace bastion::policy {

struct AccessContext {
  std::optional<Person> person;
  std::optional<Target> target;
  std::vector<Role> roles;
  std::vector<Elevation> elevations;  // the person's, any state
  Decision decision;
  std::optional<Elevation> grant;  // the grant that decided, when one did
};

Result<AccessContext> decide_access(PolicyRepository& repo, const std::string& person, const std::string& target,
                                    const std::string& login, Micros now);

// decide() over inputs already gathered (for callers that decide many logins
// for one person and target, such as `access who-can`).
Decision decide_with(const AccessContext& in, const std::string& target, const std::string& login, Micros now);

}  // namespace bastion::policy
