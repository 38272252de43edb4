// MfaWeb: the gateway's side of the HTTPS pages (WebBackend): WebAuthn
// registration from an invitation, and step-up approval of an SSH login,
// verified with authn/ (libfido2) against what the database issued.
//
// Contract: every outcome that changes something (a credential registered,
// a step-up verified or failed, a credential locked after a counter
// regression) is audited; a failed step-up is final (the waiting SSH login
// is denied with the reason). RP ID = host of [web] public_url, origin =
// public_url. Thread-safe: calls are serialized by one mutex (one SQLite
// connection).
#pragma once

#include <mutex>
#include <string>

#include "gateway/app/services.h"
#include "gateway/app/web_backend.h"
#include "gateway/app/web_origin.h"

namespace bastion::gateway {

// The HTTP status for an invitation or sign-in link that could not be looked
// up: 410 for one that existed but is over (ErrorCode::kGone: expired, used,
// its person left or disabled), 404 otherwise.
int lookup_status(const Error& e);

// What to tell a person about enrolling their SSH key (shown after
// registration and by `user invite`).
std::string ssh_enrollment_instructions(const std::string& user, const std::string& gateway_host);

// The command with which `user` confirms, with their enrolled SSH key, the
// security key they registered from an invitation ("ssh -p 2200
// alice@gw.example.com confirm-key K7Q2-9XHD"; CODE when `code` is empty).
std::string confirm_key_command(const Config& cfg, const std::string& user, const std::string& code = "");
// "bastionctl user confirm-key alice ID" (`verb`: confirm-key, reject-key),
// with "--" before the names when the id starts with '-' (base64url ids can),
// so that it is not read as an option.
std::string admin_key_command(const std::string& verb, const std::string& user, const std::string& id);
// Why a step-up cannot use `user`'s security key yet, and the two ways out.
std::string unconfirmed_key_reason(const Config& cfg, const std::string& user);

class MfaWeb : public WebBackend {
 public:
  MfaWeb(Services& services, WebOrigin origin) : s_(services), origin_(std::move(origin)) {}

  WebReply invite_info(const std::string& token) override;
  WebReply invite_options(const std::string& token) override;
  WebReply invite_register(const std::string& token, const nlohmann::json& credential) override;
  WebReply stepup_info(const std::string& code) override;
  WebReply stepup_options(const std::string& code) override;
  WebReply stepup_assert(const std::string& code, const nlohmann::json& credential) override;

 private:
  void audit(const std::string& user, const std::string& action, recorder::Outcome outcome, const std::string& reason,
             nlohmann::json details, const std::string& session_id = "");
  WebReply fail_step_up(const std::string& code, const authn::StepUpRecord& s, const std::string& reason,
                        const std::string& credential_id);

  std::mutex mu_;
  Services& s_;
  WebOrigin origin_;
};

}  // namespace bastion::gateway
