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

bool lists(const Role& role, const std::string& login) {
  return std::find(role.logins.begin(), role.logins.end(), login) != role.logins.end();
}

// The most recent of the person's elevations for exactly this login@target.
const Elevation* latest_for(const AccessRequest& req) {
  const Elevation* best = nullptr;
  if (req.elevations == nullptr) return nullptr;
  for (const auto& e : *req.elevations) {
    if (e.user != req.person->name || e.target != req.target_name || e.login != req.login) continue;
    if (best == nullptr || e.created_at > best->created_at) best = &e;
  }
  return best;
}

Decision allow_grant(const AccessRequest& req, const Elevation& e, const Role* role) {
  Decision d;
  d.allow = true;
  d.grant_id = e.grant_id;
  d.request_id = e.id;
  d.not_after = e.ends_at;
  d.break_glass = e.break_glass;
  // SECURITY: using an elevated grant needs a fresh step-up in every session:
  // the customer consented to a person, not to whoever holds their key file.
  d.step_up.kind = StepUpRule::Kind::kPerSession;
  d.step_up.max_age = 0;
  if (role != nullptr) {
    d.role = role->name;
    d.allow_port_forwarding = role->allow_port_forwarding;
  }
  d.reason = std::string(e.break_glass ? "break-glass grant " : "grant ") + e.grant_id + " (approved by " +
             e.decided_by + ") allows " + req.login + " on " + req.target_name + " until " +
             format_utc_seconds(e.ends_at);
  return d;
}

// Why there is no grant, as specific as the person's requests allow.
std::string no_grant_reason(const AccessRequest& req) {
  std::string dest = req.login + "@" + req.target_name;
  const Elevation* e = latest_for(req);
  if (e != nullptr) {
    switch (e->state_at(req.now)) {
      case ElevationState::kPending:
        return "request " + e->id + " for " + dest + " is waiting for consent from customer " + e->customer;
      case ElevationState::kDenied:
        return "request " + e->id + " for " + dest + " was denied by " + e->decided_by +
               (e->decision_reason.empty() ? "" : ": " + e->decision_reason);
      case ElevationState::kExpired:
      case ElevationState::kRevoked:
        if (!e->grant_id.empty()) return grant_end_message(*e, req.now);
        return "request " + e->id + " for " + dest + " is " + to_string(e->state_at(req.now));
      case ElevationState::kApproved: break;  // active grants were handled by the caller
    }
  }
  return "no active grant for " + dest + " (ask for one: request " + dest + " --for DURATION --reason TEXT)";
}

}  // namespace

Decision decide(const AccessRequest& req) {
  if (req.person == nullptr) return deny("key is not enrolled");
  const Person& p = *req.person;
  if (p.state != PersonState::kActive) {
    return deny("account " + p.name + " is " + to_string(p.state));
  }
  if (req.target == nullptr) return deny("unknown target " + req.target_name);
  static const std::vector<Role> kNoRoles;
  const std::vector<Role>& roles = req.roles ? *req.roles : kNoRoles;
  bool standing_target_match = false;
  for (const Role& role : roles) {
    if (role.elevated || !role_selects(role, *req.target)) continue;
    standing_target_match = true;
    if (lists(role, req.login)) {
      Decision d;
      d.allow = true;
      d.role = role.name;
      d.allow_port_forwarding = role.allow_port_forwarding;
      d.step_up = role.step_up;
      d.reason = "role " + role.name + " allows " + req.login + " on " + req.target_name;
      return d;
    }
  }
  // Grants: only the person's own, only for exactly this login and target,
  // only while the window is open.
  if (req.elevations != nullptr) {
    for (const auto& e : *req.elevations) {
      if (e.user != p.name || e.target != req.target_name || e.login != req.login || !e.active_at(req.now)) {
        continue;
      }
      if (e.break_glass) return allow_grant(req, e, nullptr);
      // SECURITY: a grant works only while its holder is still eligible for
      // it (an elevated role removed after approval ends the access too).
      auto role = eligible_role(roles, *req.target, req.login);
      if (!role) return deny("grant " + e.grant_id + " no longer applies: " + role.error().message);
      return allow_grant(req, e, &*role);
    }
  }
  if (eligible_role(roles, *req.target, req.login)) return deny(no_grant_reason(req));
  bool elevated_target_match = std::any_of(roles.begin(), roles.end(),
                                           [&](const Role& r) { return r.elevated && role_selects(r, *req.target); });
  if (standing_target_match || elevated_target_match) {
    return deny("no role allows login " + req.login + " on " + req.target_name);
  }
  return deny("no role grants " + p.name + " access to " + req.target_name);
}

std::vector<std::string> logins_for(const std::vector<Role>& roles, const Target& target) {
  std::vector<std::string> out;
  for (const Role& role : roles) {
    if (role.elevated || !role_selects(role, target)) continue;
    for (const auto& l : role.logins) {
      if (std::find(out.begin(), out.end(), l) == out.end()) out.push_back(l);
    }
  }
  return out;
}

std::vector<std::string> requestable_logins(const std::vector<Role>& roles, const Target& target) {
  std::vector<std::string> out;
  for (const Role& role : roles) {
    if (!role.elevated || !role_selects(role, target)) continue;
    for (const auto& l : role.logins) {
      if (std::find(out.begin(), out.end(), l) == out.end()) out.push_back(l);
    }
  }
  return out;
}

}  // namespace bastion::policy
