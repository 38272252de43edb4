#include "policy/review.h"

#include <algorithm>

#include "policy/selector.h"

namespace bastion::policy {

std::vector<UnusedAccess> unused_access(const std::vector<Role>& roles, const std::vector<Target>& targets,
                                        const std::vector<LoginUse>& uses, Micros now, Micros window) {
  std::vector<UnusedAccess> out;
  for (const Role& r : roles) {
    if (r.elevated) continue;  // elevated roles grant nothing standing
    auto sel = TargetSelector::parse(r.target_selector);
    if (!sel) continue;
    for (const Target& t : targets) {
      if (!sel->matches(t)) continue;
      for (const auto& login : r.logins) {
        bool used = std::any_of(uses.begin(), uses.end(), [&](const LoginUse& u) {
          return u.target == t.name && u.login == login && u.last >= now - window;
        });
        bool listed = std::any_of(out.begin(), out.end(),
                                  [&](const UnusedAccess& x) { return x.target == t.name && x.login == login; });
        if (!used && !listed) out.push_back({t.name, login, r.name});
      }
    }
  }
  return out;
}

}  // namespace bastion::policy
