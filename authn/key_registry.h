// The key registry: every enrolled SSH public key belongs to exactly one
// person. Identity at the gateway comes from the key, never the user name.
//
// Contract: enroll() refuses plain (non-FIDO) keys for people unless the
// person is a service account; refuses a key already enrolled (to anyone).
// find_by_fingerprint() returns revoked keys too (state says so); callers
// must deny unless state is active. Not thread-safe (one per process).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "authn/public_key.h"
#include "common/clock.h"
#include "common/database.h"
#include "common/result.h"

namespace bastion::authn {

struct KeyRecord {
  std::string fingerprint;  // "SHA256:..."
  std::string user;
  std::string type;
  std::string public_key;  // OpenSSH line
  std::string comment;
  bool active = true;
  Micros created_at = 0;
  std::optional<Micros> revoked_at;
  std::string aaguid;       // of the authenticator, when enrolled with a verified attestation
  std::string attestation;  // JSON {format, aaguid, subject, chain}, or empty
};

class KeyRegistry {
 public:
  KeyRegistry(Database& db, const Clock& clock) : db_(db), clock_(clock) {}

  // `service_account`: whether the owner may use plain keys (stored on the user).
  // `attestation_json`/`aaguid`: what a verified attestation said (empty: none).
  Result<KeyRecord> enroll(const std::string& user, const PublicKey& key, const std::string& attestation_json = "",
                           const std::string& aaguid = "");
  Result<std::optional<KeyRecord>> find_by_fingerprint(const std::string& fingerprint);
  Result<std::vector<KeyRecord>> list(const std::string& user_filter);
  // The keys of each of `users`, active and revoked, by person then age.
  Result<std::vector<KeyRecord>> list_of(const std::vector<std::string>& users);
  Result<KeyRecord> revoke(const std::string& fingerprint);

 private:
  Database& db_;
  const Clock& clock_;
};

}  // namespace bastion::authn
