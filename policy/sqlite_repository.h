// PolicyRepository on the bastion SQLite database. Not thread-safe (one per
// process, like Database).
#pragma once

#include "common/clock.h"
#include "common/database.h"
#include "policy/repository.h"

namespace bastion::policy {

class SqlitePolicyRepository final : public PolicyRepository {
 public:
  SqlitePolicyRepository(Database& db, const Clock& clock) : db_(db), clock_(clock) {}

  Result<std::optional<Person>> find_person(const std::string& name) override;
  Result<std::vector<Person>> list_people() override;
  Result<std::vector<Person>> holders_of(const std::string& role) override;
  Status add_person(const Person& p) override;
  Status set_person_state(const std::string& name, PersonState state) override;
  Status assign_role(const std::string& person, const std::string& role) override;
  Status remove_role(const std::string& person, const std::string& role) override;
  Status set_person_details(const std::string& name, const std::optional<std::string>& email,
                            const std::optional<std::string>& employee_id) override;

  Result<std::optional<Role>> find_role(const std::string& name) override;
  Result<std::vector<Role>> list_roles() override;
  Status add_role(const Role& r) override;
  Result<std::vector<Role>> roles_of(const Person& person) override;

  Result<std::optional<Target>> find_target(const std::string& name) override;
  Result<std::vector<Target>> list_targets() override;
  Status add_target(const Target& t) override;
  Status set_target_host_key(const std::string& name, const std::string& host_key) override;

  Result<std::optional<Customer>> find_customer(const std::string& name) override;
  Result<std::vector<Customer>> list_customers() override;
  Status add_customer(const std::string& name) override;
  Status add_approver(const std::string& customer, const std::string& person) override;
  Status remove_approver(const std::string& customer, const std::string& person) override;

  Result<std::optional<Elevation>> find_elevation(const std::string& id) override;
  Result<std::vector<Elevation>> list_elevations(const std::string& user, bool open_only) override;
  Result<std::vector<Elevation>> approved_on_target(const std::string& target) override;
  Result<std::vector<Elevation>> pending_elevations() override;
  Result<std::vector<Elevation>> recent_elevations(const std::string& user, const std::vector<std::string>& customers,
                                                   const std::vector<std::string>& roles, size_t limit) override;
  Result<int64_t> count_active_grants(Micros now) override;
  Status add_elevation(const Elevation& e) override;
  Result<Elevation> approve_elevation(const std::string& id, const Approval& a, int internal_needed, Micros max_length,
                                      const std::string& grant_id) override;
  Status deny_elevation(const std::string& id, const std::string& by, const std::string& reason, Micros at) override;
  Status end_elevation(const std::string& id, ElevationState state, const std::string& by, const std::string& reason,
                       Micros at) override;

  Result<std::optional<Person>> find_person_by_employee(const std::string& employee_id) override;
  Result<HrHistory> hr_history(const std::string& employee_id) override;
  Result<std::optional<StoredHrEvent>> find_hr_event(const std::string& event_id) override;
  Result<std::vector<StoredHrEvent>> list_hr_events(const std::string& state, const std::string& batch_id) override;
  Result<HrChanges> apply_hr_event(const HrEvent& e, const HrPlan& plan, const std::string& batch_id, Micros now,
                                   const std::function<Status(const HrChanges&)>& in_tx) override;
  Result<std::optional<HrBatchRecord>> find_hr_batch(const std::string& id) override;
  Result<std::vector<HrBatchRecord>> list_hr_batches() override;
  using PolicyRepository::save_hr_batch;
  Status save_hr_batch(const HrBatchRecord& b,
                       const std::function<Status(const std::string& previous_state)>& in_tx) override;
  Result<std::vector<StoredHrEvent>> hr_leavers_since(Micros since) override;

 private:
  Database& db_;
  const Clock& clock_;
};

}  // namespace bastion::policy
