// ScimStore (policy/scim_store.h).
#include "policy/scim_store.h"

#include <algorithm>
#include <cctype>

#include "common/database_sql.h"
#include "policy/model.h"

namespace bastion::policy {
namespace {

constexpr const char* kClientCols =
    "SELECT name, token_sha256, state, created_by, created_at, COALESCE(revoked_at,0), COALESCE(last_used_at,0) "
    "FROM scim_clients";
constexpr const char* kUserCols =
    "SELECT id, person, employee_id, client, resource, version, created_at, updated_at FROM scim_users";

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

ScimClient read_client(Statement& q) {
  return {q.column(0).text(),  q.column(1).text(),  q.column(2).text(), q.column(3).text(),
          q.column(4).int64(), q.column(5).int64(), q.column(6).int64()};
}

ScimUser read_user(Statement& q) {
  ScimUser u;
  u.id = q.column(0).text();
  u.person = q.column(1).text();
  u.employee_id = q.column(2).text();
  u.client = q.column(3).text();
  u.resource = nlohmann::json::parse(q.column(4).text(), nullptr, false);
  if (u.resource.is_discarded()) u.resource = nlohmann::json::object();
  u.version = q.column(5).int64();
  u.created_at = q.column(6).int64();
  u.updated_at = q.column(7).int64();
  return u;
}

std::vector<ScimUser> read_users(Statement& q) {
  std::vector<ScimUser> out;
  while (q.step()) out.push_back(read_user(q));
  return out;
}

std::string dumped(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

void bind_keys(Statement& q, const ScimUser& u) {
  q.bind(":user_name_key", lower(scim::user_name(u.resource)));
  q.bind(":external_id", scim::external_id(u.resource));
  q.bind(":email_key", lower(scim::work_email(u.resource)));
  q.bind(":resource", dumped(u.resource));
  q.bind(":version", u.version);
  q.bind(":updated_at", u.updated_at);
  q.bind(":id", u.id);
}

}  // namespace

Status ScimStore::add_client(const ScimClient& c) {
  if (!is_valid_name(c.name))
    return make_error(ErrorCode::kInvalid, "invalid client name '" + c.name + "': use 1-64 of A-Z a-z 0-9 . _ -");
  return with_transaction(db_, [&]() -> Status {
    Statement seen(db_, "SELECT state FROM scim_clients WHERE name = ?");
    seen.bind(1, c.name);
    if (seen.step()) {
      return make_error(ErrorCode::kDuplicate, "SCIM client " + c.name + " exists already (" + seen.column(0).text() +
                                                   "); revoked names are not reused");
    }
    Statement q(
        db_,
        "INSERT INTO scim_clients (name, token_sha256, state, created_at, created_by) VALUES (?, ?, 'active', ?, ?)");
    q.bind(1, c.name);
    q.bind(2, c.token_sha256);
    q.bind(3, c.created_at);
    q.bind(4, c.created_by);
    q.run();
    return {};
  });
}

Result<std::vector<ScimClient>> ScimStore::list_clients() {
  return guarded([&]() -> Result<std::vector<ScimClient>> {
    Statement q(db_, std::string(kClientCols) + " ORDER BY name");
    std::vector<ScimClient> out;
    while (q.step()) out.push_back(read_client(q));
    return out;
  });
}

Result<std::optional<ScimClient>> ScimStore::active_client_by_token(const std::string& token_sha256) {
  return guarded([&]() -> Result<std::optional<ScimClient>> {
    Statement q(db_, std::string(kClientCols) + " WHERE token_sha256 = ? AND state = 'active'");
    q.bind(1, token_sha256);
    if (!q.step()) return std::optional<ScimClient>();
    return std::optional<ScimClient>(read_client(q));
  });
}

Status ScimStore::revoke_client(const std::string& name, Micros at) {
  return with_transaction(db_, [&]() -> Status {
    Statement seen(db_, "SELECT state FROM scim_clients WHERE name = ?");
    seen.bind(1, name);
    if (!seen.step()) return make_error(ErrorCode::kNotFound, "no SCIM client " + name);
    if (seen.column(0).text() == "revoked")
      return make_error(ErrorCode::kDuplicate, "SCIM client " + name + " is revoked already");
    Statement q(db_, "UPDATE scim_clients SET state = 'revoked', revoked_at = ? WHERE name = ?");
    q.bind(1, at);
    q.bind(2, name);
    q.run();
    return {};
  });
}

Status ScimStore::touch_client(const std::string& name, Micros at) {
  return with_transaction(db_, [&]() -> Status {
    Statement q(db_, "UPDATE scim_clients SET last_used_at = ? WHERE name = ?");
    q.bind(1, at);
    q.bind(2, name);
    q.run();
    return {};
  });
}

Result<std::optional<ScimUser>> ScimStore::find_user(const std::string& id) {
  return guarded([&]() -> Result<std::optional<ScimUser>> {
    Statement q(db_, std::string(kUserCols) + " WHERE id = ?");
    q.bind(1, id);
    if (!q.step()) return std::optional<ScimUser>();
    return std::optional<ScimUser>(read_user(q));
  });
}

Result<std::optional<ScimUser>> ScimStore::find_user_by_person(const std::string& person) {
  return guarded([&]() -> Result<std::optional<ScimUser>> {
    Statement q(db_, std::string(kUserCols) + " WHERE person = ?");
    q.bind(1, person);
    if (!q.step()) return std::optional<ScimUser>();
    return std::optional<ScimUser>(read_user(q));
  });
}

Result<std::vector<ScimUser>> ScimStore::find_users(const scim::IndexedLookup& lookup) {
  return guarded([&]() -> Result<std::vector<ScimUser>> {
    using Key = scim::IndexedLookup::Key;
    const char* where = lookup.key == Key::kUserName     ? " WHERE user_name_key = ?"
                        : lookup.key == Key::kExternalId ? " WHERE external_id = ?"
                                                         : " WHERE email_key = ?";
    Statement q(db_, std::string(kUserCols) + where + " ORDER BY created_at, id");
    q.bind(1, lookup.key == Key::kExternalId ? lookup.value : lower(lookup.value));
    return read_users(q);
  });
}

Result<std::vector<ScimUser>> ScimStore::list_users(size_t offset, size_t limit) {
  return guarded([&]() -> Result<std::vector<ScimUser>> {
    Statement q(db_, std::string(kUserCols) + " ORDER BY created_at, id LIMIT ? OFFSET ?");
    q.bind(1, limit == 0 ? int64_t{1} << 62 : static_cast<int64_t>(limit));
    q.bind(2, static_cast<int64_t>(offset));
    return read_users(q);
  });
}

Result<int64_t> ScimStore::count_users() {
  return guarded([&]() -> Result<int64_t> { return query_int64(db_, "SELECT COUNT(*) FROM scim_users"); });
}

Status ScimStore::insert_user(const ScimUser& u) {
  return with_transaction(db_, [&]() -> Status {
    Statement name(db_, "SELECT id FROM scim_users WHERE user_name_key = ? OR person = ?");
    name.bind(1, lower(scim::user_name(u.resource)));
    name.bind(2, u.person);
    if (name.step())
      return make_error(ErrorCode::kDuplicate, "userName or person taken by user " + name.column(0).text());
    Statement q(db_,
                "INSERT INTO scim_users (id, person, employee_id, user_name_key, external_id, email_key, client, "
                "resource, version, created_at, updated_at) VALUES (:id, :person, :employee_id, :user_name_key, "
                ":external_id, :email_key, :client, :resource, :version, :created_at, :updated_at)");
    bind_keys(q, u);
    q.bind(":person", u.person);
    q.bind(":employee_id", u.employee_id);
    q.bind(":client", u.client);
    q.bind(":created_at", u.created_at);
    q.run();
    return {};
  });
}

Status ScimStore::update_user(const ScimUser& u) {
  return with_transaction(db_, [&]() -> Status {
    Statement name(db_, "SELECT id FROM scim_users WHERE user_name_key = ? AND id <> ?");
    name.bind(1, lower(scim::user_name(u.resource)));
    name.bind(2, u.id);
    if (name.step()) return make_error(ErrorCode::kDuplicate, "userName taken by user " + name.column(0).text());
    Statement q(db_,
                "UPDATE scim_users SET user_name_key = :user_name_key, external_id = :external_id, email_key = "
                ":email_key, resource = :resource, version = :version, updated_at = :updated_at WHERE id = :id");
    bind_keys(q, u);
    if (q.run() != 1) return make_error(ErrorCode::kNotFound, "no SCIM user " + u.id);
    return {};
  });
}

Status ScimStore::delete_user(const std::string& id) {
  return with_transaction(db_, [&]() -> Status {
    Statement q(db_, "DELETE FROM scim_users WHERE id = ?");
    q.bind(1, id);
    if (q.run() != 1) return make_error(ErrorCode::kNotFound, "no SCIM user " + id);
    return {};
  });
}

namespace {

constexpr const char* kGroupCols = "SELECT id, client, resource, version, created_at, updated_at FROM scim_groups";

std::vector<ScimGroup> read_groups(Database& db, Statement& q) {
  std::vector<ScimGroup> out;
  while (q.step()) {
    ScimGroup g;
    g.id = q.column(0).text();
    g.client = q.column(1).text();
    g.resource = nlohmann::json::parse(q.column(2).text(), nullptr, false);
    if (g.resource.is_discarded()) g.resource = nlohmann::json::object();
    g.version = q.column(3).int64();
    g.created_at = q.column(4).int64();
    g.updated_at = q.column(5).int64();
    out.push_back(std::move(g));
  }
  for (auto& g : out) {
    Statement m(db, "SELECT user_id FROM scim_group_members WHERE group_id = ? ORDER BY user_id");
    m.bind(1, g.id);
    while (m.step()) g.members.push_back(m.column(0).text());
  }
  return out;
}

Status write_members(Database& db, const ScimGroup& g) {
  Statement del(db, "DELETE FROM scim_group_members WHERE group_id = ?");
  del.bind(1, g.id);
  del.run();
  for (const auto& u : g.members) {
    Statement known(db, "SELECT 1 FROM scim_users WHERE id = ?");
    known.bind(1, u);
    if (!known.step()) return make_error(ErrorCode::kInvalid, "member " + u + " is no user");
    Statement ins(db, "INSERT INTO scim_group_members (group_id, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING");
    ins.bind(1, g.id);
    ins.bind(2, u);
    ins.run();
  }
  return {};
}

void bind_group(Statement& q, const ScimGroup& g) {
  nlohmann::json stored = g.resource;
  stored.erase("members");
  q.bind(":id", g.id);
  q.bind(":display_key", lower(scim::display_name(g.resource)));
  q.bind(":external_id", scim::external_id(g.resource));
  q.bind(":resource", dumped(stored));
  q.bind(":version", g.version);
  q.bind(":updated_at", g.updated_at);
}

}  // namespace

Result<std::optional<ScimGroup>> ScimStore::find_group(const std::string& id) {
  return guarded([&]() -> Result<std::optional<ScimGroup>> {
    Statement q(db_, std::string(kGroupCols) + " WHERE id = ?");
    q.bind(1, id);
    auto found = read_groups(db_, q);
    if (found.empty()) return std::optional<ScimGroup>();
    return std::optional<ScimGroup>(std::move(found.front()));
  });
}

Result<std::vector<ScimGroup>> ScimStore::find_groups(bool by_external_id, const std::string& value) {
  return guarded([&]() -> Result<std::vector<ScimGroup>> {
    Statement q(db_, std::string(kGroupCols) + (by_external_id ? " WHERE external_id = ?" : " WHERE display_key = ?") +
                         " ORDER BY created_at, id");
    q.bind(1, by_external_id ? value : lower(value));
    return read_groups(db_, q);
  });
}

Result<std::vector<ScimGroup>> ScimStore::list_groups(size_t offset, size_t limit) {
  return guarded([&]() -> Result<std::vector<ScimGroup>> {
    Statement q(db_, std::string(kGroupCols) + " ORDER BY created_at, id LIMIT ? OFFSET ?");
    q.bind(1, limit == 0 ? int64_t{1} << 62 : static_cast<int64_t>(limit));
    q.bind(2, static_cast<int64_t>(offset));
    return read_groups(db_, q);
  });
}

Result<int64_t> ScimStore::count_groups() {
  return guarded([&]() -> Result<int64_t> { return query_int64(db_, "SELECT COUNT(*) FROM scim_groups"); });
}

Result<std::vector<std::string>> ScimStore::groups_of(const std::string& user_id) {
  return guarded([&]() -> Result<std::vector<std::string>> {
    Statement q(db_,
                "SELECT g.resource FROM scim_group_members m JOIN scim_groups g ON g.id = m.group_id "
                "WHERE m.user_id = ? ORDER BY g.id");
    q.bind(1, user_id);
    std::vector<std::string> out;
    while (q.step()) {
      auto r = nlohmann::json::parse(q.column(0).text(), nullptr, false);
      if (!r.is_discarded()) out.push_back(scim::display_name(r));
    }
    return out;
  });
}

Status ScimStore::insert_group(const ScimGroup& g) {
  return with_transaction(db_, [&]() -> Status {
    Statement name(db_, "SELECT id FROM scim_groups WHERE display_key = ?");
    name.bind(1, lower(scim::display_name(g.resource)));
    if (name.step()) return make_error(ErrorCode::kDuplicate, "displayName taken by group " + name.column(0).text());
    Statement q(db_,
                "INSERT INTO scim_groups (id, display_key, external_id, client, resource, version, created_at, "
                "updated_at) VALUES (:id, :display_key, :external_id, :client, :resource, :version, :created_at, "
                ":updated_at)");
    bind_group(q, g);
    q.bind(":client", g.client);
    q.bind(":created_at", g.created_at);
    q.run();
    return write_members(db_, g);
  });
}

Status ScimStore::update_group(const ScimGroup& g) {
  return with_transaction(db_, [&]() -> Status {
    Statement name(db_, "SELECT id FROM scim_groups WHERE display_key = ? AND id <> ?");
    name.bind(1, lower(scim::display_name(g.resource)));
    name.bind(2, g.id);
    if (name.step()) return make_error(ErrorCode::kDuplicate, "displayName taken by group " + name.column(0).text());
    Statement q(db_,
                "UPDATE scim_groups SET display_key = :display_key, external_id = :external_id, resource = :resource, "
                "version = :version, updated_at = :updated_at WHERE id = :id");
    bind_group(q, g);
    if (q.run() != 1) return make_error(ErrorCode::kNotFound, "no SCIM group " + g.id);
    return write_members(db_, g);
  });
}

Status ScimStore::delete_group(const std::string& id) {
  return with_transaction(db_, [&]() -> Status {
    Statement m(db_, "DELETE FROM scim_group_members WHERE group_id = ?");
    m.bind(1, id);
    m.run();
    Statement q(db_, "DELETE FROM scim_groups WHERE id = ?");
    q.bind(1, id);
    if (q.run() != 1) return make_error(ErrorCode::kNotFound, "no SCIM group " + id);
    return {};
  });
}

Status ScimStore::remove_memberships(const std::string& user_id) {
  return with_transaction(db_, [&]() -> Status {
    Statement q(db_, "DELETE FROM scim_group_members WHERE user_id = ?");
    q.bind(1, user_id);
    q.run();
    return {};
  });
}

Status ScimStore::write(const std::function<Status()>& fn) { return with_transaction(db_, fn); }

}  // namespace bastion::policy
