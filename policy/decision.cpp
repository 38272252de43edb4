#include "policy/decision.h"

#include <algorithm>

#include "policy/selector.h"

namespace bastion::policy {
namespace {

Decision deny(std::string reason) {
  Decision d;
  d.reason = std::move(reason);
  return d;
}

bool role_selects(const Role& role, const Target& target) {
  auto sel = TargetSelector::parse(role.target_selector);
  // SECURITY: a selector that no longer parses selects nothing (fail closed).
  return sel && sel->matches(target);
}

}  // namespace

Decision decide(const AccessRequest& req) {
  if (req.person == nullptr) return deny("key is not enrolled");
  const Person& p = *req.person;
  if (p.state != PersonState::kActive) {
    return deny("account " + p.name + " is " + to_string(p.state));
  }
  if (req.target == nullptr) return deny("unknown target " + req.target_name);
  if (req.roles == nullptr || req.roles->empty()) {
    return deny("no role grants " + p.name + " access to " + req.target_name);
  }
  bool any_target_match = false;
  for (const Role& role : *req.roles) {
    if (!role_selects(role, *req.target)) continue;
    any_target_match = true;
    if (std::find(role.logins.begin(), role.logins.end(), req.login) != role.logins.end()) {
      Decision d;
      d.allow = true;
      d.role = role.name;
      d.allow_port_forwarding = role.allow_port_forwarding;
      d.reason = "role " + role.name + " allows " + req.login + " on " + req.target_name;
      return d;
    }
  }
  if (any_target_match) {
    return deny("no role allows login " + req.login + " on " + req.target_name);
  }
  return deny("no role grants " + p.name + " access to " + req.target_name);
}

std::vector<std::string> logins_for(const std::vector<Role>& roles, const Target& target) {
  std::vector<std::string> out;
  for (const Role& role : roles) {
    if (!role_selects(role, target)) continue;
    for (const auto& l : role.logins) {
      if (std::find(out.begin(), out.end(), l) == out.end()) out.push_back(l);
    }
  }
  return out;
}

}  // namespace bastion::policy
