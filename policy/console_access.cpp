#include "policy/console_access.h"

#include <algorithm>

namespace bastion::policy {

ConsoleAccess console_access(const Person& person, const std::vector<Customer>& customers,
                             const std::vector<Role>& roles_held) {
  ConsoleAccess a;
  a.person = person.name;
  for (const auto& c : customers) {
    if (std::find(c.approvers.begin(), c.approvers.end(), person.name) != c.approvers.end()) {
      a.approver_of.push_back(c.name);
    }
  }
  for (const auto& r : roles_held) {
    a.roles.push_back(r.name);
    if (r.console == "auditor") a.auditor = true;
    if (r.console == "admin") a.admin = true;
  }
  return a;
}

bool approves_for(const ConsoleAccess& a, const std::string& customer) {
  return !customer.empty() && std::find(a.approver_of.begin(), a.approver_of.end(), customer) != a.approver_of.end();
}

bool may_view_session(const ConsoleAccess& a, const std::string& session_user, const std::string& customer) {
  if (a.person.empty()) return false;
  return a.admin || session_user == a.person || approves_for(a, customer);
}

bool may_view_recording(const ConsoleAccess& a, const std::string& customer) {
  if (a.person.empty()) return false;
  return a.auditor || approves_for(a, customer);
}

bool may_read_audit(const ConsoleAccess& a) { return !a.person.empty() && a.auditor; }

bool may_view_people(const ConsoleAccess& a) { return !a.person.empty() && a.admin; }

bool may_break_glass(const ConsoleAccess& a) { return !a.person.empty() && a.admin; }

bool may_search_recordings(const ConsoleAccess& a) {
  return !a.person.empty() && (a.auditor || !a.approver_of.empty());
}

bool may_view_request(const ConsoleAccess& a, const Elevation& e, const Role* request_role) {
  if (a.person.empty()) return false;
  if (e.user == a.person) return true;
  if (approves_for(a, e.customer)) return true;
  if (request_role != nullptr && request_role->internal_approvals > 0 && !request_role->approver_role.empty()) {
    return std::find(a.roles.begin(), a.roles.end(), request_role->approver_role) != a.roles.end();
  }
  return false;
}

}  // namespace bastion::policy
