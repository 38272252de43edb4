#include "policy/access.h"

namespace bastion::policy {

Decision decide_with(const AccessContext& in, const std::string& target, const std::string& login, Micros now) {
  AccessRequest req;
  req.person = in.person ? &*in.person : nullptr;
  req.roles = &in.roles;
  req.target = in.target ? &*in.target : nullptr;
  req.target_name = target;
  req.login = login;
  req.now = now;
  req.elevations = &in.elevations;
  return decide(req);
}

Result<AccessContext> decide_access(PolicyRepository& repo, const std::string& person, const std::string& target,
                                    const std::string& login, Micros now) {
  AccessContext in;
  auto p = repo.find_person(person);
  if (!p) return p.error();
  in.person = *p;
  if (in.person) {
    auto roles = repo.roles_of(*in.person);
    if (!roles) return roles.error();
    in.roles = std::move(*roles);
    auto els = repo.list_elevations(person, false);
    if (!els) return els.error();
    in.elevations = std::move(*els);
  }
  auto t = repo.find_target(target);
  if (!t) return t.error();
  in.target = *t;
  in.decision = decide_with(in, target, login, now);
  if (!in.decision.grant_id.empty()) {
    for (const auto& e : in.elevations) {
      if (e.grant_id == in.decision.grant_id) in.grant = e;
    }
  }
  return in;
}

}  // namespace bastion::policy
