#include "gateway/sshd/listener.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "common/files.h"

namespace bastion::gateway {
namespace {

// SECURITY: modern algorithms only: no SHA-1, no CBC, no DH groups < 2048
// bits; MACs only encrypt-then-MAC (the AEAD ciphers carry their own).
constexpr const char* kKex = "curve25519-sha256,curve25519-sha256@libssh.org";
constexpr const char* kCiphers =
    "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,"
    "aes256-ctr,aes192-ctr,aes128-ctr";
constexpr const char* kMacs = "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com";
constexpr const char* kPubkeyTypes =
    "sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,ssh-ed25519,"
    "ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256";

}  // namespace

Result<UniqueFd> listen_tcp(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string p = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), p.c_str(), &hints, &res); rc != 0) {
    return make_error("cannot resolve listen address " + host + ": " + gai_strerror(rc));
  }
  std::string last = "no address";
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
    if (!fd) continue;
    int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd.get(), 512) == 0) {
      freeaddrinfo(res);
      return fd;
    }
    last = std::strerror(errno);
  }
  freeaddrinfo(res);
  return make_error("cannot listen on " + host + ":" + p + ": " + last);
}

Result<UniqueFd> listen_unix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return make_error("control socket path too long: " + path);
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  // One typed message per packet (gateway/app/monitor_protocol.h).
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd) return make_error(std::string("socket: ") + std::strerror(errno));
  // A socket that still accepts connections belongs to a running bastiond.
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    return make_error("another bastiond is running (control socket " + path + " answers)");
  }
  ::unlink(path.c_str());
  mode_t old = ::umask(0077);
  int rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  if (rc != 0) return make_error("cannot bind control socket " + path + ": " + std::strerror(errno));
  ::chmod(path.c_str(), 0600);
  if (::listen(fd.get(), 16) != 0) return make_error(std::string("listen: ") + std::strerror(errno));
  return fd;
}

Result<SshBind> make_ssh_bind(const Config& cfg) {
  SshBind bind(ssh_bind_new());
  if (!bind) return make_error("out of memory");
  for (const auto& key : cfg.host_keys) {
    struct stat st {};
    if (::stat(key.c_str(), &st) != 0) {
      return make_error("host key " + key + " is missing (run `bastionctl init`)");
    }
    if ((st.st_mode & 077) != 0) {
      return make_error("host key " + key + " is readable by others; chmod 600 " + key);
    }
    if (ssh_bind_options_set(bind.get(), SSH_BIND_OPTIONS_HOSTKEY, key.c_str()) != SSH_OK) {
      return make_error("cannot load host key " + key + ": " + ssh_get_error(bind.get()));
    }
  }
  struct Opt {
    ssh_bind_options_e opt;
    const char* value;
  };
  for (const Opt& o :
       {Opt{SSH_BIND_OPTIONS_KEY_EXCHANGE, kKex}, Opt{SSH_BIND_OPTIONS_CIPHERS_C_S, kCiphers},
        Opt{SSH_BIND_OPTIONS_CIPHERS_S_C, kCiphers}, Opt{SSH_BIND_OPTIONS_HMAC_C_S, kMacs},
        Opt{SSH_BIND_OPTIONS_HMAC_S_C, kMacs}, Opt{SSH_BIND_OPTIONS_PUBKEY_ACCEPTED_KEY_TYPES, kPubkeyTypes},
        Opt{SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS, "ssh-ed25519"},
        // The version string says what we are, not which library release (no
        // version-matching for scanners); "SSH-2.0-bastion".
        Opt{SSH_BIND_OPTIONS_BANNER, "bastion"}}) {
    if (ssh_bind_options_set(bind.get(), o.opt, o.value) != SSH_OK) {
      return make_error(std::string("libssh refused algorithm list ") + o.value + ": " + ssh_get_error(bind.get()));
    }
  }
  return bind;
}

}  // namespace bastion::gateway
