// MFA state in the database: attestation trust (roots, intermediates, allowed
// AAGUIDs), single-use key-enrollment challenges, WebAuthn credentials,
// invitations to register one, and step-ups (one-time codes bound to an SSH
// connection, and when each person last passed one).
//
// Contract: secrets handed out (challenges, invite tokens, step-up codes) are
// stored only as SHA-256 digests; each is single use and expires. Lookups that
// fail say why in one line ("unknown", "expired", "already used"). Every
// mutation is one transaction. Not thread-safe: one per thread or guarded by
// the caller (the web front end serializes calls).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "authn/fido_verify.h"
#include "common/clock.h"
#include "common/database.h"
#include "common/result.h"

namespace bastion::authn {

struct TrustCert {
  std::string sha256;   // hex of the DER, lower case
  std::string kind;     // "root" or "intermediate"
  std::string subject;  // RFC 2253
  std::string pem;
  Micros added_at = 0;
};

struct AllowedAaguid {
  std::string aaguid;  // canonical lower-case
  std::string name;
  Micros added_at = 0;
};

struct StoredCredential {
  std::string id;  // base64url of the raw credential id
  std::string user;
  WebauthnCredential credential;
  // active; pending (registered from an invitation, not yet confirmed by the
  // person's SSH key or an administrator: usable for nothing); locked; revoked.
  std::string state;
  std::string state_reason;
  Micros created_at = 0;  // when it was registered
  std::optional<Micros> last_used_at;
  std::optional<Micros> confirmed_at;  // unset while pending
  std::string confirmed_by;            // "ssh-key SHA256:...", "admin:LOGIN", ...
  Micros confirm_code_expires_at = 0;  // pending: until when its confirmation code works
};

struct InviteRecord {
  std::string user;
  std::string created_by;
  Micros expires_at = 0;
  std::string challenge;  // raw; empty until a ceremony starts
};

struct StepUpRecord {
  std::string user;
  std::string session_id;
  std::string purpose;
  std::string challenge;  // raw
  Micros created_at = 0;
  Micros expires_at = 0;
  std::string state;  // pending, verified, failed
  std::string reason;
  std::string credential_id;
  std::optional<Micros> verified_at;
};

// Parses exactly one PEM certificate: its DER SHA-256, subject, normalized PEM.
Result<TrustCert> parse_trust_cert(const std::string& pem);

class MfaStore {
 public:
  // Invitations are valid for 24 h; key challenges for 15 min.
  static constexpr Micros kInviteTtl = 24 * 3600 * kMicrosPerSecond;
  static constexpr Micros kKeyChallengeTtl = 15 * 60 * kMicrosPerSecond;

  MfaStore(Database& db, const Clock& clock) : db_(db), clock_(clock) {}

  // Trust: one PEM certificate per call.
  Result<TrustCert> add_trust_cert(const std::string& pem, bool intermediate);
  Result<std::vector<TrustCert>> trust_certs();
  // `what`: the sha256 (or a unique prefix of at least 8 hex digits).
  Result<TrustCert> remove_trust_cert(const std::string& what);
  Result<AllowedAaguid> add_aaguid(const std::string& aaguid, const std::string& name);
  Result<std::vector<AllowedAaguid>> aaguids();
  Status remove_aaguid(const std::string& aaguid);
  Result<AttestationTrust> trust();

  // Key-enrollment challenges (32 random bytes, for ssh-keygen -O challenge=).
  Result<std::string> issue_key_challenge(const std::string& user);
  // Marks it used; fails if it was not issued for `user`, expired or used.
  Status consume_key_challenge(const std::string& user, std::string_view challenge);
  // The challenges issued for `user` that are neither used nor expired (raw).
  Result<std::vector<std::string>> open_key_challenges(const std::string& user);

  // WebAuthn credentials. A new credential is pending: add_credential
  // returns its confirmation code ("K7Q2-9XHD", stored as a digest, shown
  // once), valid until `code_expires_at`. It is usable only once confirmed.
  // SECURITY: an invitation link is a bearer token; whoever registers with
  // it must still prove to be the person (their SSH key) or be vouched for.
  Result<std::string> add_credential(const std::string& user, const WebauthnCredential& c, Micros code_expires_at);
  // The person's own confirmation: the code must be unexpired and belong to a
  // pending credential of `user`. `by` is recorded (e.g. "ssh-key SHA256:...").
  // When the code is another person's, `code_owner` (if given) gets their
  // name (for the audit log; the person is told only that it is not theirs).
  Result<StoredCredential> confirm_credential_with_code(const std::string& user, const std::string& code,
                                                        const std::string& by, std::string* code_owner = nullptr);
  // An administrator's confirmation, or rejection (the pending row is
  // deleted). `id`: the credential id (base64url) or a unique prefix of at
  // least 8 characters, of a pending credential of `user`.
  Result<StoredCredential> confirm_credential(const std::string& user, const std::string& id, const std::string& by);
  Result<StoredCredential> reject_credential(const std::string& user, const std::string& id);
  Result<std::vector<StoredCredential>> credentials(const std::string& user);
  // The security-key credentials of each of `users`, in any state, by person then age.
  Result<std::vector<StoredCredential>> credentials_of(const std::vector<std::string>& users);
  Result<std::optional<StoredCredential>> find_credential(const std::string& raw_id);
  Status record_use(const std::string& raw_id, uint32_t sign_count);
  Status lock_credential(const std::string& raw_id, const std::string& reason);
  // Revokes every active or locked credential of `user`; returns how many.
  Result<int> revoke_credentials(const std::string& user, const std::string& reason);

  // Invitations: create returns the token (shown once).
  Result<std::string> create_invite(const std::string& user, const std::string& created_by);
  Result<InviteRecord> find_invite(const std::string& token);
  // Starts (or restarts) a registration ceremony: a fresh challenge.
  Result<std::string> invite_challenge(const std::string& token);
  Status use_invite(const std::string& token);

  // Step-ups: create returns the code ("K7Q2-9XHD"), valid for `ttl`.
  Result<std::string> create_step_up(const std::string& user, const std::string& session_id, const std::string& purpose,
                                     Micros ttl);
  Result<StepUpRecord> find_step_up(const std::string& code);
  // Ends a pending step-up (verified or failed); fails if it is not pending.
  Status finish_step_up(const std::string& code, bool verified, const std::string& reason,
                        const std::string& credential_id);
  // When `user` last passed a step-up, if ever.
  Result<std::optional<Micros>> last_step_up(const std::string& user);
  // When `user` passed a step-up bound to `session_id` (for per-session rules), if ever.
  Result<std::optional<Micros>> session_step_up(const std::string& user, const std::string& session_id);

 private:
  Database& db_;
  const Clock& clock_;
};

// "K7Q2-9XHD": 8 Crockford base32 characters of 40 random bits. Whether `s`
// has that shape (case-insensitive).
std::string new_step_up_code();
bool looks_like_step_up_code(std::string_view s);

}  // namespace bastion::authn
