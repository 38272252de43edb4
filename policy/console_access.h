// Who sees what in the web console: the permission model. Pure functions
// over plain structs; the caller loads them from the repository.
//
// The console's roles:
//   - requester (everyone): their own requests, grants and live sessions;
//   - approver (a customer's approvers): that customer's requests and grants,
//     and the live sessions and recordings on its targets; holders of a role
//     that gives internal approvals see the requests that ask them;
//   - auditor (a role with `--console auditor`): every recording;
//   - admin (a role with `--console admin`): everyone's live sessions, and
//     ending any of them.
// Auditor and admin are separate on purpose: watching everything and
// ending anything are two duties; one person may hold both roles.
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
  bool auditor = false;                  // holds a role with console = "auditor"
  bool admin = false;                    // holds a role with console = "admin"
};

ConsoleAccess console_access(const Person& person, const std::vector<Customer>& customers,
                             const std::vector<Role>& roles_held);

// Whether the person may see request (or grant) `e`. `request_role` is the
// elevated role of the request (null for break-glass or when it is gone).
bool may_view_request(const ConsoleAccess& a, const Elevation& e, const Role* request_role);

// Whether the person may see (and end) a live session of `session_user`
// on a target of `customer` ("" for none): their own, one on a target of a
// customer they approve for, or (admin) any.
bool may_view_session(const ConsoleAccess& a, const std::string& session_user, const std::string& customer);

// Whether the person may replay and download the recordings of a session
// on a target of `customer` ("" for none): an auditor any; an approver
// those on their customers' targets. Whose session it was does not matter:
// nobody reviews their own work unless they are an auditor.
bool may_view_recording(const ConsoleAccess& a, const std::string& customer);

// Whether the person may search recordings at all (and which): auditors
// all, approvers their customers'.
bool may_search_recordings(const ConsoleAccess& a);

// Whether the person may read and export the audit log: auditors.
bool may_read_audit(const ConsoleAccess& a);

// Whether the person may see everyone and explain their access: admins.
bool may_view_people(const ConsoleAccess& a);

// Whether the person may grant break-glass access in the console: admins.
bool may_break_glass(const ConsoleAccess& a);

// Whether the person is one of `customer`'s approvers.
bool approves_for(const ConsoleAccess& a, const std::string& customer);

}  // namespace bastion::policy
