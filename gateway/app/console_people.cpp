// The console's People and access page, for administrators, read-only:
// people with their state and roles, and `access check` and `who-can` as
// forms (gateway/app/access_explain.h, the code bastionctl runs).
#include <algorithm>
#include <map>
#include <vector>

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

// Each listed person's SSH keys, security-key credentials and last login,
// in three queries for the whole page (not three per person).
Status add_keys_and_logins(Services& s, const std::vector<std::string>& names, nlohmann::json& people) {
  auto keys = s.keys().list_of(names);
  if (!keys) return keys.error();
  auto creds = s.mfa().credentials_of(names);
  if (!creds) return creds.error();
  auto last = s.sessions().last_started(names);
  if (!last) return last.error();
  std::map<std::string, nlohmann::json> ssh, webauthn;
  for (const auto& k : *keys) {
    ssh[k.user].push_back({{"fingerprint", k.fingerprint},
                           {"type", k.type},
                           {"comment", k.comment},
                           {"active", k.active},
                           {"attested", !k.aaguid.empty()},
                           {"enrolled_at", format_utc(k.created_at)}});
  }
  for (const auto& c : *creds) {
    nlohmann::json j = {{"state", c.state}, {"registered_at", format_utc(c.created_at)}};
    if (c.last_used_at) j["last_used_at"] = format_utc(*c.last_used_at);
    webauthn[c.user].push_back(std::move(j));
  }
  for (auto& p : people) {
    const std::string name = p["name"].get<std::string>();
    p["ssh_keys"] = ssh.contains(name) ? ssh[name] : nlohmann::json::array();
    p["credentials"] = webauthn.contains(name) ? webauthn[name] : nlohmann::json::array();
    if (auto at = last->find(name); at != last->end()) p["last_login"] = format_utc(at->second);
  }
  return {};
}

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
  std::vector<std::string> listed;
  for (const auto& p : *people) {
    if (!q.empty() && p.name.find(q) == std::string::npos && p.email.find(q) == std::string::npos) continue;
    if (++matched > kListedPeople) continue;
    listed.push_back(p.name);
    page["people"].push_back({{"name", p.name},
                              {"state", policy::to_string(p.state)},
                              {"roles", p.roles},
                              {"email", p.email},
                              {"department", p.department},
                              {"service_account", p.service_account}});
  }
  page["matched"] = matched;
  if (auto st = add_keys_and_logins(s_, listed, page["people"]); !st) {
    return error(500, "internal error: " + st.message());
  }
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
