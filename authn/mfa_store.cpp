#include "authn/mfa_store.h"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>

#include "common/database_sql.h"
#include "common/ed25519_key.h"
#include "common/encoding.h"
#include "common/openssl_handles.h"
#include "common/random.h"

namespace bastion::authn {
namespace {

std::string digest_hex(std::string_view secret) { return hex_encode(sha256(as_bytes(secret))); }

}  // namespace

Result<TrustCert> parse_trust_cert(const std::string& pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return make_error("out of memory");
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return make_error("not a PEM certificate");
  X509Ptr extra(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (extra) return make_error("the file holds more than one certificate; add them one by one");
  unsigned char* der = nullptr;
  int len = i2d_X509(cert.get(), &der);
  if (len <= 0) return make_error("cannot encode the certificate");
  TrustCert t;
  t.sha256 = hex_encode(sha256({der, static_cast<size_t>(len)}));
  OPENSSL_free(der);
  Bio out(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(out.get(), X509_get_subject_name(cert.get()), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long n = BIO_get_mem_data(out.get(), &data);
  t.subject.assign(data, static_cast<size_t>(n));
  // Store a normalized PEM of just this certificate.
  Bio pem_out(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(pem_out.get(), cert.get());
  n = BIO_get_mem_data(pem_out.get(), &data);
  t.pem.assign(data, static_cast<size_t>(n));
  return t;
}

namespace {

StoredCredential read_credential(Statement& q) {
  StoredCredential s;
  s.id = q.column(0).text();
  s.user = q.column(1).text();
  s.credential.cose_alg = q.column(2).int32();
  s.credential.public_key_der = q.column(3).text();
  s.credential.sign_count = static_cast<uint32_t>(q.column(4).int64());
  s.credential.attestation.aaguid = q.column(5).text();
  s.credential.attestation.format = q.column(6).text();
  s.state = q.column(7).text();
  s.state_reason = q.column(8).text();
  s.created_at = q.column(9).int64();
  if (!q.column(10).is_null()) s.last_used_at = q.column(10).int64();
  if (!q.column(11).is_null()) s.confirmed_at = q.column(11).int64();
  s.confirmed_by = q.column(12).text();
  if (!q.column(13).is_null()) s.confirm_code_expires_at = q.column(13).int64();
  // SECURITY: an unconfirmed credential reads as "pending", never "active",
  // so every check for an active credential leaves it out.
  if (s.state == "active" && !s.confirmed_at) s.state = "pending";
  auto raw = base64url_decode(s.id);
  if (raw) s.credential.credential_id.assign(raw->begin(), raw->end());
  return s;
}

constexpr const char* kCredentialCols =
    "SELECT id, user_name, cose_alg, public_key, sign_count, aaguid, attestation, state, state_reason, "
    "created_at, last_used_at, confirmed_at, confirmed_by, confirm_expires_at FROM webauthn_credentials";

std::string b64url(std::string_view raw) { return base64url_encode(as_bytes(raw)); }

}  // namespace

std::string new_step_up_code() {
  std::string code = random_base32_8();
  return code.substr(0, 4) + "-" + code.substr(4);
}

bool looks_like_step_up_code(std::string_view s) {
  if (s.size() != 9 || s[4] != '-') return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 4) continue;
    if (!std::isalnum(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

// ---- trust -------------------------------------------------------------------

Result<TrustCert> MfaStore::add_trust_cert(const std::string& pem, bool intermediate) {
  auto t = parse_trust_cert(pem);
  if (!t) return t.error();
  t->kind = intermediate ? "intermediate" : "root";
  t->added_at = clock_.now();
  auto st = with_transaction(db_, [&]() -> Status {
    Statement dup(db_, "SELECT kind FROM fido_roots WHERE sha256 = ?");
    dup.bind(1, t->sha256);
    if (dup.step()) return make_error("already trusted as " + dup.column(0).text() + ": " + t->subject);
    Statement ins(db_, "INSERT INTO fido_roots(sha256, kind, subject, pem, added_at) VALUES (?,?,?,?,?)");
    ins.bind(1, t->sha256);
    ins.bind(2, t->kind);
    ins.bind(3, t->subject);
    ins.bind(4, t->pem);
    ins.bind(5, static_cast<int64_t>(t->added_at));
    ins.run();
    return {};
  });
  if (!st) return st.error();
  return t;
}

Result<std::vector<TrustCert>> MfaStore::trust_certs() {
  std::vector<TrustCert> out;
  auto st = guarded([&]() -> Status {
    Statement q(db_, "SELECT sha256, kind, subject, pem, added_at FROM fido_roots ORDER BY kind DESC, subject");
    while (q.step()) {
      out.push_back(
          {q.column(0).text(), q.column(1).text(), q.column(2).text(), q.column(3).text(), q.column(4).int64()});
    }
    return {};
  });
  if (!st) return st.error();
  return out;
}

Result<TrustCert> MfaStore::remove_trust_cert(const std::string& what) {
  std::string key = what;
  for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  key.erase(std::remove(key.begin(), key.end(), ':'), key.end());
  if (key.size() < 8 || key.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return make_error("give the certificate's SHA-256 (at least 8 hex digits; see fido roots list)");
  }
  TrustCert found;
  auto st = with_transaction(db_, [&]() -> Status {
    Statement q(db_, "SELECT sha256, kind, subject FROM fido_roots WHERE sha256 LIKE ? || '%'");
    q.bind(1, key);
    int n = 0;
    while (q.step()) {
      ++n;
      found.sha256 = q.column(0).text();
      found.kind = q.column(1).text();
      found.subject = q.column(2).text();
    }
    if (n == 0) return make_error("no trusted certificate " + what);
    if (n > 1) return make_error(what + " matches " + std::to_string(n) + " certificates; give more digits");
    Statement del(db_, "DELETE FROM fido_roots WHERE sha256 = ?");
    del.bind(1, found.sha256);
    del.run();
    return {};
  });
  if (!st) return st.error();
  return found;
}

Result<AllowedAaguid> MfaStore::add_aaguid(const std::string& aaguid, const std::string& name) {
  auto norm = normalize_aaguid(aaguid);
  if (!norm) return norm.error();
  AllowedAaguid a{*norm, name, clock_.now()};
  auto st = with_transaction(db_, [&]() -> Status {
    Statement ins(db_, "INSERT INTO fido_aaguids(aaguid, name, added_at) VALUES (?,?,?) ON CONFLICT DO NOTHING");
    ins.bind(1, a.aaguid);
    ins.bind(2, a.name);
    ins.bind(3, static_cast<int64_t>(a.added_at));
    if (ins.run() == 0) return make_error("AAGUID " + a.aaguid + " is already allowed");
    return {};
  });
  if (!st) return st.error();
  return a;
}

Result<std::vector<AllowedAaguid>> MfaStore::aaguids() {
  std::vector<AllowedAaguid> out;
  auto st = guarded([&]() -> Status {
    Statement q(db_, "SELECT aaguid, name, added_at FROM fido_aaguids ORDER BY name, aaguid");
    while (q.step()) out.push_back({q.column(0).text(), q.column(1).text(), q.column(2).int64()});
    return {};
  });
  if (!st) return st.error();
  return out;
}

Status MfaStore::remove_aaguid(const std::string& aaguid) {
  auto norm = normalize_aaguid(aaguid);
  if (!norm) return norm.error();
  return with_transaction(db_, [&]() -> Status {
    Statement del(db_, "DELETE FROM fido_aaguids WHERE aaguid = ?");
    del.bind(1, *norm);
    if (del.run() == 0) return make_error("AAGUID " + *norm + " is not on the allow-list");
    return {};
  });
}

Result<AttestationTrust> MfaStore::trust() {
  auto certs = trust_certs();
  if (!certs) return certs.error();
  auto ids = aaguids();
  if (!ids) return ids.error();
  AttestationTrust t;
  for (const auto& c : *certs) (c.kind == "root" ? t.roots_pem : t.intermediates_pem).push_back(c.pem);
  for (const auto& a : *ids) t.allowed_aaguids.push_back(a.aaguid);
  return t;
}

// ---- key challenges ------------------------------------------------------------

Result<std::string> MfaStore::issue_key_challenge(const std::string& user) {
  std::string challenge = random_bytes(32);
  Micros now = clock_.now();
  auto st = with_transaction(db_, [&]() -> Status {
    Statement u(db_, "SELECT state FROM users WHERE name = ?");
    u.bind(1, user);
    if (!u.step()) return make_error("no such user: " + user);
    if (u.column(0).text() == "left") return make_error("user " + user + " has left");
    Statement ins(db_,
                  "INSERT INTO key_challenges(challenge_sha256, challenge, user_name, created_at, expires_at) "
                  "VALUES (?,?,?,?,?)");
    ins.bind(1, digest_hex(challenge));
    ins.bind(2, challenge.data(), static_cast<int>(challenge.size()));
    ins.bind(3, user);
    ins.bind(4, static_cast<int64_t>(now));
    ins.bind(5, static_cast<int64_t>(now + kKeyChallengeTtl));
    ins.run();
    return {};
  });
  if (!st) return st.error();
  return challenge;
}

Status MfaStore::consume_key_challenge(const std::string& user, std::string_view challenge) {
  Micros now = clock_.now();
  return with_transaction(db_, [&]() -> Status {
    Statement q(db_, "SELECT user_name, expires_at, used_at FROM key_challenges WHERE challenge_sha256 = ?");
    q.bind(1, digest_hex(challenge));
    auto wrong = [](const char* why) {
      return make_error(ErrorCode::kWrongChallenge, std::string("wrong challenge: ") + why);
    };
    if (!q.step()) return wrong("it was not issued by this gateway (bastionctl key challenge)");
    if (q.column(0).text() != user) return wrong("it was issued for another user");
    if (!q.column(2).is_null()) return wrong("it has already been used");
    if (q.column(1).int64() <= now) return wrong("it has expired (valid 15 minutes)");
    Statement up(db_, "UPDATE key_challenges SET used_at = ? WHERE challenge_sha256 = ?");
    up.bind(1, static_cast<int64_t>(now));
    up.bind(2, digest_hex(challenge));
    up.run();
    return {};
  });
}

Result<std::vector<std::string>> MfaStore::open_key_challenges(const std::string& user) {
  std::vector<std::string> out;
  auto st = guarded([&]() -> Status {
    Statement q(db_,
                "SELECT challenge FROM key_challenges WHERE user_name = ? AND used_at IS NULL AND expires_at > ? "
                "ORDER BY created_at DESC");
    q.bind(1, user);
    q.bind(2, static_cast<int64_t>(clock_.now()));
    while (q.step()) out.push_back(q.column(0).text());
    return {};
  });
  if (!st) return st.error();
  return out;
}

// ---- WebAuthn credentials --------------------------------------------------------

Result<std::string> MfaStore::add_credential(const std::string& user, const WebauthnCredential& c,
                                             Micros code_expires_at) {
  std::string code = new_step_up_code();
  auto st = with_transaction(db_, [&]() -> Status {
    Statement dup(db_, "SELECT user_name FROM webauthn_credentials WHERE id = ?");
    dup.bind(1, b64url(c.credential_id));
    if (dup.step()) return make_error("this authenticator credential is already registered");
    Statement ins(db_,
                  "INSERT INTO webauthn_credentials(id, user_name, cose_alg, public_key, sign_count, aaguid, "
                  "attestation, state, created_at, confirm_code_sha256, confirm_expires_at) "
                  "VALUES (?,?,?,?,?,?,?,'active',?,?,?)");
    ins.bind(1, b64url(c.credential_id));
    ins.bind(2, user);
    ins.bind(3, c.cose_alg);
    ins.bind(4, c.public_key_der.data(), static_cast<int>(c.public_key_der.size()));
    ins.bind(5, static_cast<int64_t>(c.sign_count));
    ins.bind(6, c.attestation.aaguid);
    ins.bind(7, c.attestation.format);
    ins.bind(8, static_cast<int64_t>(clock_.now()));
    ins.bind(9, digest_hex(code));
    ins.bind(10, static_cast<int64_t>(code_expires_at));
    ins.run();
    return {};
  });
  if (!st) return st.error();
  return code;
}

namespace {

// Marks the pending credential `id` confirmed (its code can no longer be used).
Status mark_confirmed(Database& db, const std::string& id, const std::string& by, Micros now) {
  Statement up(db,
               "UPDATE webauthn_credentials SET confirmed_at = ?, confirmed_by = ?, confirm_code_sha256 = NULL "
               "WHERE id = ? AND state = 'active' AND confirmed_at IS NULL");
  up.bind(1, static_cast<int64_t>(now));
  up.bind(2, by);
  up.bind(3, id);
  if (up.run() == 0) return make_error("the security key is no longer pending");
  return {};
}

}  // namespace

Result<StoredCredential> MfaStore::confirm_credential_with_code(const std::string& user, const std::string& code,
                                                                const std::string& by, std::string* code_owner) {
  std::string upper = code;
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (!looks_like_step_up_code(upper)) {
    return make_error("that is not a confirmation code (it looks like K7Q2-9XHD, shown after registering)");
  }
  Micros now = clock_.now();
  StoredCredential out;
  auto st = with_transaction(db_, [&]() -> Status {
    Statement q(db_, std::string(kCredentialCols) + " WHERE confirm_code_sha256 = ?");
    q.bind(1, digest_hex(upper));
    if (!q.step()) return make_error("wrong confirmation code");
    StoredCredential c = read_credential(q);
    q.reset();
    if (c.user != user) {
      if (code_owner != nullptr) *code_owner = c.user;
      return make_error("this confirmation code is not for a security key of " + user);
    }
    if (c.state != "pending") return make_error("this security key is " + c.state + ", not waiting for confirmation");
    if (c.confirm_code_expires_at <= now) {
      return make_error(
          "the confirmation code has expired; ask an administrator to confirm the key "
          "(bastionctl user confirm-key) or for a new invitation");
    }
    if (auto m = mark_confirmed(db_, c.id, by, now); !m) return m;
    c.state = "active";
    c.confirmed_at = now;
    c.confirmed_by = by;
    out = std::move(c);
    return {};
  });
  if (!st) return st.error();
  return out;
}

namespace {

// The one pending credential of `user` whose id is `id` or starts with it.
Result<StoredCredential> find_pending(Database& db, const std::string& user, const std::string& id) {
  if (id.size() < 8 ||
      id.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != std::string::npos) {
    return make_error("give the credential id (at least 8 characters; see bastionctl user show " + user + ")");
  }
  Statement q(db, std::string(kCredentialCols) + " WHERE user_name = ? AND substr(id, 1, ?) = ?");
  q.bind(1, user);
  q.bind(2, static_cast<int>(id.size()));
  q.bind(3, id);
  std::vector<StoredCredential> found;
  while (q.step()) found.push_back(read_credential(q));
  if (found.empty()) return make_error(user + " has no security key " + id);
  if (found.size() > 1)
    return make_error(id + " matches " + std::to_string(found.size()) + " keys of " + user + "; give more characters");
  if (found[0].state != "pending") {
    return make_error("security key " + found[0].id + " of " + user + " is " + found[0].state +
                      ", not waiting for confirmation");
  }
  return found[0];
}

}  // namespace

Result<StoredCredential> MfaStore::confirm_credential(const std::string& user, const std::string& id,
                                                      const std::string& by) {
  Micros now = clock_.now();
  StoredCredential out;
  auto st = with_transaction(db_, [&]() -> Status {
    auto c = find_pending(db_, user, id);
    if (!c) return c.error();
    if (auto m = mark_confirmed(db_, c->id, by, now); !m) return m;
    out = std::move(*c);
    out.state = "active";
    out.confirmed_at = now;
    out.confirmed_by = by;
    return {};
  });
  if (!st) return st.error();
  return out;
}

Result<StoredCredential> MfaStore::reject_credential(const std::string& user, const std::string& id) {
  StoredCredential out;
  auto st = with_transaction(db_, [&]() -> Status {
    auto c = find_pending(db_, user, id);
    if (!c) return c.error();
    Statement del(db_, "DELETE FROM webauthn_credentials WHERE id = ? AND state = 'active' AND confirmed_at IS NULL");
    del.bind(1, c->id);
    if (del.run() == 0) return make_error("the security key is no longer pending");
    out = std::move(*c);
    return {};
  });
  if (!st) return st.error();
  return out;
}

Result<std::vector<StoredCredential>> MfaStore::credentials(const std::string& user) {
  std::vector<StoredCredential> out;
  auto st = guarded([&]() -> Status {
    Statement q(db_, std::string(kCredentialCols) + " WHERE user_name = ? ORDER BY created_at");
    q.bind(1, user);
    while (q.step()) out.push_back(read_credential(q));
    return {};
  });
  if (!st) return st.error();
  return out;
}

Result<std::vector<StoredCredential>> MfaStore::credentials_of(const std::vector<std::string>& users) {
  std::vector<StoredCredential> out;
  auto st = guarded([&]() -> Status {
    select_in(db_, std::string(kCredentialCols) + " WHERE user_name IN ", users, " ORDER BY user_name, created_at",
              [&](Statement& q) { out.push_back(read_credential(q)); });
    return {};
  });
  if (!st) return st.error();
  return out;
}

Result<std::optional<StoredCredential>> MfaStore::find_credential(const std::string& raw_id) {
  std::optional<StoredCredential> out;
  auto st = guarded([&]() -> Status {
    Statement q(db_, std::string(kCredentialCols) + " WHERE id = ?");
    q.bind(1, b64url(raw_id));
    if (q.step()) out = read_credential(q);
    return {};
  });
  if (!st) return st.error();
  return out;
}

Status MfaStore::record_use(const std::string& raw_id, uint32_t sign_count) {
  return with_transaction(db_, [&]() -> Status {
    Statement up(db_,
                 "UPDATE webauthn_credentials SET sign_count = ?, last_used_at = ? WHERE id = ? AND state = 'active' "
                 "AND confirmed_at IS NOT NULL");
    up.bind(1, static_cast<int64_t>(sign_count));
    up.bind(2, static_cast<int64_t>(clock_.now()));
    up.bind(3, b64url(raw_id));
    if (up.run() == 0) return make_error("the credential is not active");
    return {};
  });
}

Status MfaStore::lock_credential(const std::string& raw_id, const std::string& reason) {
  return with_transaction(db_, [&]() -> Status {
    Statement up(db_, "UPDATE webauthn_credentials SET state = 'locked', state_reason = ? WHERE id = ?");
    up.bind(1, reason);
    up.bind(2, b64url(raw_id));
    up.run();
    return {};
  });
}

Result<int> MfaStore::revoke_credentials(const std::string& user, const std::string& reason) {
  int n = 0;
  auto st = with_transaction(db_, [&]() -> Status {
    Statement up(db_,
                 "UPDATE webauthn_credentials SET state = 'revoked', state_reason = ? "
                 "WHERE user_name = ? AND state != 'revoked'");
    up.bind(1, reason);
    up.bind(2, user);
    n = up.run();
    return {};
  });
  if (!st) return st.error();
  return n;
}

// ---- invitations ---------------------------------------------------------------

Result<std::string> MfaStore::create_invite(const std::string& user, const std::string& created_by) {
  // Hex: the web front end accepts tokens of [A-Za-z0-9-] only.
  std::string token = hex_encode(as_bytes(random_bytes(18)));
  Micros now = clock_.now();
  auto st = with_transaction(db_, [&]() -> Status {
    Statement u(db_, "SELECT state FROM users WHERE name = ?");
    u.bind(1, user);
    if (!u.step()) return make_error("no such user: " + user);
    std::string state = u.column(0).text();
    if (state == "left" || state == "disabled") return make_error("user " + user + " is " + state);
    Statement ins(
        db_, "INSERT INTO invites(token_sha256, user_name, created_by, created_at, expires_at) VALUES (?,?,?,?,?)");
    ins.bind(1, digest_hex(token));
    ins.bind(2, user);
    ins.bind(3, created_by);
    ins.bind(4, static_cast<int64_t>(now));
    ins.bind(5, static_cast<int64_t>(now + kInviteTtl));
    ins.run();
    return {};
  });
  if (!st) return st.error();
  return token;
}

Result<InviteRecord> MfaStore::find_invite(const std::string& token) {
  InviteRecord r;
  auto st = guarded([&]() -> Status {
    Statement q(db_,
                "SELECT i.user_name, i.created_by, i.expires_at, i.challenge, i.used_at, u.state FROM invites i "
                "JOIN users u ON u.name = i.user_name WHERE i.token_sha256 = ?");
    q.bind(1, digest_hex(token));
    if (!q.step()) return make_error(ErrorCode::kNotFound, "this invitation link is not valid");
    if (!q.column(4).is_null()) return make_error(ErrorCode::kGone, "this invitation link has already been used");
    if (q.column(2).int64() <= clock_.now()) {
      return make_error(ErrorCode::kGone, "this invitation link has expired; ask for a new one");
    }
    std::string state = q.column(5).text();
    if (state == "left" || state == "disabled") return make_error(ErrorCode::kGone, "this account is " + state);
    r.user = q.column(0).text();
    r.created_by = q.column(1).text();
    r.expires_at = q.column(2).int64();
    if (!q.column(3).is_null()) r.challenge = q.column(3).text();
    return {};
  });
  if (!st) return st.error();
  return r;
}

Result<std::string> MfaStore::invite_challenge(const std::string& token) {
  auto inv = find_invite(token);
  if (!inv) return inv.error();
  std::string challenge = random_bytes(32);
  auto st = with_transaction(db_, [&]() -> Status {
    Statement up(db_, "UPDATE invites SET challenge = ? WHERE token_sha256 = ? AND used_at IS NULL");
    up.bind(1, challenge.data(), static_cast<int>(challenge.size()));
    up.bind(2, digest_hex(token));
    if (up.run() == 0) return make_error(ErrorCode::kGone, "this invitation link has already been used");
    return {};
  });
  if (!st) return st.error();
  return challenge;
}

Status MfaStore::use_invite(const std::string& token) {
  return with_transaction(db_, [&]() -> Status {
    Statement up(db_, "UPDATE invites SET used_at = ? WHERE token_sha256 = ? AND used_at IS NULL");
    up.bind(1, static_cast<int64_t>(clock_.now()));
    up.bind(2, digest_hex(token));
    if (up.run() == 0) return make_error(ErrorCode::kGone, "this invitation link has already been used");
    return {};
  });
}

// ---- step-ups ------------------------------------------------------------------

Result<std::string> MfaStore::create_step_up(const std::string& user, const std::string& session_id,
                                             const std::string& purpose, Micros ttl) {
  std::string code = new_step_up_code();
  std::string challenge = random_bytes(32);
  Micros now = clock_.now();
  auto st = with_transaction(db_, [&]() -> Status {
    Statement ins(db_,
                  "INSERT INTO step_ups(code_sha256, user_name, session_id, purpose, challenge, created_at, "
                  "expires_at, state) VALUES (?,?,?,?,?,?,?,'pending')");
    ins.bind(1, digest_hex(code));
    ins.bind(2, user);
    ins.bind(3, session_id);
    ins.bind(4, purpose);
    ins.bind(5, challenge.data(), static_cast<int>(challenge.size()));
    ins.bind(6, static_cast<int64_t>(now));
    ins.bind(7, static_cast<int64_t>(now + ttl));
    ins.run();
    return {};
  });
  if (!st) return st.error();
  return code;
}

Result<StepUpRecord> MfaStore::find_step_up(const std::string& code) {
  std::string upper = code;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  StepUpRecord r;
  auto st = guarded([&]() -> Status {
    Statement q(db_,
                "SELECT user_name, session_id, purpose, challenge, created_at, expires_at, state, reason, "
                "credential_id, verified_at FROM step_ups WHERE code_sha256 = ?");
    q.bind(1, digest_hex(upper));
    if (!q.step()) return make_error(ErrorCode::kNotFound, "this sign-in link is not valid");
    r.user = q.column(0).text();
    r.session_id = q.column(1).text();
    r.purpose = q.column(2).text();
    r.challenge = q.column(3).text();
    r.created_at = q.column(4).int64();
    r.expires_at = q.column(5).int64();
    r.state = q.column(6).text();
    r.reason = q.column(7).text();
    r.credential_id = q.column(8).text();
    if (!q.column(9).is_null()) r.verified_at = q.column(9).int64();
    return {};
  });
  if (!st) return st.error();
  return r;
}

Status MfaStore::finish_step_up(const std::string& code, bool verified, const std::string& reason,
                                const std::string& credential_id) {
  std::string upper = code;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  Micros now = clock_.now();
  return with_transaction(db_, [&]() -> Status {
    // SECURITY: single use: only a pending, unexpired step-up can end, once.
    Statement up(db_,
                 "UPDATE step_ups SET state = ?, reason = ?, credential_id = ?, verified_at = ? "
                 "WHERE code_sha256 = ? AND state = 'pending' AND (? = 0 OR expires_at > ?)");
    up.bind(1, verified ? "verified" : "failed");
    up.bind(2, reason);
    up.bind(3, credential_id);
    if (verified) up.bind(4, static_cast<int64_t>(now));
    else up.bind(4);
    up.bind(5, digest_hex(upper));
    up.bind(6, verified ? 1 : 0);
    up.bind(7, static_cast<int64_t>(now));
    if (up.run() == 0) return make_error(ErrorCode::kGone, "this sign-in link has expired or was already used");
    return {};
  });
}

Result<std::optional<Micros>> MfaStore::last_step_up(const std::string& user) {
  std::optional<Micros> out;
  auto st = guarded([&]() -> Status {
    Statement q(db_, "SELECT MAX(verified_at) FROM step_ups WHERE user_name = ? AND state = 'verified'");
    q.bind(1, user);
    if (q.step() && !q.column(0).is_null()) out = q.column(0).int64();
    return {};
  });
  if (!st) return st.error();
  return out;
}

Result<std::optional<Micros>> MfaStore::session_step_up(const std::string& user, const std::string& session_id) {
  std::optional<Micros> out;
  auto st = guarded([&]() -> Status {
    Statement q(db_,
                "SELECT MAX(verified_at) FROM step_ups WHERE user_name = ? AND session_id = ? AND "
                "state = 'verified'");
    q.bind(1, user);
    q.bind(2, session_id);
    if (q.step() && !q.column(0).is_null()) out = q.column(0).int64();
    return {};
  });
  if (!st) return st.error();
  return out;
}

}  // namespace bastion::authn
