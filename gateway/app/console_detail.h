// What the console's call handlers share (console_web.cpp and
// console_recordings.cpp): not for other modules.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "gateway/app/services.h"
#include "gateway/app/web_backend.h"
#include "policy/console_access.h"

namespace bastion::gateway::console_detail {

// Longest id, name or target a call may carry.
inline constexpr size_t kMaxName = 256;

WebReply error(int status, const std::string& message);
// A string member of `j`, or "" when it is missing or not a string.
std::string str(const nlohmann::json& j, const char* key);

// What the signed-in person may see, from the database.
struct View {
  policy::ConsoleAccess access;
  std::vector<policy::Role> roles;
  std::vector<policy::Customer> customers;
};
Result<View> view_of(Services& s, const policy::Person& p);
// {"approver_of", "auditor", "admin"}: what the pages' navigation shows.
nlohmann::json roles_json(const View& v);

nlohmann::json session_json(const recorder::SessionRecord& r, const std::string& customer);

// What every page's answer starts with: {"user", "csrf", "roles"}.
nlohmann::json page_of(const std::string& user, const std::string& cookie, const View& v);

// A search form's date: "2026-12-04" (from a date input: its midnight, or
// with `end_of_day` the next one, so that a "to" date includes its day) or
// a UTC time; "" is none.
Result<std::optional<Micros>> parse_day(const std::string& text, bool end_of_day);

}  // namespace bastion::gateway::console_detail
