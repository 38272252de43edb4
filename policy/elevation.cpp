#include "policy/elevation.h"

#include <algorithm>

#include "common/encoding.h"
#include "policy/selector.h"

namespace bastion::policy {

std::string to_string(ElevationState s) {
  switch (s) {
    case ElevationState::kPending: return "pending";
    case ElevationState::kApproved: return "approved";
    case ElevationState::kDenied: return "denied";
    case ElevationState::kExpired: return "expired";
    case ElevationState::kRevoked: return "revoked";
  }
  return "unknown";
}

bool parse_elevation_state(const std::string& text, ElevationState& out) {
  if (text == "pending") out = ElevationState::kPending;
  else if (text == "approved") out = ElevationState::kApproved;
  else if (text == "denied") out = ElevationState::kDenied;
  else if (text == "expired") out = ElevationState::kExpired;
  else if (text == "revoked") out = ElevationState::kRevoked;
  else return false;
  return true;
}

ElevationState Elevation::state_at(Micros now) const {
  if (state == ElevationState::kPending && now >= expires_at) return ElevationState::kExpired;
  if (state == ElevationState::kApproved && now >= ends_at) return ElevationState::kExpired;
  return state;
}

bool Elevation::active_at(Micros now) const {
  return state_at(now) == ElevationState::kApproved && starts_at <= now && now < ends_at;
}

Result<Role> eligible_role(const std::vector<Role>& roles, const Target& target, const std::string& login) {
  bool selects = false;
  for (const Role& r : roles) {
    if (!r.elevated) continue;
    auto sel = TargetSelector::parse(r.target_selector);
    if (!sel || !sel->matches(target)) continue;
    selects = true;
    if (std::find(r.logins.begin(), r.logins.end(), login) != r.logins.end()) return r;
  }
  if (selects) return make_error("no elevated role lets you request login " + login + " on " + target.name);
  return make_error("no elevated role makes you eligible for " + target.name);
}

Result<Role> check_request(const Person& requester, const std::vector<Role>& roles, const Target& target,
                           const std::string& login, Micros duration, const std::string& reason,
                           const ElevationLimits& limits) {
  if (requester.state != PersonState::kActive) {
    return make_error("account " + requester.name + " is " + to_string(requester.state));
  }
  if (reason.empty()) return make_error("a reason is required (--reason \"TICKET-123 what and why\")");
  if (reason.size() > 512) return make_error("the reason is longer than 512 characters");
  if (!is_valid_utf8(reason)) return make_error("the reason is not valid UTF-8");
  for (char c : reason) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return make_error("the reason contains control characters");
  }
  if (duration < kMicrosPerSecond) return make_error("the duration must be at least 1s (--for 30m)");
  if (target.customer.empty()) {
    return make_error("target " + target.name + " belongs to no customer, so nobody can consent to access");
  }
  auto role = eligible_role(roles, target, login);
  if (!role) return role.error();
  Micros max = grant_length(duration, *role, limits);
  if (duration > max) {
    return make_error("the longest grant for " + login + "@" + target.name + " is " + format_duration(max) +
                      " (asked for " + format_duration(duration) + ")");
  }
  return role;
}

Micros grant_length(Micros requested, const Role& role, const ElevationLimits& limits) {
  Micros len = std::min(requested, limits.max_grant);
  if (role.max_duration > 0) len = std::min(len, role.max_duration);
  return len;
}

namespace {

bool holds(const std::vector<Role>& roles, const std::string& name) {
  return std::any_of(roles.begin(), roles.end(), [&](const Role& r) { return r.name == name; });
}

int count_kind(const Elevation& e, const std::string& kind) {
  return static_cast<int>(
      std::count_if(e.approvals.begin(), e.approvals.end(), [&](const Approval& a) { return a.kind == kind; }));
}

}  // namespace

Result<std::string> approval_kind(const Elevation& e, const Person& approver,
                                  const std::vector<std::string>& customer_approvers,
                                  const std::vector<Role>& approver_roles, const Role& role, Micros now) {
  ElevationState st = e.state_at(now);
  if (st != ElevationState::kPending) return make_error("request " + e.id + " is " + to_string(st));
  // SECURITY: consent must come from someone else; the requester never
  // approves their own request, whatever else they hold.
  if (approver.name == e.user) return make_error("you cannot approve your own request");
  if (approver.state != PersonState::kActive) {
    return make_error("account " + approver.name + " is " + to_string(approver.state));
  }
  for (const auto& a : e.approvals) {
    if (a.approver == approver.name) return make_error("you already approved request " + e.id);
  }
  bool is_customer =
      std::find(customer_approvers.begin(), customer_approvers.end(), approver.name) != customer_approvers.end();
  if (is_customer) {
    if (count_kind(e, "customer") > 0) return make_error("customer " + e.customer + " already consented to " + e.id);
    return std::string("customer");
  }
  if (role.internal_approvals > 0 && !role.approver_role.empty() && holds(approver_roles, role.approver_role)) {
    if (count_kind(e, "internal") >= role.internal_approvals) {
      return make_error("request " + e.id + " already has its internal approvals; it waits for customer " + e.customer);
    }
    return std::string("internal");
  }
  return make_error(approver.name + " is not an approver for customer " + e.customer);
}

bool approvals_complete(const Elevation& e, const Role& role) {
  return count_kind(e, "customer") >= 1 && count_kind(e, "internal") >= role.internal_approvals;
}

Status check_revoke(const Elevation& e, const std::string& actor, bool actor_is_customer_approver, bool actor_is_admin,
                    Micros now) {
  ElevationState st = e.state_at(now);
  if (st != ElevationState::kPending && st != ElevationState::kApproved) {
    return make_error((e.grant_id.empty() ? "request " + e.id : "grant " + e.grant_id) + " is already " +
                      to_string(st));
  }
  if (actor_is_admin || actor == e.user || actor_is_customer_approver) return {};
  return make_error(actor + " may not revoke " + (e.grant_id.empty() ? e.id : e.grant_id) +
                    ": only the requester, an approver of customer " + e.customer + " or an administrator may");
}

Status check_break_glass(const Person& person, Micros duration, const std::string& reason,
                         const ElevationLimits& limits) {
  if (person.state != PersonState::kActive) {
    return make_error("account " + person.name + " is " + to_string(person.state));
  }
  if (reason.empty()) return make_error("break-glass needs a reason (--reason TEXT)");
  if (duration < kMicrosPerSecond) return make_error("the duration must be at least 1s");
  if (duration > limits.break_glass_max) {
    return make_error("break-glass grants last at most " + format_duration(limits.break_glass_max) + " (asked for " +
                      format_duration(duration) + ")");
  }
  return {};
}

std::string grant_end_message(const Elevation& e, Micros now) {
  std::string head = "grant " + e.grant_id + " for " + e.destination() + " ended";
  if (e.state == ElevationState::kRevoked) {
    std::string by = "revoked by " + (e.ended_by.empty() ? std::string("an administrator") : e.ended_by);
    if (!e.end_reason.empty()) by += ": " + e.end_reason;
    return head + " (" + by + ")";
  }
  if (e.state_at(now) == ElevationState::kExpired || e.state == ElevationState::kExpired) {
    return head + " (expired at " + format_utc_seconds(e.ends_at) + ")";
  }
  return head;
}

}  // namespace bastion::policy
