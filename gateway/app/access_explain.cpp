#include "gateway/app/access_explain.h"

#include <algorithm>
#include <map>
#include <vector>

#include "gateway/app/elevation_service.h"
#include "policy/access.h"
#include "policy/elevation.h"

namespace bastion::gateway {
namespace {

// The logins `in`'s person has or may request on `target`, and those of grants active now.
std::vector<std::string> reachable_logins(const policy::AccessContext& in, const policy::Target& target, Micros now) {
  std::vector<std::string> logins = policy::logins_for(in.roles, target);
  for (const auto& l : policy::requestable_logins(in.roles, target)) {
    if (std::find(logins.begin(), logins.end(), l) == logins.end()) logins.push_back(l);
  }
  for (const auto& e : in.elevations) {
    if (e.target == target.name && e.active_at(now) &&
        std::find(logins.begin(), logins.end(), e.login) == logins.end()) {
      logins.push_back(e.login);
    }
  }
  return logins;
}

// `access who-can` rows for one person: how they reach each login, if at all.
void add_who_can_rows(const policy::Person& p, const policy::AccessContext& in, const policy::Target& target,
                      Micros now, nlohmann::json& rows) {
  for (const auto& login : reachable_logins(in, target, now)) {
    auto d = policy::decide_with(in, target.name, login, now);
    nlohmann::json row = {{"user", p.name}, {"state", policy::to_string(p.state)}, {"login", login}};
    if (d.allow) {
      row["how"] = d.grant_id.empty() ? "role" : (d.break_glass ? "break-glass" : "grant");
      row["detail"] = d.reason;
    } else if (auto r = policy::eligible_role(in.roles, target, login); r && p.state == policy::PersonState::kActive) {
      row["how"] = "may-request";
      row["detail"] = "role " + r->name + " (consent from customer " + target.customer + ")";
    } else {
      continue;  // neither now nor by request (e.g. account not active)
    }
    rows.push_back(row);
  }
}

}  // namespace

Result<nlohmann::json> explain_access(Services& s, const std::string& user, const std::string& destination) {
  std::string login, target;
  if (!split_destination(destination, login, target)) {
    return make_error("expected LOGIN@TARGET, got '" + destination + "'");
  }
  Micros now = s.clock().now();
  auto in = policy::decide_access(s.policy(), user, target, login, now);
  if (!in) return in.error();
  if (!in->person) return make_error("no such user: " + user);
  const policy::Decision& d = in->decision;
  std::string eligible;
  if (in->target) {
    if (auto r = policy::eligible_role(in->roles, *in->target, login)) eligible = r->name;
  }
  nlohmann::json j = {{"user", user},
                      {"target", target},
                      {"login", login},
                      {"allow", d.allow},
                      {"reason", d.reason},
                      {"role", d.role},
                      {"grant_id", d.grant_id},
                      {"request_id", d.request_id},
                      {"break_glass", d.break_glass},
                      {"eligible_role", eligible},
                      {"customer", in->target ? in->target->customer : std::string()}};
  if (d.not_after) j["until"] = format_utc(d.not_after);
  return j;
}

Result<nlohmann::json> who_can(Services& s, const std::string& target_name) {
  auto target = s.policy().find_target(target_name);
  auto people = s.policy().list_people();
  if (!target) return target.error();
  if (!people) return people.error();
  if (!*target) return make_error("no such target: " + target_name);
  const policy::Target& t = **target;
  Micros now = s.clock().now();
  // What decide_access gathers per person, gathered once for everyone (two
  // queries, not four per person: the console asks this of the monitor,
  // which must not stall for seconds on 10,000 people). Only the approved
  // grants on this target count here: a who-can row is an access now or a
  // role's right to ask, and neither depends on ended or pending requests.
  auto roles = s.policy().list_roles();
  if (!roles) return roles.error();
  auto open = s.policy().approved_on_target(target_name);
  if (!open) return open.error();
  std::map<std::string, const policy::Role*> role_by_name;
  for (const auto& r : *roles) role_by_name[r.name] = &r;
  std::map<std::string, std::vector<policy::Elevation>> grants_of;
  for (auto& e : *open) grants_of[e.user].push_back(std::move(e));
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& p : *people) {
    policy::AccessContext in;
    in.person = p;
    in.target = t;
    for (const auto& name : p.roles) {  // by name, as roles_of gives them
      if (auto r = role_by_name.find(name); r != role_by_name.end()) in.roles.push_back(*r->second);
    }
    std::sort(in.roles.begin(), in.roles.end(),
              [](const policy::Role& a, const policy::Role& b) { return a.name < b.name; });
    if (auto g = grants_of.find(p.name); g != grants_of.end()) in.elevations = g->second;
    add_who_can_rows(p, in, t, now, rows);
  }
  if (!t.customer.empty()) {
    if (auto c = s.policy().find_customer(t.customer); c && *c) {
      for (const auto& approver : (*c)->approvers) {
        rows.push_back({{"user", approver},
                        {"state", ""},
                        {"login", ""},
                        {"how", "approver"},
                        {"detail", "may consent for customer " + t.customer + " (no access of their own)"}});
      }
    }
  }
  return rows;
}

}  // namespace bastion::gateway
