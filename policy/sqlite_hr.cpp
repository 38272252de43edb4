// SqlitePolicyRepository: the HR feed's state and the atomic application of
// one HR event.
#include <algorithm>

#include "common/database_sql.h"
#include "policy/sqlite_repository.h"

namespace bastion::policy {
namespace {

std::vector<std::string> column_strings(Statement& q) {
  std::vector<std::string> out;
  while (q.step()) out.push_back(q.column(0).text());
  return out;
}

constexpr const char* kEventCols =
    "SELECT event_id, batch_id, line, state, reason, payload, arrival, COALESCE(applied_at,0) FROM hr_events";

StoredHrEvent read_event(Statement& q) {
  StoredHrEvent s;
  s.batch_id = q.column(1).text();
  s.state = q.column(3).text();
  s.reason = q.column(4).text();
  if (auto e = parse_hr_json(q.column(5).text(), false)) s.event = *e;
  s.event.event_id = q.column(0).text();
  s.event.line = q.column(2).int32();
  s.arrival = q.column(6).int64();
  s.applied_at = q.column(7).int64();
  return s;
}

// Sets the person's HR-given roles to `wanted`; manual roles are left alone.
Status set_hr_roles(Database& db, const std::string& person, const std::vector<std::string>& wanted, HrChanges& ch) {
  for (const auto& r : wanted) {
    Statement q(db, "SELECT 1 FROM roles WHERE name = ?");
    q.bind(1, r);
    if (!q.step()) return make_error("the department maps to role " + r + ", which does not exist");
  }
  Statement cur(db, "SELECT role_name FROM user_roles WHERE user_name = ? AND source = 'hr'");
  cur.bind(1, person);
  std::vector<std::string> have = column_strings(cur);
  for (const auto& r : have) {
    if (std::find(wanted.begin(), wanted.end(), r) != wanted.end()) continue;
    Statement del(db, "DELETE FROM user_roles WHERE user_name = ? AND role_name = ? AND source = 'hr'");
    del.bind(1, person);
    del.bind(2, r);
    del.run();
    ch.roles_removed.push_back(r);
  }
  for (const auto& r : wanted) {
    if (std::find(have.begin(), have.end(), r) != have.end()) continue;
    Statement ins(db, "INSERT INTO user_roles(user_name, role_name, source) VALUES (?,?,'hr') ON CONFLICT DO NOTHING");
    ins.bind(1, person);
    ins.bind(2, r);
    if (ins.run() == 1) ch.roles_added.push_back(r);
  }
  return {};
}

Status leave(Database& db, const std::string& person, const std::string& event_id, Micros now, HrChanges& ch) {
  Statement u(db, "UPDATE users SET state = 'left', left_at = ? WHERE name = ?");
  u.bind(1, static_cast<int64_t>(now));
  u.bind(2, person);
  u.run();
  ch.left = true;
  Statement keys(db, "SELECT fingerprint FROM ssh_keys WHERE user_name = ? AND state = 'active' ORDER BY fingerprint");
  keys.bind(1, person);
  ch.keys_revoked = column_strings(keys);
  Statement rk(db, "UPDATE ssh_keys SET state = 'revoked', revoked_at = ? WHERE user_name = ? AND state = 'active'");
  rk.bind(1, static_cast<int64_t>(now));
  rk.bind(2, person);
  rk.run();
  // The security keys registered for step-ups go too: a leaver's
  // authenticator must not approve anything (an elevation, say) any more.
  Statement creds(db, "SELECT id FROM webauthn_credentials WHERE user_name = ? AND state != 'revoked' ORDER BY id");
  creds.bind(1, person);
  ch.credentials_revoked = column_strings(creds);
  Statement rc(db,
               "UPDATE webauthn_credentials SET state = 'revoked', state_reason = ? WHERE user_name = ? "
               "AND state != 'revoked'");
  rc.bind(1, "left (HR event " + event_id + ")");
  rc.bind(2, person);
  rc.run();
  Statement els(db,
                "SELECT id, COALESCE(grant_id,''), state FROM elevations WHERE user_name = ? AND "
                "state IN ('pending','approved') ORDER BY created_at");
  els.bind(1, person);
  while (els.step()) {
    if (els.column(2).text() == "approved") ch.grants_revoked.push_back(els.column(1).text());
    else ch.requests_cancelled.push_back(els.column(0).text());
  }
  Statement re(db,
               "UPDATE elevations SET state = 'revoked', ended_by = ?, ended_at = ?, end_reason = ? "
               "WHERE user_name = ? AND state IN ('pending','approved')");
  re.bind(1, "hr:" + event_id);
  re.bind(2, static_cast<int64_t>(now));
  re.bind(3, person + " left (HR event " + event_id + ")");
  re.bind(4, person);
  re.run();
  Statement ap(db, "SELECT customer FROM customer_approvers WHERE user_name = ? ORDER BY customer");
  ap.bind(1, person);
  ch.approver_removed = column_strings(ap);
  Statement da(db, "DELETE FROM customer_approvers WHERE user_name = ?");
  da.bind(1, person);
  da.run();
  return {};
}

std::string event_state(HrPlan::Action a) {
  switch (a) {
    case HrPlan::Action::kSchedule: return "scheduled";
    case HrPlan::Action::kSupersede: return "superseded";
    case HrPlan::Action::kReject: return "rejected";
    default: return "applied";
  }
}

}  // namespace

Result<std::optional<Person>> SqlitePolicyRepository::find_person_by_employee(const std::string& employee_id) {
  auto name = guarded([&]() -> Result<std::string> {
    Statement q(db_, "SELECT name FROM users WHERE employee_id = ?");
    q.bind(1, employee_id);
    return q.step() ? q.column(0).text() : std::string();
  });
  if (!name) return name.error();
  if (name->empty()) return std::optional<Person>{};
  return find_person(*name);
}

Result<HrHistory> SqlitePolicyRepository::hr_history(const std::string& employee_id) {
  return guarded([&]() -> Result<HrHistory> {
    Statement q(
        db_,
        "SELECT COUNT(*), COALESCE(MAX(effective_at),0) FROM hr_events WHERE employee_id = ? AND state = 'applied'");
    q.bind(1, employee_id);
    HrHistory h;
    if (q.step()) {
      h.any = q.column(0).int64() > 0;
      h.last_effective_at = q.column(1).int64();
    }
    return h;
  });
}

Result<std::optional<StoredHrEvent>> SqlitePolicyRepository::find_hr_event(const std::string& event_id) {
  return guarded([&]() -> Result<std::optional<StoredHrEvent>> {
    Statement q(db_, std::string(kEventCols) + " WHERE event_id = ?");
    q.bind(1, event_id);
    if (!q.step()) return std::optional<StoredHrEvent>{};
    return std::optional<StoredHrEvent>(read_event(q));
  });
}

Result<std::vector<StoredHrEvent>> SqlitePolicyRepository::list_hr_events(const std::string& state,
                                                                          const std::string& batch_id) {
  return guarded([&]() -> Result<std::vector<StoredHrEvent>> {
    std::string statement = std::string(kEventCols) + " WHERE 1=1";
    if (!state.empty()) statement += " AND state = :state";
    if (!batch_id.empty()) statement += " AND batch_id = :batch";
    statement += " ORDER BY effective_at, arrival";
    Statement q(db_, statement);
    if (!state.empty()) q.bind(":state", state);
    if (!batch_id.empty()) q.bind(":batch", batch_id);
    std::vector<StoredHrEvent> out;
    while (q.step()) out.push_back(read_event(q));
    return out;
  });
}

Result<HrChanges> SqlitePolicyRepository::apply_hr_event(const HrEvent& e, const HrPlan& plan,
                                                         const std::string& batch_id, Micros now,
                                                         const std::function<Status(const HrChanges&)>& in_tx) {
  HrChanges ch;
  ch.person = plan.person;
  auto st = with_transaction(db_, [&]() -> Status {
    // SECURITY/idempotency: decided under the write lock, in the same
    // transaction as the changes: an event id is applied once.
    Statement seen(db_, "SELECT state FROM hr_events WHERE event_id = ?");
    seen.bind(1, e.event_id);
    if (seen.step() && seen.column(0).text() != "scheduled") {
      return make_error(ErrorCode::kDuplicate,
                        "event " + e.event_id + " was already recorded (" + seen.column(0).text() + ")");
    }
    switch (plan.action) {
      case HrPlan::Action::kCreate: {
        if (!is_valid_name(plan.person)) return make_error("invalid user name " + plan.person);
        Statement ins(db_,
                      "INSERT INTO users(name, state, email, employee_id, service_account, created_at, department) "
                      "VALUES (?, 'pending', ?, ?, 0, ?, ?)");
        ins.bind(1, plan.person);
        if (plan.email.empty()) ins.bind(2);
        else ins.bind(2, plan.email);
        ins.bind(3, e.employee_id);
        ins.bind(4, static_cast<int64_t>(now));
        ins.bind(5, plan.department);
        ins.run();
        ch.created = true;
        if (plan.hr_roles) {
          if (auto s = set_hr_roles(db_, plan.person, *plan.hr_roles, ch); !s) return s;
        }
        break;
      }
      case HrPlan::Action::kRejoin:
      case HrPlan::Action::kUpdate: {
        Statement up(db_, "UPDATE users SET department = ?, email = COALESCE(NULLIF(?, ''), email) WHERE name = ?");
        up.bind(1, plan.department);
        up.bind(2, plan.email);
        up.bind(3, plan.person);
        if (up.run() != 1) return make_error("no such user: " + plan.person);
        if (plan.action == HrPlan::Action::kRejoin) {
          Statement rj(db_, "UPDATE users SET state = 'pending', left_at = NULL WHERE name = ?");
          rj.bind(1, plan.person);
          rj.run();
          ch.rejoined = true;
        }
        if (plan.hr_roles) {
          if (auto s = set_hr_roles(db_, plan.person, *plan.hr_roles, ch); !s) return s;
        }
        break;
      }
      case HrPlan::Action::kLeave:
        if (auto s = leave(db_, plan.person, e.event_id, now, ch); !s) return s;
        break;
      default: break;
    }
    Statement rec(
        db_,
        "INSERT INTO hr_events(event_id, batch_id, line, type, employee_id, effective_at, arrival, state, "
        "reason, payload, applied_at) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(event_id) DO UPDATE SET "
        "batch_id = excluded.batch_id, line = excluded.line, type = excluded.type, "
        "employee_id = excluded.employee_id, effective_at = excluded.effective_at, arrival = excluded.arrival, "
        "state = excluded.state, reason = excluded.reason, payload = excluded.payload, "
        "applied_at = excluded.applied_at");
    rec.bind(1, e.event_id);
    rec.bind(2, batch_id);
    rec.bind(3, e.line);
    rec.bind(4, to_string(e.type));
    rec.bind(5, e.employee_id);
    rec.bind(6, static_cast<int64_t>(e.effective_at.value_or(now)));
    rec.bind(7, static_cast<int64_t>(now));
    std::string state = event_state(plan.action);
    rec.bind(8, state);
    rec.bind(9, plan.reason);
    rec.bind(10, hr_event_json(e));
    if (state == "applied") rec.bind(11, static_cast<int64_t>(now));
    else rec.bind(11);
    rec.run();
    if (in_tx) return in_tx(ch);
    return {};
  });
  if (!st) return st.error();
  return ch;
}

Result<std::optional<HrBatchRecord>> SqlitePolicyRepository::find_hr_batch(const std::string& id) {
  return guarded([&]() -> Result<std::optional<HrBatchRecord>> {
    Statement q(db_,
                "SELECT id, file, sha256, state, received_at, COALESCE(finished_at,0), summary "
                "FROM hr_batches WHERE id = ?");
    q.bind(1, id);
    if (!q.step()) return std::optional<HrBatchRecord>{};
    return std::optional<HrBatchRecord>(HrBatchRecord{q.column(0).text(), q.column(1).text(), q.column(2).text(),
                                                      q.column(3).text(), q.column(4).int64(), q.column(5).int64(),
                                                      q.column(6).text()});
  });
}

Result<std::vector<HrBatchRecord>> SqlitePolicyRepository::list_hr_batches() {
  return guarded([&]() -> Result<std::vector<HrBatchRecord>> {
    Statement q(db_,
                "SELECT id, file, sha256, state, received_at, COALESCE(finished_at,0), summary "
                "FROM hr_batches ORDER BY received_at");
    std::vector<HrBatchRecord> out;
    while (q.step()) {
      out.push_back({q.column(0).text(), q.column(1).text(), q.column(2).text(), q.column(3).text(),
                     q.column(4).int64(), q.column(5).int64(), q.column(6).text()});
    }
    return out;
  });
}

Result<std::vector<StoredHrEvent>> SqlitePolicyRepository::hr_leavers_since(Micros since) {
  return guarded([&]() -> Result<std::vector<StoredHrEvent>> {
    Statement q(db_, std::string(kEventCols) +
                         " WHERE type = 'leaver' AND ((state = 'applied' AND applied_at >= :since) OR "
                         "(state = 'scheduled' AND arrival >= :since)) ORDER BY arrival");
    q.bind(":since", static_cast<int64_t>(since));
    std::vector<StoredHrEvent> out;
    while (q.step()) out.push_back(read_event(q));
    return out;
  });
}

Status SqlitePolicyRepository::save_hr_batch(const HrBatchRecord& b,
                                             const std::function<Status(const std::string&)>& in_tx) {
  return with_transaction(db_, [&]() -> Status {
    std::string previous;
    Statement cur(db_, "SELECT state FROM hr_batches WHERE id = ?");
    cur.bind(1, b.id);
    if (cur.step()) previous = cur.column(0).text();
    Statement q(db_,
                "INSERT INTO hr_batches(id, file, sha256, state, received_at, finished_at, summary) "
                "VALUES (?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET file = excluded.file, "
                "state = excluded.state, finished_at = excluded.finished_at, summary = excluded.summary");
    q.bind(1, b.id);
    q.bind(2, b.file);
    q.bind(3, b.sha256);
    q.bind(4, b.state);
    q.bind(5, static_cast<int64_t>(b.received_at));
    if (b.finished_at) q.bind(6, static_cast<int64_t>(b.finished_at));
    else q.bind(6);
    q.bind(7, b.summary);
    q.run();
    if (in_tx) return in_tx(previous);
    return {};
  });
}

}  // namespace bastion::policy
