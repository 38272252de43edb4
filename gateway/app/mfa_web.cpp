#include "gateway/app/mfa_web.h"

#include <algorithm>

#include "common/ed25519_key.h"
#include "common/encoding.h"
#include "gateway/app/daemon_log.h"
#include "gateway/app/webauthn_check.h"

namespace bastion::gateway {
namespace {

using recorder::Outcome;

WebReply error(int status, const std::string& message) { return {status, {{"error", message}}}; }

WebReply lookup_error(const Error& e) { return error(lookup_status(e), e.message); }

std::string b64url(std::string_view raw) { return base64url_encode(as_bytes(raw)); }

}  // namespace

int lookup_status(const Error& e) { return e.code == ErrorCode::kGone ? 410 : 404; }

std::string ssh_enrollment_instructions(const std::string& user, const std::string& gateway_host) {
  return "Next, your SSH key on the same security key:\n"
         "1. An administrator runs:  bastionctl key challenge " +
         user +
         " --out challenge.bin\n"
         "   and gives you challenge.bin (valid 15 minutes, single use).\n"
         "2. You run (touch the key and enter its PIN when it blinks):\n"
         "     ssh-keygen -t ed25519-sk -O verify-required -O challenge=challenge.bin \\\n"
         "       -O write-attestation=attestation.bin -f ~/.ssh/id_bastion\n"
         "   and send ~/.ssh/id_bastion.pub and attestation.bin to the administrator.\n"
         "3. The administrator runs:\n"
         "     bastionctl key add " +
         user +
         " id_bastion.pub --attestation attestation.bin\n"
         "4. Connect:  ssh -i ~/.ssh/id_bastion LOGIN@TARGET@" +
         gateway_host + "\n";
}

std::string confirm_key_command(const Config& cfg, const std::string& user, const std::string& code) {
  std::string port = cfg.listen_port == 22 ? "" : "-p " + std::to_string(cfg.listen_port) + " ";
  return "ssh " + port + user + "@" + cfg.public_name + " confirm-key " + (code.empty() ? "CODE" : code);
}

std::string admin_key_command(const std::string& verb, const std::string& user, const std::string& id) {
  return "bastionctl user " + verb + (id.starts_with("-") ? " -- " : " ") + user + " " + id;
}

std::string unconfirmed_key_reason(const Config& cfg, const std::string& user) {
  return "the security key of " + user + " is registered but not yet confirmed: confirm it with your SSH key (" +
         confirm_key_command(cfg, user) +
         ", with the code shown after registering) or ask an administrator "
         "(bastionctl user confirm-key " +
         user + " CREDENTIAL_ID)";
}

void MfaWeb::audit(const std::string& user, const std::string& action, Outcome outcome, const std::string& reason,
                   nlohmann::json details, const std::string& session_id) {
  recorder::AuditEvent e;
  e.actor = user;
  e.action = action;
  e.outcome = outcome;
  e.reason = reason;
  e.session_id = session_id;
  e.details = std::move(details);
  if (auto r = s_.audit().append(e); !r) {
    daemon_log("web", "AUDIT FAILURE: " + r.error().message);
  }
}

WebReply MfaWeb::invite_info(const std::string& token) {
  std::lock_guard lock(mu_);
  auto inv = s_.mfa().find_invite(token);
  if (!inv) return lookup_error(inv.error());
  auto person = s_.policy().find_person(inv->user);
  std::string display;
  if (person && *person && !(*person)->email.empty()) display = (*person)->email;
  // SECURITY: the link is a bearer token: the page names whom it registers a
  // key for, who asked, and until when, so a forwarded link looks wrong.
  return {200,
          {{"user", inv->user},
           {"display_name", display},
           {"invited_by", inv->created_by},
           {"expires_at", format_utc_seconds(inv->expires_at)}}};
}

WebReply MfaWeb::invite_options(const std::string& token) {
  std::lock_guard lock(mu_);
  auto inv = s_.mfa().find_invite(token);
  if (!inv) return lookup_error(inv.error());
  auto challenge = s_.mfa().invite_challenge(token);
  if (!challenge) return error(500, "internal error: " + challenge.error().message);
  auto creds = s_.mfa().credentials(inv->user);
  if (!creds) return error(500, "internal error: " + creds.error().message);
  nlohmann::json exclude = nlohmann::json::array();
  for (const auto& c : *creds) exclude.push_back({{"type", "public-key"}, {"id", c.id}});
  // The user handle is opaque (WebAuthn: no personal data): a digest of the name.
  auto handle = sha256(as_bytes("bastion-user:" + inv->user));
  nlohmann::json pk = {
      {"challenge", b64url(*challenge)},
      {"rp", {{"id", origin_.rp_id}, {"name", "bastion"}}},
      {"user", {{"id", base64url_encode({handle.data(), 16})}, {"name", inv->user}, {"displayName", inv->user}}},
      {"pubKeyCredParams", {{{"type", "public-key"}, {"alg", -7}}, {{"type", "public-key"}, {"alg", -8}}}},
      {"attestation", "direct"},
      // A discoverable credential where the key can hold one: the web
      // console then signs the person in without their name.
      {"authenticatorSelection", {{"userVerification", "required"}, {"residentKey", "preferred"}}},
      {"timeout", 120000},
      {"excludeCredentials", exclude}};
  return {200, {{"publicKey", pk}}};
}

WebReply MfaWeb::invite_register(const std::string& token, const nlohmann::json& credential) {
  std::lock_guard lock(mu_);
  auto inv = s_.mfa().find_invite(token);
  if (!inv) return lookup_error(inv.error());
  if (inv->challenge.empty()) return error(400, "start the registration from the page (no challenge issued)");
  auto cdj = credential_field(credential, "response", "clientDataJSON");
  auto att = credential_field(credential, "response", "attestationObject");
  if (!cdj || !att) return error(400, "malformed registration: " + (!cdj ? cdj : att).error().message);
  auto trust = s_.mfa().trust();
  if (!trust) return error(500, "internal error: " + trust.error().message);
  authn::RegistrationCheck check;
  check.rp_id = origin_.rp_id;
  check.origin = origin_.origin;
  check.challenge = inv->challenge;
  check.allow_none_attestation = s_.config().allow_none_attestation;
  check.trust = &*trust;
  authn::AttestationInfo presented;
  auto cred = authn::verify_registration(*cdj, *att, check, &presented);
  if (!cred) {
    audit(inv->user, "webauthn.register", Outcome::kDeny, cred.error().message,
          {{"attestation", presented.format},
           {"aaguid", presented.aaguid},
           {"certificate", presented.subject},
           {"chain", presented.chain_pem}});
    return error(400, "registration refused: " + cred.error().message);
  }
  nlohmann::json details = {{"credential_id", b64url(cred->credential_id)},
                            {"aaguid", cred->attestation.aaguid},
                            {"attestation", cred->attestation.format},
                            {"certificate", cred->attestation.subject},
                            {"alg", cred->cose_alg}};
  // SECURITY: stored pending: whoever held the link must still prove to be
  // the person (their SSH key and this code) or be vouched for by an
  // administrator before the key approves anything.
  Micros code_expires = std::min(inv->expires_at, s_.clock().now() + authn::MfaStore::kInviteTtl);
  auto code = s_.mfa().add_credential(inv->user, *cred, code_expires);
  if (!code) return error(409, code.error().message);
  if (auto st = s_.mfa().use_invite(token); !st) return error(410, st.message());
  details["state"] = "pending";
  details["confirm_code_expires_at"] = format_utc(code_expires);
  audit(inv->user, "webauthn.register", Outcome::kAllow, "credential registered, pending confirmation", details);
  const std::string id = b64url(cred->credential_id);
  return {200,
          {{"ok", true},
           {"message",
            "Security key registered for " + inv->user + ". It cannot be used until you confirm it (see below)."},
           {"confirmation",
            {{"code", *code},
             {"command", confirm_key_command(s_.config(), inv->user, *code)},
             {"expires_at", format_utc_seconds(code_expires)},
             {"credential_id", id},
             {"admin_command", admin_key_command("confirm-key", inv->user, id)}}},
           {"ssh_instructions", ssh_enrollment_instructions(inv->user, s_.config().public_name)}}};
}

WebReply MfaWeb::stepup_info(const std::string& code) {
  std::lock_guard lock(mu_);
  auto s = s_.mfa().find_step_up(code);
  if (!s) return lookup_error(s.error());
  if (s->state != "pending") return error(410, "this sign-in link was already used");
  if (s->expires_at <= s_.clock().now()) return error(410, "this sign-in link has expired; connect again");
  // A command's step-up (an approval) names what it confirms; a login's, where it goes.
  const std::string kCommand = "command: ";
  std::string purpose =
      s->purpose.starts_with(kCommand) ? "Confirm: " + s->purpose.substr(kCommand.size()) : "SSH login " + s->purpose;
  nlohmann::json info = {{"user", s->user}, {"purpose", purpose}};
  // Said before the button is pressed; pressing it fails the step-up with this reason.
  auto creds = s_.mfa().credentials(s->user);
  if (creds && std::none_of(creds->begin(), creds->end(), [](const auto& c) { return c.state == "active"; }) &&
      std::any_of(creds->begin(), creds->end(), [](const auto& c) { return c.state == "pending"; })) {
    info["notice"] = unconfirmed_key_reason(s_.config(), s->user);
  }
  return {200, info};
}

WebReply MfaWeb::stepup_options(const std::string& code) {
  std::lock_guard lock(mu_);
  auto s = s_.mfa().find_step_up(code);
  if (!s) return lookup_error(s.error());
  if (s->state != "pending") return error(410, "this sign-in link was already used");
  if (s->expires_at <= s_.clock().now()) return error(410, "this sign-in link has expired; connect again");
  auto creds = s_.mfa().credentials(s->user);
  if (!creds) return error(500, "internal error: " + creds.error().message);
  nlohmann::json allow = nlohmann::json::array();
  bool pending = false;
  for (const auto& c : *creds) {
    if (c.state == "active") allow.push_back({{"type", "public-key"}, {"id", c.id}});
    pending = pending || c.state == "pending";
  }
  // SECURITY: the waiting login is denied with the reason, and the person
  // reads here how to confirm the key.
  if (allow.empty() && pending) return fail_step_up(code, *s, unconfirmed_key_reason(s_.config(), s->user), "");
  if (allow.empty()) return error(403, s->user + " has no active security-key credential");
  nlohmann::json pk = {{"challenge", b64url(s->challenge)},
                       {"rpId", origin_.rp_id},
                       {"allowCredentials", allow},
                       {"userVerification", "required"},
                       {"timeout", 120000}};
  return {200, {{"publicKey", pk}}};
}

WebReply MfaWeb::fail_step_up(const std::string& code, const authn::StepUpRecord& s, const std::string& reason,
                              const std::string& credential_id) {
  (void)s_.mfa().finish_step_up(code, false, reason, credential_id);
  audit(s.user, "webauthn.step_up", Outcome::kDeny, reason, {{"credential_id", credential_id}}, s.session_id);
  return error(403, "step-up refused: " + reason);
}

WebReply MfaWeb::stepup_assert(const std::string& code, const nlohmann::json& credential) {
  std::lock_guard lock(mu_);
  auto s = s_.mfa().find_step_up(code);
  if (!s) return lookup_error(s.error());
  if (s->state != "pending") return error(410, "this sign-in link was already used");
  if (s->expires_at <= s_.clock().now()) return error(410, "this sign-in link has expired; connect again");
  auto a = posted_assertion(credential);
  if (!a) return fail_step_up(code, *s, a.error().message, "");
  std::string id = b64url(a->raw_id);
  auto stored = s_.mfa().find_credential(a->raw_id);
  if (!stored) return error(500, "internal error: " + stored.error().message);
  // SECURITY: only the person's own, active credentials count.
  if (!*stored || (*stored)->user != s->user) return fail_step_up(code, *s, "unknown credential", id);
  if ((*stored)->state == "pending") return fail_step_up(code, *s, unconfirmed_key_reason(s_.config(), s->user), id);
  if ((*stored)->state != "active") {
    return fail_step_up(code, *s, "credential is " + (*stored)->state + ": " + (*stored)->state_reason, id);
  }
  auto ok = check_posted_assertion(s_.mfa(), origin_, *a, **stored, s->challenge, [&](const std::string& why) {
    audit(s->user, "webauthn.alert", Outcome::kDeny, why, {{"credential_id", id}}, s->session_id);
  });
  if (!ok) return fail_step_up(code, *s, ok.error().message, id);
  if (auto st = s_.mfa().finish_step_up(code, true, "", id); !st) return error(410, st.message());
  audit(s->user, "webauthn.step_up", Outcome::kAllow, "step-up verified",
        {{"credential_id", id}, {"sign_count", *ok}, {"purpose", s->purpose}}, s->session_id);
  return {200, {{"ok", true}, {"message", "Done. Return to your terminal: the login continues."}}};
}

}  // namespace bastion::gateway
