// Access decisions: a pure function over plain values, with the reason.
//
// Contract: decide() never allows by default. It allows only when the person
// is active, the target exists, and either a standing role the person holds
// selects the target and lists the login, or the person holds an active
// grant for exactly that login and target (and, unless it is break-glass,
// still holds an elevated role that makes them eligible for it). Every
// outcome carries a reason that is safe to show to the authenticated person
// and goes to the audit log.
//
// A grant-based allow is its own branch (Decision::grant_id set): when the
// FIDO2 step-up lands, that is where "and a step-up for this session" joins.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "policy/elevation.h"
#include "policy/model.h"

namespace bastion::policy {

struct AccessRequest {
  const Person* person = nullptr;            // null: key belongs to nobody
  const std::vector<Role>* roles = nullptr;  // the person's roles (resolved)
  const Target* target = nullptr;            // null: unknown target
  std::string target_name;
  std::string login;
  Micros now = 0;
  // The person's elevations (any state; others' are ignored). Null: none.
  const std::vector<Elevation>* elevations = nullptr;
};

struct Decision {
  bool allow = false;
  std::string reason;  // "role ops allows root on prod-db-1" / "no role ..."
  std::string role;    // deciding role when allowed
  bool allow_port_forwarding = false;
  // Set when a grant decides: the session lives at most until not_after.
  std::string grant_id, request_id;
  Micros not_after = 0;
  bool break_glass = false;
  // How fresh the person's WebAuthn step-up must be for this access: the
  // deciding role's rule; always per session under a grant.
  StepUpRule step_up;
};

Decision decide(const AccessRequest& req);

// Every login that standing (not elevated) roles let the holder use on `target`.
std::vector<std::string> logins_for(const std::vector<Role>& roles, const Target& target);
// Every login that elevated roles let the holder request on `target`.
std::vector<std::string> requestable_logins(const std::vector<Role>& roles, const Target& target);

}  // namespace bastion::policy
