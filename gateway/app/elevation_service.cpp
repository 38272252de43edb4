#include "gateway/app/elevation_service.h"

#include "common/encoding.h"
#include "common/random.h"

#include <algorithm>
#include <cctype>

#include "gateway/app/session_id.h"

namespace bastion::gateway {
namespace {

using policy::Elevation;
using policy::ElevationState;
using recorder::Outcome;

nlohmann::json link(const Elevation& e) {
  nlohmann::json d = {{"request_id", e.id}};
  if (!e.grant_id.empty()) d["grant_id"] = e.grant_id;
  if (!e.customer.empty()) d["customer"] = e.customer;
  return d;
}

// Ids are shown upper-case; people may type them in any case.
std::string normalize_id(std::string id) {
  for (auto& c : id) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return id;
}

bool holds_role(const std::vector<policy::Role>& roles, const std::string& name) {
  return std::any_of(roles.begin(), roles.end(), [&](const policy::Role& r) { return r.name == name; });
}

}  // namespace

bool split_destination(const std::string& text, std::string& login, std::string& target) {
  auto at = text.find('@');
  if (at == std::string::npos || text.find('@', at + 1) != std::string::npos) return false;
  login = text.substr(0, at);
  target = text.substr(at + 1);
  return policy::is_valid_name(login) && policy::is_valid_name(target);
}

nlohmann::json elevation_json(const Elevation& e, Micros now) {
  nlohmann::json j = {{"id", e.id},
                      {"grant_id", e.grant_id},
                      {"user", e.user},
                      {"target", e.target},
                      {"login", e.login},
                      {"customer", e.customer},
                      {"role", e.role},
                      {"state", policy::to_string(e.state_at(now))},
                      {"break_glass", e.break_glass},
                      {"reason", e.reason},
                      {"duration", format_duration(e.duration)},
                      {"created_at", format_utc(e.created_at)},
                      {"expires_at", format_utc(e.expires_at)},
                      {"starts_at", e.starts_at ? format_utc(e.starts_at) : ""},
                      {"ends_at", e.ends_at ? format_utc(e.ends_at) : ""},
                      {"approved_by", nlohmann::json::array()}};
  for (const auto& a : e.approvals) {
    j["approved_by"].push_back(a.approver);
  }
  if (e.break_glass) j["approved_by"].push_back(e.decided_by);
  if (e.state == ElevationState::kDenied) {
    j["denied_by"] = e.decided_by;
    j["deny_reason"] = e.decision_reason;
  }
  if (!e.ended_by.empty()) {
    j["ended_by"] = e.ended_by;
    j["ended_at"] = format_utc(e.ended_at);
    j["end_reason"] = e.end_reason;
  }
  return j;
}

Status ElevationService::audit(const Actor& actor, const std::string& action, Outcome outcome,
                               const std::string& reason, const std::string& target, const std::string& login,
                               nlohmann::json details) {
  recorder::AuditEvent ev;
  ev.actor = actor.name;
  ev.action = action;
  ev.outcome = outcome;
  ev.reason = reason;
  ev.target = target;
  ev.login = login;
  ev.source = actor.source;
  ev.session_id = actor.session_id;
  ev.details = std::move(details);
  // Inside atomically(): with the change it records, in the same transaction.
  auto r = audit_.append(ev);
  if (!r) return r.error();
  return {};
}

Status ElevationService::atomically(const std::function<Status()>& change) { return audit_.atomically(change); }

template <class T>
Result<T> ElevationService::refuse(const Actor& actor, const std::string& action, const std::string& reason,
                                   const std::string& target, const std::string& login, nlohmann::json details) {
  // The refusal is audited too; if even that fails, say so rather than hide it.
  if (auto st = audit(actor, action, Outcome::kDeny, reason, target, login, std::move(details)); !st) {
    return make_error(reason + " (and the audit log is unavailable: " + st.message() + ")");
  }
  return make_error(reason);
}

Result<Elevation> ElevationService::find(const std::string& id) {
  auto e = repo_.find_elevation(normalize_id(id));
  if (!e) return e.error();
  if (!*e) return make_error("no request or grant " + id);
  return std::move(**e);
}

Result<Elevation> ElevationService::request(const Actor& requester, const std::string& destination, Micros duration,
                                            const std::string& raw_reason) {
  // SECURITY: the approver reads this on a terminal: printable text only.
  const std::string reason = clean_text(raw_reason);
  const char* action = "elevation.request";
  std::string login, target_name;
  nlohmann::json d = {{"destination", destination.substr(0, 256)},
                      {"duration", format_duration(duration)},
                      {"request_reason", reason.substr(0, 512)}};
  if (!split_destination(destination, login, target_name)) {
    return refuse<Elevation>(requester, action, "expected LOGIN@TARGET, got '" + destination.substr(0, 64) + "'", "",
                             "", d);
  }
  auto person = repo_.find_person(requester.name);
  auto target = repo_.find_target(target_name);
  if (!person || !target) return make_error("internal error (policy unavailable)");
  if (!*person) return refuse<Elevation>(requester, action, "no such user " + requester.name, target_name, login, d);
  if (!*target) return refuse<Elevation>(requester, action, "unknown target " + target_name, target_name, login, d);
  auto roles = repo_.roles_of(**person);
  if (!roles) return roles.error();
  auto role = policy::check_request(**person, *roles, **target, login, duration, reason, limits_);
  if (!role) return refuse<Elevation>(requester, action, role.error().message, target_name, login, d);
  Micros now = clock_.now();
  Elevation e;
  e.id = random_id("REQ");
  e.user = requester.name;
  e.target = target_name;
  e.login = login;
  e.role = role->name;
  e.customer = (*target)->customer;
  e.reason = reason;
  e.duration = duration;
  e.created_at = now;
  e.expires_at = now + limits_.request_ttl;
  d.update(link(e));
  d["role"] = e.role;
  d["expires_at"] = format_utc(e.expires_at);
  // The request and its record: both or neither.
  if (auto st = atomically([&]() -> Status {
        if (auto added = repo_.add_elevation(e); !added) return added;
        return audit(requester, action, Outcome::kAllow, "waiting for consent from customer " + e.customer, e.target,
                     e.login, d);
      });
      !st) {
    return st.error();
  }
  return e;
}

Result<Elevation> ElevationService::approve(const Actor& approver, const std::string& id,
                                            std::optional<Micros> duration, const std::function<Status()>& confirm) {
  const char* action = "elevation.approve";
  auto e = find(id);
  if (!e) return refuse<Elevation>(approver, action, e.error().message, "", "", {{"request_id", id.substr(0, 64)}});
  nlohmann::json d = link(*e);
  if (duration && *duration < kMicrosPerSecond) {
    return refuse<Elevation>(approver, action, "the duration must be at least 1s", e->target, e->login, d);
  }
  auto person = repo_.find_person(approver.name);
  auto customer = repo_.find_customer(e->customer);
  auto role = repo_.find_role(e->role);
  if (!person || !customer || !role) return make_error("internal error (policy unavailable)");
  if (!*person) return refuse<Elevation>(approver, action, "no such user " + approver.name, e->target, e->login, d);
  // SECURITY: if the role behind the request is gone, nobody can complete it.
  if (!*role) {
    return refuse<Elevation>(approver, action, "role " + e->role + " no longer exists", e->target, e->login, d);
  }
  auto approver_roles = repo_.roles_of(**person);
  if (!approver_roles) return approver_roles.error();
  std::vector<std::string> approvers = *customer ? (*customer)->approvers : std::vector<std::string>{};
  Micros now = clock_.now();
  auto kind = policy::approval_kind(*e, **person, approvers, *approver_roles, **role, now);
  if (!kind) return refuse<Elevation>(approver, action, kind.error().message, e->target, e->login, d);
  if (confirm) {
    // The approver may approve; now they prove it is them (a step-up).
    if (auto st = confirm(); !st) return refuse<Elevation>(approver, action, st.message(), e->target, e->login, d);
    now = clock_.now();
  }
  policy::Approval a{approver.name, *kind, duration.value_or(0), now};
  Micros max_len = policy::grant_length(e->duration, **role, limits_);
  // The approval, the grant it may start and their records: all or nothing.
  Result<Elevation> updated = make_error("not approved");
  std::string refusal;
  Status done = atomically([&]() -> Status {
    updated = repo_.approve_elevation(e->id, a, (*role)->internal_approvals, max_len, random_id("GRT"));
    if (!updated) {
      refusal = updated.error().message;
      return updated.error();
    }
    d = link(*updated);
    d["kind"] = *kind;
    if (duration) d["duration"] = format_duration(*duration);
    std::string why = *kind == "customer" ? "consent for customer " + e->customer : "internal approval";
    if (auto st = audit(approver, action, Outcome::kAllow, why, e->target, e->login, d); !st) return st;
    if (updated->state != ElevationState::kApproved) return {};
    nlohmann::json g = link(*updated);
    g["user"] = updated->user;
    g["starts_at"] = format_utc(updated->starts_at);
    g["ends_at"] = format_utc(updated->ends_at);
    g["approved_by"] = nlohmann::json::array();
    for (const auto& x : updated->approvals) g["approved_by"].push_back(x.approver);
    return audit(
        approver, "grant.start", Outcome::kAllow,
        "grant " + updated->grant_id + " for " + updated->user + " until " + format_utc_seconds(updated->ends_at),
        e->target, e->login, g);
  });
  if (!refusal.empty()) return refuse<Elevation>(approver, action, refusal, e->target, e->login, d);
  if (!done) return done.error();
  return updated;
}

Result<Elevation> ElevationService::deny(const Actor& approver, const std::string& id, const std::string& raw_reason) {
  const std::string reason = clean_text(raw_reason);  // the requester reads it
  const char* action = "elevation.deny";
  auto e = find(id);
  if (!e) return refuse<Elevation>(approver, action, e.error().message, "", "", {{"request_id", id.substr(0, 64)}});
  nlohmann::json d = link(*e);
  if (reason.empty()) {
    return refuse<Elevation>(approver, action, "a reason is required to deny (--reason TEXT)", e->target, e->login, d);
  }
  auto person = repo_.find_person(approver.name);
  auto customer = repo_.find_customer(e->customer);
  auto role = repo_.find_role(e->role);
  if (!person || !customer || !role) return make_error("internal error (policy unavailable)");
  if (!*person && !approver.admin) {
    return refuse<Elevation>(approver, action, "no such user " + approver.name, e->target, e->login, d);
  }
  Micros now = clock_.now();
  bool may = approver.admin;
  if (!may && *person && (*person)->state == policy::PersonState::kActive && approver.name != e->user) {
    if (*customer) {
      const auto& list = (*customer)->approvers;
      may = std::find(list.begin(), list.end(), approver.name) != list.end();
    }
    if (!may && *role && !(*role)->approver_role.empty()) {
      auto roles = repo_.roles_of(**person);
      may = roles && holds_role(*roles, (*role)->approver_role);
    }
  }
  if (!may) {
    std::string why = approver.name == e->user ? "you cannot decide on your own request (revoke it instead)"
                                               : approver.name + " is not an approver for customer " + e->customer;
    return refuse<Elevation>(approver, action, why, e->target, e->login, d);
  }
  if (e->state_at(now) != ElevationState::kPending) {
    return refuse<Elevation>(approver, action, "request " + e->id + " is " + policy::to_string(e->state_at(now)),
                             e->target, e->login, d);
  }
  d["user"] = e->user;
  std::string refusal;
  Status done = atomically([&]() -> Status {
    if (auto st = repo_.deny_elevation(e->id, approver.name, reason.substr(0, 512), now); !st) {
      refusal = st.message();
      return st;
    }
    return audit(approver, action, Outcome::kInfo, reason.substr(0, 512), e->target, e->login, d);
  });
  if (!refusal.empty()) return refuse<Elevation>(approver, action, refusal, e->target, e->login, d);
  if (!done) return done.error();
  return find(e->id);
}

Result<Elevation> ElevationService::revoke(const Actor& actor, const std::string& id, const std::string& raw_reason) {
  const std::string reason = clean_text(raw_reason);  // shown to the sessions it ends
  const char* action = "elevation.revoke";
  auto e = find(id);
  if (!e) return refuse<Elevation>(actor, action, e.error().message, "", "", {{"request_id", id.substr(0, 64)}});
  nlohmann::json d = link(*e);
  d["user"] = e->user;
  bool is_approver = false;
  if (!e->customer.empty()) {
    auto customer = repo_.find_customer(e->customer);
    if (!customer) return customer.error();
    if (*customer) {
      const auto& list = (*customer)->approvers;
      is_approver = std::find(list.begin(), list.end(), actor.name) != list.end();
    }
  }
  Micros now = clock_.now();
  if (auto st = policy::check_revoke(*e, actor.name, is_approver, actor.admin, now); !st) {
    return refuse<Elevation>(actor, action, st.message(), e->target, e->login, d);
  }
  std::string why = reason.empty() ? (actor.name == e->user ? "given back by the requester" : "revoked") : reason;
  std::string refusal;
  Status done = atomically([&]() -> Status {
    if (auto st = repo_.end_elevation(e->id, ElevationState::kRevoked, actor.name, why.substr(0, 512), now); !st) {
      refusal = st.message();
      return st;
    }
    return audit(actor, action, Outcome::kInfo, why.substr(0, 512), e->target, e->login, d);
  });
  if (!refusal.empty()) return refuse<Elevation>(actor, action, refusal, e->target, e->login, d);
  if (!done) return done.error();
  return find(e->id);
}

Result<Elevation> ElevationService::break_glass(const Actor& admin, const std::string& user,
                                                const std::string& destination, Micros duration,
                                                const std::string& raw_reason) {
  const std::string reason = clean_text(raw_reason);
  const char* action = "elevation.break-glass";
  std::string login, target_name;
  nlohmann::json d = {{"user", user}, {"duration", format_duration(duration)}, {"break_glass", true}};
  if (!admin.admin) return refuse<Elevation>(admin, action, "break-glass is for administrators only", "", "", d);
  if (!split_destination(destination, login, target_name)) {
    return refuse<Elevation>(admin, action, "expected LOGIN@TARGET, got '" + destination.substr(0, 64) + "'", "", "",
                             d);
  }
  auto person = repo_.find_person(user);
  auto target = repo_.find_target(target_name);
  if (!person || !target) return make_error("internal error (policy unavailable)");
  if (!*person) return refuse<Elevation>(admin, action, "no such user " + user, target_name, login, d);
  if (!*target) return refuse<Elevation>(admin, action, "unknown target " + target_name, target_name, login, d);
  if (auto st = policy::check_break_glass(**person, duration, reason, limits_); !st) {
    return refuse<Elevation>(admin, action, st.message(), target_name, login, d);
  }
  Micros now = clock_.now();
  Elevation e;
  e.id = random_id("REQ");
  e.grant_id = random_id("GRT");
  e.user = user;
  e.target = target_name;
  e.login = login;
  e.customer = (*target)->customer;
  e.reason = reason.substr(0, 512);
  e.duration = duration;
  e.created_at = now;
  e.expires_at = now;
  e.state = ElevationState::kApproved;
  e.break_glass = true;
  e.decided_by = admin.name;
  e.decided_at = now;
  e.starts_at = now;
  e.ends_at = now + duration;
  d.update(link(e));
  d["ends_at"] = format_utc(e.ends_at);
  d["alert"] = "break-glass";
  // Loud on purpose: the reason says what happened, to whom, without consent.
  // The grant and its record: both or neither.
  if (auto st = atomically([&]() -> Status {
        if (auto added = repo_.add_elevation(e); !added) return added;
        return audit(admin, action, Outcome::kAllow,
                     "BREAK-GLASS: " + user + " gets " + destination + " without customer consent until " +
                         format_utc_seconds(e.ends_at) + ": " + e.reason,
                     target_name, login, d);
      });
      !st) {
    return st.error();
  }
  return e;
}

Result<std::vector<Elevation>> ElevationService::expire_due() {
  auto all = repo_.list_elevations("", true);
  if (!all) return all.error();
  Micros now = clock_.now();
  std::vector<Elevation> out;
  Actor system;
  system.name = "system";
  for (auto& e : *all) {
    bool pending = e.state == ElevationState::kPending && now >= e.expires_at;
    bool ended = e.state == ElevationState::kApproved && now >= e.ends_at;
    if (!pending && !ended) continue;
    std::string why =
        pending ? "request expired without a decision" : "grant ended at " + format_utc_seconds(e.ends_at);
    nlohmann::json d = link(e);
    d["user"] = e.user;
    bool ended_here = false;
    Status done = atomically([&]() -> Status {
      // Another process may have ended it first; that is fine.
      if (!repo_.end_elevation(e.id, ElevationState::kExpired, "system", why, now)) return {};
      ended_here = true;
      return audit(system, pending ? "elevation.expire" : "grant.end", Outcome::kInfo, why, e.target, e.login, d);
    });
    if (!done) return done.error();
    if (!ended_here) continue;
    e.state = ElevationState::kExpired;
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::vector<Elevation>> ElevationService::withdraw_consents(const std::string& approver,
                                                                   const std::function<bool(const Elevation&)>& used,
                                                                   const std::string& why,
                                                                   const std::string& only_customer) {
  auto open = repo_.list_elevations("", true);
  if (!open) return open.error();
  Micros now = clock_.now();
  Actor system{"system", true};
  std::vector<Elevation> out;
  for (const auto& e : *open) {
    if (e.break_glass || (!only_customer.empty() && e.customer != only_customer)) continue;
    bool approved_by = std::any_of(e.approvals.begin(), e.approvals.end(), [&](const policy::Approval& a) {
      return a.approver == approver && (only_customer.empty() || a.kind == "customer");
    });
    if (!approved_by) continue;
    ElevationState st = e.state_at(now);
    if (st != ElevationState::kPending && !(st == ElevationState::kApproved && !used(e))) continue;
    auto revoked = revoke(system, e.id, why);
    if (!revoked) return revoked.error();
    out.push_back(std::move(*revoked));
  }
  return out;
}

Result<std::vector<Elevation>> ElevationService::awaiting(const std::string& person_name) {
  auto person = repo_.find_person(person_name);
  if (!person) return person.error();
  std::vector<Elevation> out;
  if (!*person) return out;
  auto roles = repo_.roles_of(**person);
  auto customers = repo_.list_customers();
  auto all = repo_.pending_elevations();  // oldest first
  if (!roles || !customers || !all) return make_error("internal error (policy unavailable)");
  Micros now = clock_.now();
  for (auto& e : *all) {
    if (e.user == person_name || e.state_at(now) != ElevationState::kPending) continue;
    std::vector<std::string> approvers;
    for (const auto& c : *customers) {
      if (c.name == e.customer) approvers = c.approvers;
    }
    auto role = repo_.find_role(e.role);
    if (!role || !*role) continue;
    if (policy::approval_kind(e, **person, approvers, *roles, **role, now)) out.push_back(std::move(e));
  }
  return out;
}

}  // namespace bastion::gateway
