// One RAII owner per libssh handle type. libssh types never leave gateway/.
#pragma once

#include <libssh/libssh.h>
#include <libssh/server.h>

#include <memory>

namespace bastion::gateway {

struct SessionDeleter {
  void operator()(ssh_session s) const { ssh_free(s); }
};
struct BindDeleter {
  void operator()(ssh_bind b) const { ssh_bind_free(b); }
};
struct KeyDeleter {
  void operator()(ssh_key k) const { ssh_key_free(k); }
};
struct EventDeleter {
  void operator()(ssh_event e) const { ssh_event_free(e); }
};
struct StringDeleter {
  void operator()(ssh_string s) const { ssh_string_free(s); }
};
struct CStringDeleter {
  void operator()(char* s) const { ssh_string_free_char(s); }
};
// Channels are owned by their session; this frees one early (closing it first
// is the caller's job).
struct ChannelDeleter {
  void operator()(ssh_channel c) const { ssh_channel_free(c); }
};

using SshSession = std::unique_ptr<ssh_session_struct, SessionDeleter>;
using SshBind = std::unique_ptr<ssh_bind_struct, BindDeleter>;
using SshKey = std::unique_ptr<ssh_key_struct, KeyDeleter>;
using SshEvent = std::unique_ptr<ssh_event_struct, EventDeleter>;
using SshString = std::unique_ptr<ssh_string_struct, StringDeleter>;
using SshCString = std::unique_ptr<char, CStringDeleter>;
using SshChannel = std::unique_ptr<ssh_channel_struct, ChannelDeleter>;

}  // namespace bastion::gateway
