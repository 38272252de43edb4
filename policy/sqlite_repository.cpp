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

Person read_person(SQLite::Statement& q) {
  Person p;
  p.name = q.getColumn(0).getString();
  parse_person_state(q.getColumn(1).getString(), p.state);
  p.email = q.getColumn(2).getString();
  p.employee_id = q.getColumn(3).getString();
  p.service_account = q.getColumn(4).getInt() != 0;
  p.created_at = q.getColumn(5).getInt64();
  p.department = q.getColumn(6).getString();
  p.left_at = q.getColumn(7).getInt64();
  return p;
}

Role read_role(SQLite::Statement& q) {
  Role r;
  r.name = q.getColumn(0).getString();
  r.target_selector = q.getColumn(1).getString();
  r.logins = split_csv(q.getColumn(2).getString());
  r.allow_port_forwarding = q.getColumn(3).getInt() != 0;
  r.created_at = q.getColumn(4).getInt64();
  r.elevated = q.getColumn(5).getInt() != 0;
  r.max_duration = q.getColumn(6).getInt64();
  r.internal_approvals = q.getColumn(7).getInt();
  r.approver_role = q.getColumn(8).getString();
  // SECURITY: a stored rule that no longer parses demands a step-up every session.
  auto step_up = parse_step_up(q.getColumn(9).getString());
  if (step_up) {
    r.step_up = *step_up;
  } else {
    r.step_up.kind = StepUpRule::Kind::kPerSession;
  }
  return r;
}

constexpr const char* kPersonCols =
    "SELECT name, state, COALESCE(email,''), COALESCE(employee_id,''), service_account, created_at, department, "
    "COALESCE(left_at,0) FROM users";
constexpr const char* kRoleCols =
    "SELECT name, target_selector, logins, allow_port_forwarding, created_at, elevated, max_duration, "
    "internal_approvals, approver_role, step_up FROM roles";

}  // namespace

Result<std::optional<Person>> SqlitePolicyRepository::find_person(const std::string& name) {
  return guarded([&]() -> Result<std::optional<Person>> {
    SQLite::Statement q(sql(db_), std::string(kPersonCols) + " WHERE name = ?");
    q.bind(1, name);
    if (!q.executeStep()) return std::optional<Person>{};
    Person p = read_person(q);
    SQLite::Statement r(sql(db_), "SELECT role_name, source FROM user_roles WHERE user_name = ? ORDER BY role_name");
    r.bind(1, name);
    while (r.executeStep()) {
      p.roles.push_back(r.getColumn(0).getString());
      if (r.getColumn(1).getString() == "hr") p.hr_roles.push_back(r.getColumn(0).getString());
    }
    return std::optional<Person>(std::move(p));
  });
}

Result<std::vector<Person>> SqlitePolicyRepository::list_people() {
  return guarded([&]() -> Result<std::vector<Person>> {
    std::vector<Person> out;
    SQLite::Statement q(sql(db_), std::string(kPersonCols) + " ORDER BY name");
    while (q.executeStep()) out.push_back(read_person(q));
    std::map<std::string, Person*> by_name;
    for (auto& p : out) by_name[p.name] = &p;
    SQLite::Statement r(sql(db_), "SELECT user_name, role_name, source FROM user_roles ORDER BY role_name");
    while (r.executeStep()) {
      auto it = by_name.find(r.getColumn(0).getString());
      if (it == by_name.end()) continue;
      it->second->roles.push_back(r.getColumn(1).getString());
      if (r.getColumn(2).getString() == "hr") it->second->hr_roles.push_back(r.getColumn(1).getString());
    }
    return out;
  });
}

