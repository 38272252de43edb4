// The check `bastionctl ca rotate --promote` makes before the gateway signs
// with a new user CA key: does a target accept a certificate from that key?
#pragma once

#include <string>

#include "authn/user_ca.h"
#include "common/clock.h"
#include "common/result.h"
#include "policy/model.h"

namespace bastion::gateway {

// Connects to `target` (its pinned host key only) and authenticates as
// `login` with a certificate `ca` signs for this one check: valid for two
// minutes, from this host's address only, forced to run /bin/false, no
// extensions. No channel is opened. OK when the target accepted the
// certificate; otherwise the error says why (unreachable, host key mismatch,
// refused).
Status probe_user_ca(const policy::Target& target, const std::string& login, const authn::UserCa& ca, Micros timeout);

}  // namespace bastion::gateway
