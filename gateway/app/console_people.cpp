// The console's People and access page, for administrators, read-only:
// people with their state and roles, and `access check` and `who-can` as
// forms (gateway/app/access_explain.h, the code bastionctl runs).
#include <algorithm>

#include "gateway/app/access_explain.h"
#include "gateway/app/console_detail.h"
#include "gateway/app/console_web.h"
#include "policy/console_access.h"

namespace bastion::gateway {

using console_detail::error;
using console_detail::kMaxName;
using console_detail::str;

namespace {

// The page lists at most this many people (a name filter narrows it).
constexpr size_t kListedPeople = 500;

}  // namespace

WebReply ConsoleWeb::people_page(const Signed& who, const nlohmann::json& args) {
  auto v = console_detail::view_of(s_, who.person);
  if (!v) return error(500, v.error().message);
  nlohmann::json page = console_detail::page_of(who.person.name, who.cookie, *v);
  page["people"] = nlohmann::json::array();
  if (!policy::may_view_people(v->access)) {
    page["note"] = "People and access are for administrators (a role with console = admin); you are not one.";
    return {200, page};
  }
  const std::string q = str(args, "q").substr(0, kMaxName);
  auto people = s_.policy().list_people();
  if (!people) return error(500, "internal error: " + people.error().message);
  size_t matched = 0;
  for (const auto& p : *people) {
    if (!q.empty() && p.name.find(q) == std::string::npos && p.email.find(q) == std::string::npos) continue;
    if (++matched > kListedPeople) continue;
    page["people"].push_back({{"name", p.name},
                              {"state", policy::to_string(p.state)},
                              {"roles", p.roles},
                              {"email", p.email},
                              {"department", p.department},
                              {"service_account", p.service_account}});
  }
  page["matched"] = matched;
  const std::string check_user = str(args, "check_user").substr(0, kMaxName);
  const std::string check_dest = str(args, "check_dest").substr(0, kMaxName);
  if (!check_user.empty() || !check_dest.empty()) {
    auto j = explain_access(s_, check_user, check_dest);
    page["check"] = j ? *j : nlohmann::json{{"error", j.error().message}};
  }
  const std::string target = str(args, "who_can").substr(0, kMaxName);
  if (!target.empty()) {
    auto rows = who_can(s_, target);
    page["who_can"] = rows ? nlohmann::json{{"target", target}, {"rows", *rows}}
                           : nlohmann::json{{"target", target}, {"error", rows.error().message}};
  }
  return {200, page};
}

}  // namespace bastion::gateway
