// Who sees what in the web console: the permission model. Pure functions
// over plain structs; the caller loads them from the repository.
//
// In this step the console shows requests and grants, so two of the
// console's roles exist: requester (everyone: their own requests and
// grants) and approver (a customer's approvers: that customer's requests
// and grants; holders of a role that gives internal approvals: the requests
// of the elevated roles that ask them). Auditor and administrator come with
// the pages that need them (live sessions, recordings, the audit log).
// SECURITY: a person sees nothing they could not see or decide with
// command mode's rules: approving uses policy::approval_kind, revoking
// policy::check_revoke, and these views are no wider than those.
#pragma once

#include <string>
#include <vector>

#include "policy/elevation.h"
#include "policy/model.h"

namespace bastion::policy {

struct ConsoleAccess {
  std::string person;
  std::vector<std::string> approver_of;  // customers whose approver the person is
  std::vector<std::string> roles;        // roles the person holds (internal approvals)
};

ConsoleAccess console_access(const Person& person, const std::vector<Customer>& customers,
                             const std::vector<Role>& roles_held);

// Whether the person may see request (or grant) `e`. `request_role` is the
// elevated role of the request (null for break-glass or when it is gone).
bool may_view_request(const ConsoleAccess& a, const Elevation& e, const Role* request_role);

// Whether the person may see (and end) a live session of `session_user`
// on a target of `customer` ("" for none): their own, or one on a target
// of a customer they approve for.
bool may_view_session(const ConsoleAccess& a, const std::string& session_user, const std::string& customer);

// Whether the person is one of `customer`'s approvers.
bool approves_for(const ConsoleAccess& a, const std::string& customer);

}  // namespace bastion::policy
