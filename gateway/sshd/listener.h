// Sockets and the libssh server configuration for bastiond.
#pragma once

#include <string>

#include "common/config.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "gateway/sshd/ssh_handles.h"

namespace bastion::gateway {

Result<UniqueFd> listen_tcp(const std::string& host, uint16_t port);
// The control socket: a Unix SOCK_SEQPACKET socket only the service user can
// reach (mode 0600).
Result<UniqueFd> listen_unix(const std::string& path);
// An ssh_bind with the host keys and the allowed algorithms.
Result<SshBind> make_ssh_bind(const Config& cfg);

}  // namespace bastion::gateway
