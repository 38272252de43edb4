// SSH host key generation for `bastionctl init`. The header is free of libssh
// so bastionctl's main can hand this function to the ctl library (which may
// not link libssh) without seeing libssh types.
#pragma once

#include <string>

#include "common/result.h"

namespace bastion::gateway {

// Generates an Ed25519 host key at `path` (0600, OpenSSH format) and its
// public half at `path`.pub (0644); refuses to overwrite.
Status generate_host_key(const std::string& path);

}  // namespace bastion::gateway
