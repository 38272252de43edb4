// Elevation: time-limited access to a customer's targets, only with the
// customer's consent. Plain values and pure rules; no I/O.
//
// Life of an elevation (one row, two ids):
//   request REQ-… (pending) --approve--> grant GRT-… (approved, starts_at..ends_at)
//                            --deny----> denied
//                            --ttl-----> expired
//   approved --revoke--> revoked;  approved --ends_at--> expired
// A break-glass grant is created approved by an administrator, without consent.
//
// Contract: every check returns either ok or an error whose message is the
// reason, safe to show to the person and written to the audit log.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "policy/model.h"

namespace bastion::policy {

struct Customer {
  std::string name;
  std::vector<std::string> approvers;  // people who may consent for this customer
  Micros created_at = 0;
};

enum class ElevationState { kPending, kApproved, kDenied, kExpired, kRevoked };
std::string to_string(ElevationState s);
bool parse_elevation_state(const std::string& text, ElevationState& out);

struct Approval {
  std::string approver;
  std::string kind;     // "customer" (consent) or "internal" (four eyes)
  Micros duration = 0;  // the duration this approver agreed to
  Micros at = 0;
};

struct Elevation {
  std::string id;        // REQ-…
  std::string grant_id;  // GRT-…, once approved
  std::string user, target, login;
  std::string role;      // the elevated role that made the request eligible ("" for break-glass)
  std::string customer;  // the target's customer at request time ("" for break-glass on other targets)
  std::string reason;    // the requester's (or break-glass administrator's) reason
  Micros duration = 0;   // requested; approvers may shorten it
  Micros created_at = 0;
  Micros expires_at = 0;  // a pending request expires then
  ElevationState state = ElevationState::kPending;
  bool break_glass = false;
  std::string decided_by;  // who approved (last approval) or denied
  Micros decided_at = 0;
  std::string decision_reason;
  Micros starts_at = 0, ends_at = 0;  // the grant's window
  std::string ended_by;               // who revoked it, or "system" when it expired
  Micros ended_at = 0;
  std::string end_reason;
  std::vector<Approval> approvals;

  // The stored state, with time applied: a pending request past expires_at
  // and a grant past ends_at are expired.
  [[nodiscard]] ElevationState state_at(Micros now) const;
  [[nodiscard]] bool active_at(Micros now) const;
  // "root@acme-app"
  [[nodiscard]] std::string destination() const { return login + "@" + target; }
};

struct ElevationLimits {
  Micros request_ttl = 0;      // pending requests expire after this
  Micros max_grant = 0;        // policy maximum for any grant
  Micros break_glass_max = 0;  // longest break-glass grant
};

// The elevated role among `roles` that lets the holder request `login` on
// `target`; an error saying why not otherwise.
Result<Role> eligible_role(const std::vector<Role>& roles, const Target& target, const std::string& login);

// Checks a new request and returns the role that makes it eligible.
Result<Role> check_request(const Person& requester, const std::vector<Role>& roles, const Target& target,
                           const std::string& login, Micros duration, const std::string& reason,
                           const ElevationLimits& limits);

// How long a grant lasts: min(requested, role maximum, policy maximum).
Micros grant_length(Micros requested, const Role& role, const ElevationLimits& limits);

// What an approval by `approver` would count as: "customer" (consent) or
// "internal" (four eyes), or why it is refused. `customer_approvers` are the
// approvers of the request's customer; `approver_roles` the roles the approver
// holds; `role` the elevated role of the request.
Result<std::string> approval_kind(const Elevation& e, const Person& approver,
                                  const std::vector<std::string>& customer_approvers,
                                  const std::vector<Role>& approver_roles, const Role& role, Micros now);

// Whether the approvals on `e` complete it: the customer's consent and the
// internal approvals the role asks for.
bool approvals_complete(const Elevation& e, const Role& role);

// Who may end a request or grant: the requester (giving it back), an approver
// of its customer, or an administrator.
Status check_revoke(const Elevation& e, const std::string& actor, bool actor_is_customer_approver, bool actor_is_admin,
                    Micros now);

// Validates a break-glass grant's duration and reason.
Status check_break_glass(const Person& person, Micros duration, const std::string& reason,
                         const ElevationLimits& limits);

// The line a person sees when a grant ends: "grant GRT-… for root@acme-app ended (revoked by carol)".
std::string grant_end_message(const Elevation& e, Micros now);

}  // namespace bastion::policy
