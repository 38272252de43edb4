#include "authn/key_registry.h"

#include "common/database_sql.h"

namespace bastion::authn {
namespace {

constexpr const char* kCols =
    "SELECT fingerprint, user_name, key_type, public_key, comment, state, created_at, revoked_at, aaguid, "
    "attestation FROM ssh_keys";

KeyRecord read_row(Statement& q) {
  KeyRecord k;
  k.fingerprint = q.column(0).text();
  k.user = q.column(1).text();
  k.type = q.column(2).text();
  k.public_key = q.column(3).text();
  k.comment = q.column(4).text();
  k.active = q.column(5).text() == "active";
  k.created_at = q.column(6).int64();
  if (!q.column(7).is_null()) k.revoked_at = q.column(7).int64();
  k.aaguid = q.column(8).text();
  k.attestation = q.column(9).text();
  return k;
}

}  // namespace

Result<KeyRecord> KeyRegistry::enroll(const std::string& user, const PublicKey& key,
                                      const std::string& attestation_json, const std::string& aaguid) {
  KeyRecord rec;
  rec.fingerprint = fingerprint_sha256(key.blob);
  rec.user = user;
  rec.type = key.type;
  PublicKey stored = key;
  stored.comment.clear();
  rec.public_key = to_line(stored);
  rec.comment = key.comment;
  rec.created_at = clock_.now();
  rec.aaguid = aaguid;
  rec.attestation = attestation_json;
  auto st = with_transaction(db_, [&]() -> Status {
    Statement u(db_, "SELECT service_account, state FROM users WHERE name = ?");
    u.bind(1, user);
    if (!u.step()) return make_error("no such user: " + user);
    bool service = u.column(0).int32() != 0;
    std::string state = u.column(1).text();
    if (state == "left") return make_error("user " + user + " has left; keys cannot be enrolled");
    // SECURITY: people must hold their key in a FIDO2 authenticator; a plain
    // key file can be copied without anyone noticing.
    if (!is_security_key(key.type) && !service) {
      return make_error("refusing " + key.type + " key for " + user +
                        ": people must use a FIDO2 security key (sk-ssh-ed25519@openssh.com or "
                        "sk-ecdsa-sha2-nistp256@openssh.com); plain keys only for service accounts "
                        "(user add --service-account)");
    }
    Statement dup(db_, "SELECT user_name FROM ssh_keys WHERE fingerprint = ?");
    dup.bind(1, rec.fingerprint);
    if (dup.step()) {
      return make_error("key " + rec.fingerprint + " is already enrolled (for " + dup.column(0).text() +
                        "); one key belongs to one person");
    }
    Statement ins(db_,
                  "INSERT INTO ssh_keys(fingerprint, user_name, key_type, public_key, comment, "
                  "state, created_at, aaguid, attestation) VALUES (?,?,?,?,?,'active',?,?,?)");
    ins.bind(1, rec.fingerprint);
    ins.bind(2, user);
    ins.bind(3, rec.type);
    ins.bind(4, rec.public_key);
    ins.bind(5, rec.comment);
    ins.bind(6, static_cast<int64_t>(rec.created_at));
    ins.bind(7, rec.aaguid);
    ins.bind(8, rec.attestation);
    ins.run();
    // A pending person becomes active with their first key.
    Statement act(db_, "UPDATE users SET state = 'active' WHERE name = ? AND state = 'pending'");
    act.bind(1, user);
    act.run();
    return {};
  });
  if (!st) return st.error();
  return rec;
}

Result<std::optional<KeyRecord>> KeyRegistry::find_by_fingerprint(const std::string& fingerprint) {
  try {
    Statement q(db_, std::string(kCols) + " WHERE fingerprint = ?");
    q.bind(1, fingerprint);
    if (!q.step()) return std::optional<KeyRecord>{};
    return std::optional<KeyRecord>(read_row(q));
  } catch (const DatabaseError& e) {
    return database_error("database: ", e);
  }
}

Result<std::vector<KeyRecord>> KeyRegistry::list(const std::string& user_filter) {
  try {
    std::string statement =
        std::string(kCols) + (user_filter.empty() ? "" : " WHERE user_name = ?") + " ORDER BY user_name, created_at";
    Statement q(db_, statement);
    if (!user_filter.empty()) q.bind(1, user_filter);
    std::vector<KeyRecord> out;
    while (q.step()) out.push_back(read_row(q));
    return out;
  } catch (const DatabaseError& e) {
    return database_error("database: ", e);
  }
}

Result<std::vector<KeyRecord>> KeyRegistry::list_of(const std::vector<std::string>& users) {
  return guarded([&]() -> Result<std::vector<KeyRecord>> {
    std::vector<KeyRecord> out;
    select_in(db_, std::string(kCols) + " WHERE user_name IN ", users, " ORDER BY user_name, created_at",
              [&](Statement& q) { out.push_back(read_row(q)); });
    return out;
  });
}

Result<KeyRecord> KeyRegistry::revoke(const std::string& fingerprint) {
  KeyRecord rec;
  auto st = with_transaction(db_, [&]() -> Status {
    Statement q(db_, std::string(kCols) + " WHERE fingerprint = ?");
    q.bind(1, fingerprint);
    if (!q.step()) return make_error("no such key: " + fingerprint + " (see `key list`)");
    rec = read_row(q);
    if (!rec.active) return make_error("key " + fingerprint + " is already revoked");
    Statement u(db_, "UPDATE ssh_keys SET state = 'revoked', revoked_at = ? WHERE fingerprint = ?");
    u.bind(1, static_cast<int64_t>(clock_.now()));
    u.bind(2, fingerprint);
    u.run();
    return {};
  });
  if (!st) return st.error();
  rec.active = false;
  return rec;
}

}  // namespace bastion::authn
