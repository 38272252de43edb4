// PolicyRepository: the only way policy/ reads or changes stored state.
//
// Contract: reads return nullopt/empty for "not found" and an Error only for
// storage failures; writes validate their input first and change nothing on
// error. Implementations: SqlitePolicyRepository (embedded default).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "policy/model.h"

namespace bastion::policy {

class PolicyRepository {
 public:
  virtual ~PolicyRepository() = default;

  virtual Result<std::optional<Person>> find_person(const std::string& name) = 0;
  virtual Result<std::vector<Person>> list_people() = 0;
  virtual Status add_person(const Person& p) = 0;
  virtual Status set_person_state(const std::string& name, PersonState state) = 0;
  virtual Status assign_role(const std::string& person, const std::string& role) = 0;

  virtual Result<std::optional<Role>> find_role(const std::string& name) = 0;
  virtual Result<std::vector<Role>> list_roles() = 0;
  virtual Status add_role(const Role& r) = 0;
  // The roles `person` holds, resolved.
  virtual Result<std::vector<Role>> roles_of(const Person& person) = 0;

  virtual Result<std::optional<Target>> find_target(const std::string& name) = 0;
  virtual Result<std::vector<Target>> list_targets() = 0;
  virtual Status add_target(const Target& t) = 0;
};

}  // namespace bastion::policy
