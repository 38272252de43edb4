// One RAII owner per libssh handle type (CHandle, see common/c_handle.h).
// libssh types never leave gateway/.
#pragma once

#include <libssh/libssh.h>
#include <libssh/server.h>

#include "common/c_handle.h"

namespace bastion::gateway {

using SshSession = CHandle<ssh_session_struct, ssh_free>;
using SshBind = CHandle<ssh_bind_struct, ssh_bind_free>;
using SshKey = CHandle<ssh_key_struct, ssh_key_free>;
using SshEvent = CHandle<ssh_event_struct, ssh_event_free>;
using SshString = CHandle<ssh_string_struct, ssh_string_free>;
using SshCString = CHandle<char, ssh_string_free_char>;
// Channels are owned by their session; this frees one early (closing it first
// is the caller's job).
using SshChannel = CHandle<ssh_channel_struct, ssh_channel_free>;

}  // namespace bastion::gateway