Status SqlitePolicyRepository::add_person(const Person& p) {
  if (!is_valid_name(p.name)) {
    return make_error("invalid user name '" + p.name + "': use 1-64 of A-Z a-z 0-9 . _ -");
  }
  return with_transaction(db_, [&]() -> Status {
    SQLite::Statement exists(sql(db_), "SELECT 1 FROM users WHERE name = ?");
    exists.bind(1, p.name);
    if (exists.executeStep()) return make_error("user " + p.name + " already exists");
    if (!p.employee_id.empty()) {
      SQLite::Statement e(sql(db_), "SELECT name FROM users WHERE employee_id = ?");
      e.bind(1, p.employee_id);
      if (e.executeStep()) {
        return make_error("employee id " + p.employee_id + " already belongs to " + e.getColumn(0).getString());
      }
    }
    for (const auto& role : p.roles) {
      SQLite::Statement r(sql(db_), "SELECT 1 FROM roles WHERE name = ?");
      r.bind(1, role);
      if (!r.executeStep()) return make_error("no such role: " + role + " (add it with `role add`)");
    }
    SQLite::Statement ins(sql(db_),
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
    ins.exec();
    for (const auto& role : p.roles) {
      SQLite::Statement ur(sql(db_), "INSERT OR IGNORE INTO user_roles(user_name, role_name) VALUES (?,?)");
      ur.bind(1, p.name);
      ur.bind(2, role);
      ur.exec();
    }
    return {};
  });
}

Status SqlitePolicyRepository::set_person_state(const std::string& name, PersonState state) {
  return with_transaction(db_, [&]() -> Status {
    SQLite::Statement q(sql(db_), "UPDATE users SET state = ? WHERE name = ?");
    q.bind(1, to_string(state));
    q.bind(2, name);
    if (q.exec() == 0) return make_error("no such user: " + name);
    return {};
  });
}

Status SqlitePolicyRepository::assign_role(const std::string& person, const std::string& role) {
  return with_transaction(db_, [&]() -> Status {
    SQLite::Statement u(sql(db_), "SELECT 1 FROM users WHERE name = ?");
    u.bind(1, person);
    if (!u.executeStep()) return make_error("no such user: " + person);
    SQLite::Statement r(sql(db_), "SELECT 1 FROM roles WHERE name = ?");
    r.bind(1, role);
    if (!r.executeStep()) return make_error("no such role: " + role + " (add it with `role add`)");
    SQLite::Statement has(sql(db_), "SELECT source FROM user_roles WHERE user_name = ? AND role_name = ?");
    has.bind(1, person);
    has.bind(2, role);
    if (has.executeStep()) {
      bool hr = has.getColumn(0).getString() == "hr";
      return make_error(person + " already has role " + role + (hr ? " (from HR)" : ""));
    }
    SQLite::Statement ins(sql(db_), "INSERT INTO user_roles(user_name, role_name, source) VALUES (?,?,'manual')");
    ins.bind(1, person);
    ins.bind(2, role);
    ins.exec();
    return {};
  });
}

Status SqlitePolicyRepository::remove_role(const std::string& person, const std::string& role) {
  return with_transaction(db_, [&]() -> Status {
    SQLite::Statement u(sql(db_), "SELECT 1 FROM users WHERE name = ?");
    u.bind(1, person);
    if (!u.executeStep()) return make_error("no such user: " + person);
    SQLite::Statement del(sql(db_), "DELETE FROM user_roles WHERE user_name = ? AND role_name = ?");
    del.bind(1, person);
    del.bind(2, role);
    if (del.exec() == 0) return make_error(person + " does not have role " + role);
    return {};
  });
}

Status SqlitePolicyRepository::set_person_details(const std::string& name, const std::optional<std::string>& email,
                                                  const std::optional<std::string>& employee_id) {
  return with_transaction(db_, [&]() -> Status {
    SQLite::Statement u(sql(db_), "SELECT 1 FROM users WHERE name = ?");
    u.bind(1, name);
    if (!u.executeStep()) return make_error("no such user: " + name);
    if (email) {
      SQLite::Statement q(sql(db_), "UPDATE users SET email = ? WHERE name = ?");
      if (email->empty()) q.bind(1);
      else q.bind(1, *email);
      q.bind(2, name);
      q.exec();
    }
    if (employee_id) {
      if (!employee_id->empty()) {
        SQLite::Statement e(sql(db_), "SELECT name FROM users WHERE employee_id = ? AND name <> ?");
        e.bind(1, *employee_id);
        e.bind(2, name);
        if (e.executeStep()) {
          return make_error("employee id " + *employee_id + " already belongs to " + e.getColumn(0).getString());
        }
      }
      SQLite::Statement q(sql(db_), "UPDATE users SET employee_id = ? WHERE name = ?");
      if (employee_id->empty()) q.bind(1);
      else q.bind(1, *employee_id);
      q.bind(2, name);
      q.exec();
    }
    return {};
  });
}

Result<std::optional<Role>> SqlitePolicyRepository::find_role(const std::string& name) {
  return guarded([&]() -> Result<std::optional<Role>> {
    SQLite::Statement q(sql(db_), std::string(kRoleCols) + " WHERE name = ?");
    q.bind(1, name);
    if (!q.executeStep()) return std::optional<Role>{};
    return std::optional<Role>(read_role(q));
  });
}

Result<std::vector<Role>> SqlitePolicyRepository::list_roles() {
  return guarded([&]() -> Result<std::vector<Role>> {
    std::vector<Role> out;
    SQLite::Statement q(sql(db_), std::string(kRoleCols) + " ORDER BY name");
    while (q.executeStep()) out.push_back(read_role(q));
    return out;
  });
}

Status SqlitePolicyRepository::add_role(const Role& r) {
  if (!is_valid_name(r.name)) return make_error("invalid role name '" + r.name + "'");
  if (auto sel = TargetSelector::parse(r.target_selector); !sel) return sel.error();
  if (r.logins.empty()) return make_error("a role needs at least one login (--logins root,deploy)");
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
    SQLite::Statement exists(sql(db_), "SELECT 1 FROM roles WHERE name = ?");
    exists.bind(1, r.name);
    if (exists.executeStep()) return make_error("role " + r.name + " already exists");
    if (!r.approver_role.empty()) {
      SQLite::Statement ar(sql(db_), "SELECT 1 FROM roles WHERE name = ?");
      ar.bind(1, r.approver_role);
      if (!ar.executeStep()) return make_error("no such role: " + r.approver_role + " (--approver-role)");
    }
    SQLite::Statement ins(
        sql(db_),
        "INSERT INTO roles(name, target_selector, logins, allow_port_forwarding, created_at, "
        "elevated, max_duration, internal_approvals, approver_role, step_up) VALUES (?,?,?,?,?,?,?,?,?,?)");
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
    ins.exec();
    return {};
  });
}

