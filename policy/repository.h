// PolicyRepository: the only way policy/ reads or changes stored state.
//
// Contract: reads return nullopt/empty for "not found" and an Error only for
// storage failures; writes validate their input first and change nothing on
// error. Implementations: SqlitePolicyRepository (embedded default).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "policy/elevation.h"
#include "policy/hr.h"
#include "policy/model.h"

namespace bastion::policy {

// What one applied HR event changed (for the audit log and for ending sessions).
struct HrChanges {
  std::string person;
  bool created = false, left = false, rejoined = false;
  std::vector<std::string> keys_revoked;         // fingerprints
  std::vector<std::string> credentials_revoked;  // WebAuthn credential ids (base64url)
  std::vector<std::string> grants_revoked;       // grant ids
  std::vector<std::string> requests_cancelled;   // request ids
  std::vector<std::string> approver_removed;     // customers
  std::vector<std::string> roles_added, roles_removed;
};

struct StoredHrEvent {
  HrEvent event;
  std::string batch_id;
  std::string state;  // applied | scheduled | superseded | rejected
  std::string reason;
  Micros arrival = 0, applied_at = 0;
};

struct HrBatchRecord {
  std::string id;    // "B-" + 12 hex digits of the file's SHA-256
  std::string file;  // the file's name as dropped
  std::string sha256;
  std::string state;  // applying | done | held | released | discarded
  Micros received_at = 0, finished_at = 0;
  std::string summary = "{}";  // JSON counts and the hold reason
};

class PolicyRepository {
 public:
  virtual ~PolicyRepository() = default;

  virtual Result<std::optional<Person>> find_person(const std::string& name) = 0;
  virtual Result<std::vector<Person>> list_people() = 0;
  virtual Status add_person(const Person& p) = 0;
  virtual Status set_person_state(const std::string& name, PersonState state) = 0;
  // An administrator's role assignment (source "manual"); an error if the
  // person already has the role (from HR or an administrator).
  virtual Status assign_role(const std::string& person, const std::string& role) = 0;
  // Takes a role away, whoever gave it; an error if the person does not have it.
  virtual Status remove_role(const std::string& person, const std::string& role) = 0;
  // Sets the e-mail address and/or the HR employee id (nullopt: unchanged;
  // empty: cleared); an employee id must not belong to someone else.
  virtual Status set_person_details(const std::string& name, const std::optional<std::string>& email,
                                    const std::optional<std::string>& employee_id) = 0;

  virtual Result<std::optional<Role>> find_role(const std::string& name) = 0;
  virtual Result<std::vector<Role>> list_roles() = 0;
  virtual Status add_role(const Role& r) = 0;
  // The roles `person` holds, resolved.
  virtual Result<std::vector<Role>> roles_of(const Person& person) = 0;
  // Everyone who holds `role`, whatever their state, by name (their `roles`
  // left empty).
  virtual Result<std::vector<Person>> holders_of(const std::string& role) = 0;

  virtual Result<std::optional<Target>> find_target(const std::string& name) = 0;
  virtual Result<std::vector<Target>> list_targets() = 0;
  virtual Status add_target(const Target& t) = 0;
  // Pins `host_key` (an OpenSSH public key line) as target `name`'s host key
  // in place of the one it had; an error if there is no such target.
  virtual Status set_target_host_key(const std::string& name, const std::string& host_key) = 0;

  // Customers and the people who may consent for them.
  virtual Result<std::optional<Customer>> find_customer(const std::string& name) = 0;
  virtual Result<std::vector<Customer>> list_customers() = 0;
  virtual Status add_customer(const std::string& name) = 0;
  virtual Status add_approver(const std::string& customer, const std::string& person) = 0;
  virtual Status remove_approver(const std::string& customer, const std::string& person) = 0;

