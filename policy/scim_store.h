// ScimStore: the SCIM service provider's state in the database: the
// provisioning clients (each with a bearer token, of which only the SHA-256
// is kept) and the Users the identity provider manages, each linked to one
// person.
//
// Contract: a user row keeps the canonical resource (policy/scim.h) and the
// keys a filter looks up (userName in lower case, externalId, the work
// e-mail address in lower case); userName is unique in any case. write()
// runs a unit of work in one transaction on the same database as the
// policy repository and the audit log, so a SCIM request's change, its HR
// event and its audit records commit together. Not thread-safe (one per
// thread; the monitor answers web calls one at a time).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/database.h"
#include "common/result.h"
#include "policy/scim.h"

namespace bastion::policy {

struct ScimClient {
  std::string name;
  std::string token_sha256;  // hex
  std::string state;         // active | revoked
  std::string created_by;
  Micros created_at = 0, revoked_at = 0, last_used_at = 0;
};

struct ScimUser {
  std::string id;           // the SCIM id bastion assigned (a UUID)
  std::string person;       // the person it is linked to
  std::string employee_id;  // the HR employee id its events carry
  std::string client;       // the provisioning client that created it
  nlohmann::json resource;  // the canonical user (policy/scim.h)
  int64_t version = 1;      // goes up with every change (the ETag)
  Micros created_at = 0, updated_at = 0;
};

struct ScimGroup {
  std::string id;
  std::string client;
  nlohmann::json resource;           // the canonical group without its members
  std::vector<std::string> members;  // User ids
  int64_t version = 1;
  Micros created_at = 0, updated_at = 0;
};

class ScimStore {
 public:
  explicit ScimStore(Database& db) : db_(db) {}

  // A name of 1-64 of A-Z a-z 0-9 . _ -; kDuplicate if it exists (even revoked).
  Status add_client(const ScimClient& c);
  Result<std::vector<ScimClient>> list_clients();
  // The active client whose token has this SHA-256 (hex), if any.
  Result<std::optional<ScimClient>> active_client_by_token(const std::string& token_sha256);
  // kNotFound if there is no such client; kDuplicate if it is revoked already.
  Status revoke_client(const std::string& name, Micros at);
  Status touch_client(const std::string& name, Micros at);

  Result<std::optional<ScimUser>> find_user(const std::string& id);
  Result<std::optional<ScimUser>> find_user_by_person(const std::string& person);
  // Users whose key equals `value` (userName and e-mail in any case).
  Result<std::vector<ScimUser>> find_users(const scim::IndexedLookup& lookup);
  // A page of users, oldest first: `offset` skipped, at most `limit` (0: all).
  Result<std::vector<ScimUser>> list_users(size_t offset, size_t limit);
  Result<int64_t> count_users();
  // kDuplicate when the userName (in any case) or the person is taken.
  Status insert_user(const ScimUser& u);
  Status update_user(const ScimUser& u);
  Status delete_user(const std::string& id);

  // Groups. find_groups answers displayName (any case) and externalId lookups.
  Result<std::optional<ScimGroup>> find_group(const std::string& id);
  Result<std::vector<ScimGroup>> find_groups(bool by_external_id, const std::string& value);
  Result<std::vector<ScimGroup>> list_groups(size_t offset, size_t limit);
  Result<int64_t> count_groups();
  // The display names of the groups user `user_id` is a member of.
  Result<std::vector<std::string>> groups_of(const std::string& user_id);
  // kDuplicate when the displayName (in any case) is taken; kInvalid when a member is no user.
  Status insert_group(const ScimGroup& g);
  Status update_group(const ScimGroup& g);
  Status delete_group(const std::string& id);
  // Takes user `user_id` out of every group (the user is deleted).
  Status remove_memberships(const std::string& user_id);

  // Runs `fn` in one transaction (a savepoint inside one already open).
  Status write(const std::function<Status()>& fn);

 private:
  Database& db_;
};

}  // namespace bastion::policy
