// Explaining access, for `bastionctl access check | who-can` and the web
// console's People page: the same answers from the same code.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "gateway/app/services.h"

namespace bastion::gateway {

// Would `user` get LOGIN@TARGET now, and exactly which role or grant
// decides: {"user","target","login","allow","reason","role","grant_id",
// "request_id","break_glass","eligible_role"[,"until"]}. An unknown user or
// a malformed destination is an error.
Result<nlohmann::json> explain_access(Services& s, const std::string& user, const std::string& destination);

// Everyone who can reach `target` now, or may request it, and how: rows of
// {"user","state","login","how","detail"}; "how" is role, grant,
// break-glass, may-request or approver (the target's customer's approvers).
Result<nlohmann::json> who_can(Services& s, const std::string& target);

}  // namespace bastion::gateway
