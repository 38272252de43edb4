#include "policy/sqlite_repository.h"

#include <map>
#include <sstream>

#include "common/database_sql.h"
#include "common/strings.h"
#include "policy/selector.h"

namespace bastion::policy {
namespace {

std::vector<std::string> split_csv(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

Person read_person(Statement& q) {
  Person p;
  p.name = q.column(0).text();
  parse_person_state(q.column(1).text(), p.state);
  p.email = q.column(2).text();
  p.employee_id = q.column(3).text();
  p.service_account = q.column(4).int32() != 0;
  p.created_at = q.column(5).int64();
  p.department = q.column(6).text();
  p.left_at = q.column(7).int64();
  return p;
}

Role read_role(Statement& q) {
  Role r;
  r.name = q.column(0).text();
  r.target_selector = q.column(1).text();
  r.logins = split_csv(q.column(2).text());
  r.allow_port_forwarding = q.column(3).int32() != 0;
  r.created_at = q.column(4).int64();
  r.elevated = q.column(5).int32() != 0;
  r.max_duration = q.column(6).int64();
  r.internal_approvals = q.column(7).int32();
  r.approver_role = q.column(8).text();
  // SECURITY: a stored rule that no longer parses demands a step-up every session.
  auto step_up = parse_step_up(q.column(9).text());
  if (step_up) {
    r.step_up = *step_up;
  } else {
    r.step_up.kind = StepUpRule::Kind::kPerSession;
  }
  // SECURITY: an unknown stored value gives nothing in the console.
  r.console = q.column(10).text();
  if (!is_console_role(r.console)) r.console.clear();
  return r;
}

constexpr const char* kPersonCols =
    "SELECT name, state, COALESCE(email,''), COALESCE(employee_id,''), service_account, created_at, department, "
    "COALESCE(left_at,0) FROM users";
constexpr const char* kRoleCols =
    "SELECT name, target_selector, logins, allow_port_forwarding, created_at, elevated, max_duration, "
    "internal_approvals, approver_role, step_up, console FROM roles";

}  // namespace

Result<std::optional<Person>> SqlitePolicyRepository::find_person(const std::string& name) {
  return guarded([&]() -> Result<std::optional<Person>> {
    Statement q(db_, std::string(kPersonCols) + " WHERE name = ?");
    q.bind(1, name);
    if (!q.step()) return std::optional<Person>{};
    Person p = read_person(q);
    Statement r(db_, "SELECT role_name, source FROM user_roles WHERE user_name = ? ORDER BY role_name");
    r.bind(1, name);
    while (r.step()) {
      p.roles.push_back(r.column(0).text());
      if (r.column(1).text() == "hr") p.hr_roles.push_back(r.column(0).text());
    }
    return std::optional<Person>(std::move(p));
  });
}

Result<std::vector<Person>> SqlitePolicyRepository::list_people() {
  return guarded([&]() -> Result<std::vector<Person>> {
    std::vector<Person> out;
    Statement q(db_, std::string(kPersonCols) + " ORDER BY name");
    while (q.step()) out.push_back(read_person(q));
    std::map<std::string, Person*> by_name;
    for (auto& p : out) by_name[p.name] = &p;
    Statement r(db_, "SELECT user_name, role_name, source FROM user_roles ORDER BY role_name");
    while (r.step()) {
      auto it = by_name.find(r.column(0).text());
      if (it == by_name.end()) continue;
      it->second->roles.push_back(r.column(1).text());
      if (r.column(2).text() == "hr") it->second->hr_roles.push_back(r.column(1).text());
    }
    return out;
  });
}

Result<std::vector<Person>> SqlitePolicyRepository::holders_of(const std::string& role) {
  return guarded([&]() -> Result<std::vector<Person>> {
    std::vector<Person> out;
    Statement q(db_, std::string(kPersonCols) +
                         " WHERE name IN (SELECT user_name FROM user_roles WHERE role_name = ?) ORDER BY name");
    q.bind(1, role);
    while (q.step()) out.push_back(read_person(q));
    return out;
  });
}

Status SqlitePolicyRepository::add_person(const Person& p) {
  if (!is_valid_name(p.name)) {
    return make_error("invalid user name '" + p.name + "': use 1-64 of A-Z a-z 0-9 . _ -");
  }
  return with_transaction(db_, [&]() -> Status {
    Statement exists(db_, "SELECT 1 FROM users WHERE name = ?");
    exists.bind(1, p.name);
    if (exists.step()) return make_error("user " + p.name + " already exists");
    if (!p.employee_id.empty()) {
      Statement e(db_, "SELECT name FROM users WHERE employee_id = ?");
      e.bind(1, p.employee_id);
      if (e.step()) {
        return make_error("employee id " + p.employee_id + " already belongs to " + e.column(0).text());
      }
    }
    for (const auto& role : p.roles) {
      Statement r(db_, "SELECT 1 FROM roles WHERE name = ?");
      r.bind(1, role);
      if (!r.step()) return make_error("no such role: " + role + " (add it with `role add`)");
    }
    Statement ins(db_,
                  "INSERT INTO users(name, state, email, employee_id, service_account, created_at) "
                  "VALUES (?,?,?,?,?,?)");
    ins.bind(1, p.name);
    ins.bind(2, to_string(p.state));
    if (p.email.empty()) ins.bind(3);
    else ins.bind(3, p.email);
    if (p.employee_id.empty()) ins.bind(4);
    else ins.bind(4, p.employee_id);
    ins.bind(5, p.service_account ? 1 : 0);
    ins.bind(6, static_cast<int64_t>(clock_.now()));
    ins.run();
    for (const auto& role : p.roles) {
      Statement ur(db_, "INSERT INTO user_roles(user_name, role_name) VALUES (?,?) ON CONFLICT DO NOTHING");
      ur.bind(1, p.name);
      ur.bind(2, role);
      ur.run();
    }
    return {};
  });
}

Status SqlitePolicyRepository::set_person_state(const std::string& name, PersonState state) {
  return with_transaction(db_, [&]() -> Status {
    Statement q(db_, "UPDATE users SET state = ? WHERE name = ?");
    q.bind(1, to_string(state));
    q.bind(2, name);
    if (q.run() == 0) return make_error("no such user: " + name);
    return {};
  });
}

Status SqlitePolicyRepository::assign_role(const std::string& person, const std::string& role) {
  return with_transaction(db_, [&]() -> Status {
    Statement u(db_, "SELECT 1 FROM users WHERE name = ?");
    u.bind(1, person);
    if (!u.step()) return make_error("no such user: " + person);
    Statement r(db_, "SELECT 1 FROM roles WHERE name = ?");
    r.bind(1, role);
    if (!r.step()) return make_error("no such role: " + role + " (add it with `role add`)");
    Statement has(db_, "SELECT source FROM user_roles WHERE user_name = ? AND role_name = ?");
    has.bind(1, person);
    has.bind(2, role);
    if (has.step()) {
      bool hr = has.column(0).text() == "hr";
      return make_error(person + " already has role " + role + (hr ? " (from HR)" : ""));
    }
    Statement ins(db_, "INSERT INTO user_roles(user_name, role_name, source) VALUES (?,?,'manual')");
    ins.bind(1, person);
    ins.bind(2, role);
    ins.run();
    return {};
  });
}

Status SqlitePolicyRepository::remove_role(const std::string& person, const std::string& role) {
  return with_transaction(db_, [&]() -> Status {
    Statement u(db_, "SELECT 1 FROM users WHERE name = ?");
    u.bind(1, person);
    if (!u.step()) return make_error("no such user: " + person);
    Statement del(db_, "DELETE FROM user_roles WHERE user_name = ? AND role_name = ?");
    del.bind(1, person);
    del.bind(2, role);
    if (del.run() == 0) return make_error(person + " does not have role " + role);
    return {};
  });
}

Status SqlitePolicyRepository::set_person_details(const std::string& name, const std::optional<std::string>& email,
                                                  const std::optional<std::string>& employee_id) {
  return with_transaction(db_, [&]() -> Status {
    Statement u(db_, "SELECT 1 FROM users WHERE name = ?");
    u.bind(1, name);
    if (!u.step()) return make_error("no such user: " + name);
    if (email) {
      Statement q(db_, "UPDATE users SET email = ? WHERE name = ?");
      if (email->empty()) q.bind(1);
      else q.bind(1, *email);
      q.bind(2, name);
      q.run();
    }
    if (employee_id) {
      if (!employee_id->empty()) {
        Statement e(db_, "SELECT name FROM users WHERE employee_id = ? AND name <> ?");
        e.bind(1, *employee_id);
        e.bind(2, name);
        if (e.step()) {
          return make_error("employee id " + *employee_id + " already belongs to " + e.column(0).text());
        }
      }
      Statement q(db_, "UPDATE users SET employee_id = ? WHERE name = ?");
      if (employee_id->empty()) q.bind(1);
      else q.bind(1, *employee_id);
      q.bind(2, name);
      q.run();
    }
    return {};
  });
}

Result<std::optional<Role>> SqlitePolicyRepository::find_role(const std::string& name) {
  return guarded([&]() -> Result<std::optional<Role>> {
    Statement q(db_, std::string(kRoleCols) + " WHERE name = ?");
    q.bind(1, name);
    if (!q.step()) return std::optional<Role>{};
    return std::optional<Role>(read_role(q));
  });
}

Result<std::vector<Role>> SqlitePolicyRepository::list_roles() {
  return guarded([&]() -> Result<std::vector<Role>> {
    std::vector<Role> out;
    Statement q(db_, std::string(kRoleCols) + " ORDER BY name");
    while (q.step()) out.push_back(read_role(q));
    return out;
  });
}

Status SqlitePolicyRepository::add_role(const Role& r) {
  if (!is_valid_name(r.name)) return make_error("invalid role name '" + r.name + "'");
  if (!is_console_role(r.console)) {
    return make_error("--console must be auditor or admin, not '" + r.console + "'");
  }
  const bool console_only = !r.console.empty() && r.target_selector.empty() && r.logins.empty();
  if (console_only && (r.elevated || r.allow_port_forwarding)) {
    return make_error("a console-only role (no --targets, no --logins) cannot be --elevated or allow port forwarding");
  }
  if (!console_only) {
    if (r.target_selector.empty()) {
      return make_error("a role needs --targets and --logins (or only --console auditor|admin for a console role)");
    }
    if (auto sel = TargetSelector::parse(r.target_selector); !sel) return sel.error();
    if (r.logins.empty()) return make_error("a role needs at least one login (--logins root,deploy)");
  }
  for (const auto& l : r.logins) {
    if (!is_valid_name(l)) return make_error("invalid login '" + l + "'");
  }
  if (!r.elevated && (r.max_duration != 0 || r.internal_approvals != 0 || !r.approver_role.empty())) {
    return make_error("--max-duration, --internal-approvals and --approver-role apply only to --elevated roles");
  }
  if (r.max_duration < 0) return make_error("--max-duration must be positive");
  if (r.internal_approvals < 0 || r.internal_approvals > 5) return make_error("--internal-approvals must be 0-5");
  if (r.internal_approvals > 0 && r.approver_role.empty()) {
    return make_error("--internal-approvals needs --approver-role (whose holders approve)");
  }
  return with_transaction(db_, [&]() -> Status {
    Statement exists(db_, "SELECT 1 FROM roles WHERE name = ?");
    exists.bind(1, r.name);
    if (exists.step()) return make_error("role " + r.name + " already exists");
    if (!r.approver_role.empty()) {
      Statement ar(db_, "SELECT 1 FROM roles WHERE name = ?");
      ar.bind(1, r.approver_role);
      if (!ar.step()) return make_error("no such role: " + r.approver_role + " (--approver-role)");
    }
    Statement ins(db_,
                  "INSERT INTO roles(name, target_selector, logins, allow_port_forwarding, created_at, "
                  "elevated, max_duration, internal_approvals, approver_role, step_up, console) "
                  "VALUES (?,?,?,?,?,?,?,?,?,?,?)");
    ins.bind(1, r.name);
    ins.bind(2, r.target_selector);
    ins.bind(3, join(r.logins, ","));
    ins.bind(4, r.allow_port_forwarding ? 1 : 0);
    ins.bind(5, static_cast<int64_t>(clock_.now()));
    ins.bind(6, r.elevated ? 1 : 0);
    ins.bind(7, static_cast<int64_t>(r.max_duration));
    ins.bind(8, r.internal_approvals);
    ins.bind(9, r.approver_role);
    ins.bind(10, to_string(r.step_up));
    ins.bind(11, r.console);
    ins.run();
    return {};
  });
}

Result<std::vector<Role>> SqlitePolicyRepository::roles_of(const Person& person) {
  return guarded([&]() -> Result<std::vector<Role>> {
    std::vector<Role> out;
    Statement q(db_,
                "SELECT r.name, r.target_selector, r.logins, r.allow_port_forwarding, r.created_at, "
                "r.elevated, r.max_duration, r.internal_approvals, r.approver_role, r.step_up, r.console "
                "FROM roles r JOIN user_roles ur ON ur.role_name = r.name "
                "WHERE ur.user_name = ? ORDER BY r.name");
    q.bind(1, person.name);
    while (q.step()) out.push_back(read_role(q));
    return out;
  });
}

Result<std::optional<Target>> SqlitePolicyRepository::find_target(const std::string& name) {
  return guarded([&]() -> Result<std::optional<Target>> {
    Statement q(db_,
                "SELECT name, host, port, host_key, created_at, recording, COALESCE(customer,''), principals "
                "FROM targets WHERE name = ?");
    q.bind(1, name);
    if (!q.step()) return std::optional<Target>{};
    Target t;
    t.name = q.column(0).text();
    t.host = q.column(1).text();
    t.port = static_cast<uint16_t>(q.column(2).int32());
    t.host_key = q.column(3).text();
    t.created_at = q.column(4).int64();
    t.recording = q.column(5).text();
    t.customer = q.column(6).text();
    t.principals = q.column(7).text();
    Statement l(db_, "SELECT label, value FROM target_labels WHERE target_name = ?");
    l.bind(1, name);
    while (l.step()) t.labels[l.column(0).text()] = l.column(1).text();
    return std::optional<Target>(std::move(t));
  });
}

Result<std::vector<Target>> SqlitePolicyRepository::list_targets() {
  auto names = guarded([&]() -> Result<std::vector<std::string>> {
    std::vector<std::string> out;
    Statement q(db_, "SELECT name FROM targets ORDER BY name");
    while (q.step()) out.push_back(q.column(0).text());
    return out;
  });
  if (!names) return names.error();
  std::vector<Target> out;
  for (const auto& n : *names) {
    auto t = find_target(n);
    if (!t) return t.error();
    if (*t) out.push_back(**t);
  }
  return out;
}

Status SqlitePolicyRepository::add_target(const Target& t) {
  if (!is_valid_name(t.name)) return make_error("invalid target name '" + t.name + "'");
  if (t.host.empty()) return make_error("target needs an address (--address HOST[:PORT])");
  if (t.recording != "strict" && t.recording != "best-effort" && t.recording != "off") {
    return make_error("recording must be strict, best-effort or off, not '" + t.recording + "'");
  }
  if (t.principals != "login" && t.principals != "login@target") {
    return make_error("principals must be login or login@target, not '" + t.principals + "'");
  }
  for (const auto& [k, v] : t.labels) {
    if (!is_valid_name(k) || v.empty() || v.size() > 128) {
      return make_error("invalid label '" + k + "=" + v + "'");
    }
    if (k == "customer") return make_error("'customer' is not a label; use --customer NAME");
  }
  return with_transaction(db_, [&]() -> Status {
    Statement exists(db_, "SELECT 1 FROM targets WHERE name = ?");
    exists.bind(1, t.name);
    if (exists.step()) return make_error("target " + t.name + " already exists");
    if (!t.customer.empty()) {
      Statement c(db_, "SELECT 1 FROM customers WHERE name = ?");
      c.bind(1, t.customer);
      if (!c.step()) return make_error("no such customer: " + t.customer + " (add it with `customer add`)");
    }
    Statement ins(db_,
                  "INSERT INTO targets(name, host, port, host_key, created_at, recording, customer, principals) "
                  "VALUES (?,?,?,?,?,?,?,?)");
    ins.bind(1, t.name);
    ins.bind(2, t.host);
    ins.bind(3, static_cast<int>(t.port));
    ins.bind(4, t.host_key);
    ins.bind(5, static_cast<int64_t>(clock_.now()));
    ins.bind(6, t.recording);
    if (t.customer.empty()) ins.bind(7);
    else ins.bind(7, t.customer);
    ins.bind(8, t.principals);
    ins.run();
    for (const auto& [k, v] : t.labels) {
      Statement l(db_, "INSERT INTO target_labels(target_name, label, value) VALUES (?,?,?)");
      l.bind(1, t.name);
      l.bind(2, k);
      l.bind(3, v);
      l.run();
    }
    return {};
  });
}

Status SqlitePolicyRepository::set_target_host_key(const std::string& name, const std::string& host_key) {
  if (host_key.empty()) return make_error("a target's host key cannot be empty");
  return with_transaction(db_, [&]() -> Status {
    Statement q(db_, "UPDATE targets SET host_key = ? WHERE name = ?");
    q.bind(1, host_key);
    q.bind(2, name);
    if (q.run() == 0) return make_error("no such target: " + name);
    return {};
  });
}

}  // namespace bastion::policy