Result<std::vector<Role>> SqlitePolicyRepository::roles_of(const Person& person) {
  return guarded([&]() -> Result<std::vector<Role>> {
    std::vector<Role> out;
    SQLite::Statement q(sql(db_),
                        "SELECT r.name, r.target_selector, r.logins, r.allow_port_forwarding, r.created_at, "
                        "r.elevated, r.max_duration, r.internal_approvals, r.approver_role, r.step_up "
                        "FROM roles r JOIN user_roles ur ON ur.role_name = r.name "
                        "WHERE ur.user_name = ? ORDER BY r.name");
    q.bind(1, person.name);
    while (q.executeStep()) out.push_back(read_role(q));
    return out;
  });
}

Result<std::optional<Target>> SqlitePolicyRepository::find_target(const std::string& name) {
  return guarded([&]() -> Result<std::optional<Target>> {
    SQLite::Statement q(sql(db_),
                        "SELECT name, host, port, host_key, created_at, recording, COALESCE(customer,''), principals "
                        "FROM targets WHERE name = ?");
    q.bind(1, name);
    if (!q.executeStep()) return std::optional<Target>{};
    Target t;
    t.name = q.getColumn(0).getString();
    t.host = q.getColumn(1).getString();
    t.port = static_cast<uint16_t>(q.getColumn(2).getInt());
    t.host_key = q.getColumn(3).getString();
    t.created_at = q.getColumn(4).getInt64();
    t.recording = q.getColumn(5).getString();
    t.customer = q.getColumn(6).getString();
    t.principals = q.getColumn(7).getString();
    SQLite::Statement l(sql(db_), "SELECT label, value FROM target_labels WHERE target_name = ?");
    l.bind(1, name);
    while (l.executeStep()) t.labels[l.getColumn(0).getString()] = l.getColumn(1).getString();
    return std::optional<Target>(std::move(t));
  });
}

Result<std::vector<Target>> SqlitePolicyRepository::list_targets() {
  auto names = guarded([&]() -> Result<std::vector<std::string>> {
    std::vector<std::string> out;
    SQLite::Statement q(sql(db_), "SELECT name FROM targets ORDER BY name");
    while (q.executeStep()) out.push_back(q.getColumn(0).getString());
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
    SQLite::Statement exists(sql(db_), "SELECT 1 FROM targets WHERE name = ?");
    exists.bind(1, t.name);
    if (exists.executeStep()) return make_error("target " + t.name + " already exists");
    if (!t.customer.empty()) {
      SQLite::Statement c(sql(db_), "SELECT 1 FROM customers WHERE name = ?");
      c.bind(1, t.customer);
      if (!c.executeStep()) return make_error("no such customer: " + t.customer + " (add it with `customer add`)");
    }
    SQLite::Statement ins(
        sql(db_),
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
    ins.exec();
    for (const auto& [k, v] : t.labels) {
      SQLite::Statement l(sql(db_), "INSERT INTO target_labels(target_name, label, value) VALUES (?,?,?)");
      l.bind(1, t.name);
      l.bind(2, k);
      l.bind(3, v);
      l.exec();
    }
    return {};
  });
}

}  // namespace bastion::policy
