// SqlitePolicyRepository: customers, approvers, elevation requests and grants.
#include <algorithm>

#include "common/database_sql.h"
#include "policy/sqlite_repository.h"

namespace bastion::policy {
namespace {

constexpr const char* kElevationCols =
    "SELECT id, COALESCE(grant_id,''), user_name, target, login, role, customer, reason, duration, created_at, "
    "expires_at, state, break_glass, decided_by, COALESCE(decided_at,0), decision_reason, COALESCE(starts_at,0), "
    "COALESCE(ends_at,0), ended_by, COALESCE(ended_at,0), end_reason FROM elevations";

Elevation read_elevation(Statement& q) {
  Elevation e;
  e.id = q.column(0).text();
  e.grant_id = q.column(1).text();
  e.user = q.column(2).text();
  e.target = q.column(3).text();
  e.login = q.column(4).text();
  e.role = q.column(5).text();
  e.customer = q.column(6).text();
  e.reason = q.column(7).text();
  e.duration = q.column(8).int64();
  e.created_at = q.column(9).int64();
  e.expires_at = q.column(10).int64();
  // SECURITY: an unreadable state is treated as revoked (never as approved).
  if (!parse_elevation_state(q.column(11).text(), e.state)) e.state = ElevationState::kRevoked;
  e.break_glass = q.column(12).int32() != 0;
  e.decided_by = q.column(13).text();
  e.decided_at = q.column(14).int64();
  e.decision_reason = q.column(15).text();
  e.starts_at = q.column(16).int64();
  e.ends_at = q.column(17).int64();
  e.ended_by = q.column(18).text();
  e.ended_at = q.column(19).int64();
  e.end_reason = q.column(20).text();
  return e;
}

void load_approvals(Database& db, Elevation& e) {
  Statement q(db, "SELECT approver, kind, duration, at FROM elevation_approvals WHERE request_id = ? ORDER BY at");
  q.bind(1, e.id);
  while (q.step()) {
    e.approvals.push_back({q.column(0).text(), q.column(1).text(), q.column(2).int64(), q.column(3).int64()});
  }
}

std::optional<Elevation> select_elevation(Database& db, const std::string& id) {
  Statement q(db, std::string(kElevationCols) + " WHERE id = ? OR grant_id = ?");
  q.bind(1, id);
  q.bind(2, id);
  if (!q.step()) return std::nullopt;
  Elevation e = read_elevation(q);
  load_approvals(db, e);
  return e;
}

Status require_row(Database& db, const char* sql, const std::string& key, const std::string& what) {
  Statement q(db, sql);
  q.bind(1, key);
  if (!q.step()) return make_error("no such " + what + ": " + key);
  return {};
}

}  // namespace

Result<std::optional<Customer>> SqlitePolicyRepository::find_customer(const std::string& name) {
  return guarded([&]() -> Result<std::optional<Customer>> {
    Statement q(db_, "SELECT name, created_at FROM customers WHERE name = ?");
    q.bind(1, name);
    if (!q.step()) return std::optional<Customer>{};
    Customer c{q.column(0).text(), {}, q.column(1).int64()};
    Statement a(db_, "SELECT user_name FROM customer_approvers WHERE customer = ? ORDER BY user_name");
    a.bind(1, name);
    while (a.step()) c.approvers.push_back(a.column(0).text());
    return std::optional<Customer>(std::move(c));
  });
}

Result<std::vector<Customer>> SqlitePolicyRepository::list_customers() {
  auto names = guarded([&]() -> Result<std::vector<std::string>> {
    std::vector<std::string> out;
    Statement q(db_, "SELECT name FROM customers ORDER BY name");
    while (q.step()) out.push_back(q.column(0).text());
    return out;
  });
  if (!names) return names.error();
  std::vector<Customer> out;
  for (const auto& n : *names) {
    auto c = find_customer(n);
    if (!c) return c.error();
    if (*c) out.push_back(std::move(**c));
  }
  return out;
}

Status SqlitePolicyRepository::add_customer(const std::string& name) {
  if (!is_valid_name(name)) return make_error("invalid customer name '" + name + "': use 1-64 of A-Z a-z 0-9 . _ -");
  return with_transaction(db_, [&]() -> Status {
    Statement exists(db_, "SELECT 1 FROM customers WHERE name = ?");
    exists.bind(1, name);
    if (exists.step()) return make_error("customer " + name + " already exists");
    Statement ins(db_, "INSERT INTO customers(name, created_at) VALUES (?,?)");
    ins.bind(1, name);
    ins.bind(2, static_cast<int64_t>(clock_.now()));
    ins.run();
    return {};
  });
}

Status SqlitePolicyRepository::add_approver(const std::string& customer, const std::string& person) {
  return with_transaction(db_, [&]() -> Status {
    if (auto st = require_row(db_, "SELECT 1 FROM customers WHERE name = ?", customer, "customer"); !st) return st;
    if (auto st = require_row(db_, "SELECT 1 FROM users WHERE name = ?", person, "user"); !st) return st;
    Statement ins(db_,
                  "INSERT INTO customer_approvers(customer, user_name, created_at) VALUES (?,?,?) "
                  "ON CONFLICT DO NOTHING");
    ins.bind(1, customer);
    ins.bind(2, person);
    ins.bind(3, static_cast<int64_t>(clock_.now()));
    if (ins.run() == 0) return make_error(person + " is already an approver for " + customer);
    return {};
  });
}

Status SqlitePolicyRepository::remove_approver(const std::string& customer, const std::string& person) {
  return with_transaction(db_, [&]() -> Status {
    Statement del(db_, "DELETE FROM customer_approvers WHERE customer = ? AND user_name = ?");
    del.bind(1, customer);
    del.bind(2, person);
    if (del.run() == 0) return make_error(person + " is not an approver for " + customer);
    return {};
  });
}

Result<std::optional<Elevation>> SqlitePolicyRepository::find_elevation(const std::string& id) {
  return guarded([&]() -> Result<std::optional<Elevation>> { return select_elevation(db_, id); });
}

Result<std::vector<Elevation>> SqlitePolicyRepository::list_elevations(const std::string& user, bool open_only) {
  return guarded([&]() -> Result<std::vector<Elevation>> {
    std::vector<Elevation> out;
    std::string where = open_only ? " WHERE state IN ('pending','approved')" : " WHERE 1=1";
    if (!user.empty()) where += " AND user_name = ?";
    std::string statement = std::string(kElevationCols) + where + " ORDER BY created_at DESC, id";
    Statement q(db_, statement);
    if (!user.empty()) q.bind(1, user);
    while (q.step()) out.push_back(read_elevation(q));
    for (auto& e : out) load_approvals(db_, e);
    return out;
  });
}

Result<std::vector<Elevation>> SqlitePolicyRepository::approved_on_target(const std::string& target) {
  return guarded([&]() -> Result<std::vector<Elevation>> {
    std::vector<Elevation> out;
    // elevations_state narrows to the approved ones: those in force or about to end.
    Statement q(db_,
                std::string(kElevationCols) + " WHERE state = 'approved' AND target = ? ORDER BY created_at DESC, id");
    q.bind(1, target);
    while (q.step()) out.push_back(read_elevation(q));
    for (auto& e : out) load_approvals(db_, e);
    return out;
  });
}

Result<std::vector<Elevation>> SqlitePolicyRepository::pending_elevations() {
  return guarded([&]() -> Result<std::vector<Elevation>> {
    std::vector<Elevation> out;
    Statement q(db_, std::string(kElevationCols) + " WHERE state = 'pending' ORDER BY created_at, id");
    while (q.step()) out.push_back(read_elevation(q));
    for (auto& e : out) load_approvals(db_, e);
    return out;
  });
}

Result<std::vector<Elevation>> SqlitePolicyRepository::recent_elevations(const std::string& user,
                                                                         const std::vector<std::string>& customers,
                                                                         const std::vector<std::string>& roles,
                                                                         size_t limit) {
  return guarded([&]() -> Result<std::vector<Elevation>> {
    std::vector<Elevation> out;
    // One indexed query per key (elevations_user_created, _customer_created,
    // _role_created), each at most `limit` rows; merged newest first.
    auto take = [&](const char* column, const std::string& value) {
      Statement q(db_, std::string(kElevationCols) + " WHERE " + column + " = ? ORDER BY created_at DESC, id LIMIT ?");
      q.bind(1, value);
      q.bind(2, static_cast<int64_t>(limit));
      while (q.step()) out.push_back(read_elevation(q));
    };
    if (!user.empty()) {
      take("user_name", user);
    } else {
      for (const auto& c : customers) {
        if (!c.empty()) take("customer", c);
      }
      for (const auto& r : roles) {
        if (!r.empty()) take("role", r);
      }
    }
    std::sort(out.begin(), out.end(), [](const Elevation& a, const Elevation& b) {
      return a.created_at != b.created_at ? a.created_at > b.created_at : a.id < b.id;
    });
    out.erase(std::unique(out.begin(), out.end(), [](const Elevation& a, const Elevation& b) { return a.id == b.id; }),
              out.end());
    if (out.size() > limit) out.resize(limit);
    for (auto& e : out) load_approvals(db_, e);
    return out;
  });
}

Result<int64_t> SqlitePolicyRepository::count_active_grants(Micros now) {
  return guarded([&]() -> Result<int64_t> {
    Statement q(db_, "SELECT COUNT(*) FROM elevations WHERE state = 'approved' AND starts_at <= ? AND ends_at > ?");
    q.bind(1, static_cast<int64_t>(now));
    q.bind(2, static_cast<int64_t>(now));
    q.step();
    return q.column(0).int64();
  });
}

Status SqlitePolicyRepository::add_elevation(const Elevation& e) {
  if (e.id.empty() || !is_valid_name(e.user) || !is_valid_name(e.target) || !is_valid_name(e.login)) {
    return make_error("invalid elevation record");
  }
  if (e.state != ElevationState::kPending && !(e.state == ElevationState::kApproved && e.break_glass)) {
    return make_error("a new elevation is a pending request or a break-glass grant");
  }
  return with_transaction(db_, [&]() -> Status {
    if (auto st = require_row(db_, "SELECT 1 FROM users WHERE name = ?", e.user, "user"); !st) return st;
    Statement ins(
        db_,
        "INSERT INTO elevations(id, grant_id, user_name, target, login, role, customer, reason, duration, created_at, "
        "expires_at, state, break_glass, decided_by, decided_at, starts_at, ends_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    ins.bind(1, e.id);
    if (e.grant_id.empty()) ins.bind(2);
    else ins.bind(2, e.grant_id);
    ins.bind(3, e.user);
    ins.bind(4, e.target);
    ins.bind(5, e.login);
    ins.bind(6, e.role);
    ins.bind(7, e.customer);
    ins.bind(8, e.reason);
    ins.bind(9, static_cast<int64_t>(e.duration));
    ins.bind(10, static_cast<int64_t>(e.created_at));
    ins.bind(11, static_cast<int64_t>(e.expires_at));
    ins.bind(12, to_string(e.state));
    ins.bind(13, e.break_glass ? 1 : 0);
    ins.bind(14, e.decided_by);
    if (e.decided_at) ins.bind(15, static_cast<int64_t>(e.decided_at));
    else ins.bind(15);
    if (e.starts_at) ins.bind(16, static_cast<int64_t>(e.starts_at));
    else ins.bind(16);
    if (e.ends_at) ins.bind(17, static_cast<int64_t>(e.ends_at));
    else ins.bind(17);
    ins.run();
    return {};
  });
}

Result<Elevation> SqlitePolicyRepository::approve_elevation(const std::string& id, const Approval& a,
                                                            int internal_needed, Micros max_length,
                                                            const std::string& grant_id) {
  std::optional<Elevation> out;
  auto st = with_transaction(db_, [&]() -> Status {
    auto e = select_elevation(db_, id);
    if (!e) return make_error("no such request: " + id);
    // Re-checked under the write lock: another approver, a revocation or the
    // expiry may have come first.
    if (e->state_at(a.at) != ElevationState::kPending) {
      return make_error("request " + e->id + " is " + to_string(e->state_at(a.at)));
    }
    for (const auto& prior : e->approvals) {
      if (prior.approver == a.approver) return make_error("you already approved request " + e->id);
      if (prior.kind == "customer" && a.kind == "customer") {
        return make_error("customer " + e->customer + " already consented to " + e->id);
      }
    }
    Statement ins(db_, "INSERT INTO elevation_approvals(request_id, approver, kind, duration, at) VALUES (?,?,?,?,?)");
    ins.bind(1, e->id);
    ins.bind(2, a.approver);
    ins.bind(3, a.kind);
    ins.bind(4, static_cast<int64_t>(a.duration));
    ins.bind(5, static_cast<int64_t>(a.at));
    ins.run();
    e->approvals.push_back(a);
    int customer = 0, internal = 0;
    Micros length = std::min(e->duration, max_length);
    for (const auto& x : e->approvals) {
      (x.kind == "customer" ? customer : internal) += 1;
      if (x.duration > 0) length = std::min(length, x.duration);
    }
    if (customer >= 1 && internal >= internal_needed) {
      Statement up(db_,
                   "UPDATE elevations SET state = 'approved', grant_id = ?, decided_by = ?, decided_at = ?, "
                   "starts_at = ?, ends_at = ?, duration = ? WHERE id = ? AND state = 'pending'");
      up.bind(1, grant_id);
      up.bind(2, a.approver);
      up.bind(3, static_cast<int64_t>(a.at));
      up.bind(4, static_cast<int64_t>(a.at));
      up.bind(5, static_cast<int64_t>(a.at + length));
      up.bind(6, static_cast<int64_t>(length));
      up.bind(7, e->id);
      if (up.run() != 1) return make_error("request " + e->id + " is no longer pending");
      e->state = ElevationState::kApproved;
      e->grant_id = grant_id;
      e->decided_by = a.approver;
      e->decided_at = a.at;
      e->starts_at = a.at;
      e->ends_at = a.at + length;
      e->duration = length;
    }
    out = std::move(*e);
    return {};
  });
  if (!st) return st.error();
  return std::move(*out);
}

Status SqlitePolicyRepository::deny_elevation(const std::string& id, const std::string& by, const std::string& reason,
                                              Micros at) {
  return with_transaction(db_, [&]() -> Status {
    Statement up(db_,
                 "UPDATE elevations SET state = 'denied', decided_by = ?, decided_at = ?, decision_reason = ? "
                 "WHERE (id = ? OR grant_id = ?) AND state = 'pending' AND expires_at > ?");
    up.bind(1, by);
    up.bind(2, static_cast<int64_t>(at));
    up.bind(3, reason);
    up.bind(4, id);
    up.bind(5, id);
    up.bind(6, static_cast<int64_t>(at));
    if (up.run() != 1) return make_error("request " + id + " is not pending");
    return {};
  });
}

Status SqlitePolicyRepository::end_elevation(const std::string& id, ElevationState state, const std::string& by,
                                             const std::string& reason, Micros at) {
  if (state != ElevationState::kRevoked && state != ElevationState::kExpired) {
    return make_error("an elevation ends as revoked or expired");
  }
  return with_transaction(db_, [&]() -> Status {
    Statement up(db_,
                 "UPDATE elevations SET state = ?, ended_by = ?, ended_at = ?, end_reason = ? "
                 "WHERE (id = ? OR grant_id = ?) AND state IN ('pending','approved')");
    up.bind(1, to_string(state));
    up.bind(2, by);
    up.bind(3, static_cast<int64_t>(at));
    up.bind(4, reason);
    up.bind(5, id);
    up.bind(6, id);
    if (up.run() != 1) return make_error(id + " is no longer pending or active");
    return {};
  });
}

}  // namespace bastion::policy