  // Elevations. `id` may be the request id or the grant id.
  virtual Result<std::optional<Elevation>> find_elevation(const std::string& id) = 0;
  // All elevations, or one person's ("" = everyone's), newest first;
  // `open_only`: only those stored as pending or approved.
  virtual Result<std::vector<Elevation>> list_elevations(const std::string& user, bool open_only) = 0;
  // Every person's grants on `target` stored as approved (the caller applies
  // the time: one that ended may not be marked yet), newest first.
  virtual Result<std::vector<Elevation>> approved_on_target(const std::string& target) = 0;
  // Requests stored as pending (expired ones too: the caller applies the time), oldest first.
  virtual Result<std::vector<Elevation>> pending_elevations() = 0;
  // The newest `limit` elevations of requester `user`, or (when `user` is
  // "") those of any of `customers` or of any of the elevated `roles`;
  // newest first. Indexed: for pages, whatever the history's length.
  virtual Result<std::vector<Elevation>> recent_elevations(const std::string& user,
                                                           const std::vector<std::string>& customers,
                                                           const std::vector<std::string>& roles, size_t limit) = 0;
  // Grants approved and in their window at `now` (every person's; metrics).
  virtual Result<int64_t> count_active_grants(Micros now) = 0;
  // Stores a new request, or a break-glass grant (state approved).
  virtual Status add_elevation(const Elevation& e) = 0;
  // Adds an approval to a pending request, atomically. If the request then has
  // the customer's consent and `internal_needed` internal approvals, it becomes
  // grant `grant_id`, starting at `a.at` and lasting the shortest duration
  // any approval (or the request) allows, capped at `max_length`. Returns the
  // updated elevation; an error if it is no longer pending.
  virtual Result<Elevation> approve_elevation(const std::string& id, const Approval& a, int internal_needed,
                                              Micros max_length, const std::string& grant_id) = 0;
  // pending -> denied.
  virtual Status deny_elevation(const std::string& id, const std::string& by, const std::string& reason, Micros at) = 0;
  // pending|approved -> revoked or expired (`state`), with who and why.
  virtual Status end_elevation(const std::string& id, ElevationState state, const std::string& by,
                               const std::string& reason, Micros at) = 0;

  // The HR feed.
  virtual Result<std::optional<Person>> find_person_by_employee(const std::string& employee_id) = 0;
  virtual Result<HrHistory> hr_history(const std::string& employee_id) = 0;
  virtual Result<std::optional<StoredHrEvent>> find_hr_event(const std::string& event_id) = 0;
  // Events in `state` ("" = any), optionally of one batch, oldest first.
  virtual Result<std::vector<StoredHrEvent>> list_hr_events(const std::string& state, const std::string& batch_id) = 0;
  // Carries out `plan` for `e` and records the event (applied, scheduled,
  // superseded or rejected) in ONE transaction, so an event is applied
  // exactly once even if the process dies. `in_tx` runs inside that
  // transaction (for the caller's audit records); if it fails, nothing
  // changes. An event already recorded (other than scheduled) is an error
  // with ErrorCode::kDuplicate.
  virtual Result<HrChanges> apply_hr_event(const HrEvent& e, const HrPlan& plan, const std::string& batch_id,
                                           Micros now, const std::function<Status(const HrChanges&)>& in_tx) = 0;
  virtual Result<std::optional<HrBatchRecord>> find_hr_batch(const std::string& id) = 0;
  virtual Result<std::vector<HrBatchRecord>> list_hr_batches() = 0;
  // Stores `b`. `in_tx`, if given, runs inside the same transaction with the
  // batch's state before this save ("" if new), for the caller's audit
  // records; if it fails, nothing is saved.
  virtual Status save_hr_batch(const HrBatchRecord& b,
                               const std::function<Status(const std::string& previous_state)>& in_tx) = 0;
  Status save_hr_batch(const HrBatchRecord& b) { return save_hr_batch(b, {}); }
  // Leaver events for the circuit breaker's window: applied at or after
  // `since`, or scheduled (not yet applied) and arrived at or after `since`.
  virtual Result<std::vector<StoredHrEvent>> hr_leavers_since(Micros since) = 0;
};

}  // namespace bastion::policy
