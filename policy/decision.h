// Access decisions: a pure function over plain values, with the reason.
//
// Contract: decide() never allows by default. It allows only when the person
// is active, the key is active, the target exists, and a role the person holds
// selects the target and lists the login. Every outcome carries a reason
// that is safe to show to the authenticated person and goes to the audit log.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "policy/model.h"

namespace bastion::policy {

struct AccessRequest {
  const Person* person = nullptr;           // null: key belongs to nobody
  const std::vector<Role>* roles = nullptr;  // the person's roles (resolved)
  const Target* target = nullptr;            // null: unknown target
  std::string target_name;
  std::string login;
  Micros now = 0;
};

struct Decision {
  bool allow = false;
  std::string reason;           // "role ops allows root on prod-db-1" / "no role ..."
  std::string role;             // deciding role when allowed
  bool allow_port_forwarding = false;
};

Decision decide(const AccessRequest& req);

// Every (role, login) that lets `person` reach `target`; for `targets`/who-can.
std::vector<std::string> logins_for(const std::vector<Role>& roles, const Target& target);

}  // namespace bastion::policy
