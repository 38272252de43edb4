// bastionctl: attested key enrollment, attestation trust, WebAuthn invitations.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "gateway/ctl/ctl.h"

namespace bastion::gateway {

struct KeyAddArgs {
  std::string user, file;
  std::string attestation;      // ssh-keygen -O write-attestation output
  std::string challenge;        // optional: the challenge file it was made with
  bool no_attestation = false;  // service accounts only
};

// `key add`: verifies the attestation (when given or required) and enrols.
Status enroll_key(Services& s, const KeyAddArgs& a);
// `key add`'s options that exclude each other (a usage error).
Status check_key_add(KeyAddArgs& a);
void register_key_challenge(CLI::App* key, CtlGlobals& g);
void register_user_invite(CLI::App* user, CtlGlobals& g);
// user confirm-key / reject-key NAME CREDENTIAL_ID.
void register_user_key_confirmation(CLI::App* user, CtlGlobals& g);
void register_fido_commands(CLI::App& app, CtlGlobals& g);

}  // namespace bastion::gateway
