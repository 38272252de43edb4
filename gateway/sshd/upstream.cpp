#include "gateway/sshd/upstream.h"

#include <netdb.h>
#include <sys/socket.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "common/encoding.h"

namespace bastion::gateway {
namespace {

std::string host_key_algorithms(enum ssh_keytypes_e type) {
  switch (type) {
    case SSH_KEYTYPE_ED25519: return "ssh-ed25519";
    case SSH_KEYTYPE_ECDSA_P256: return "ecdsa-sha2-nistp256";
    case SSH_KEYTYPE_ECDSA_P384: return "ecdsa-sha2-nistp384";
    case SSH_KEYTYPE_ECDSA_P521: return "ecdsa-sha2-nistp521";
    case SSH_KEYTYPE_RSA: return "rsa-sha2-512,rsa-sha2-256";
    default: return "";
  }
}

// Generates the per-connection key and attaches a fresh certificate to it.
Result<SshKey> make_certified_key(const CertificateSigner& sign, const std::string& source_address,
                                  std::string& key_id) {
  ssh_key raw = nullptr;
  if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &raw) != SSH_OK) {
    return make_error("cannot generate upstream key");
  }
  SshKey priv(raw);
  char* b64 = nullptr;
  if (ssh_pki_export_pubkey_base64(priv.get(), &b64) != SSH_OK) {
    return make_error("cannot export upstream key");
  }
  SshCString b64_owner(b64);
  auto blob = base64_decode(b64);
  if (!blob) return make_error("cannot decode upstream key");

  auto cert = sign(*blob, source_address);
  if (!cert) return make_error("cannot get an upstream certificate: " + cert.error().message);
  key_id = cert->key_id;
  std::string cert_b64 = base64_encode(cert->blob);
  ssh_key cert_raw = nullptr;
  if (ssh_pki_import_cert_base64(cert_b64.c_str(), SSH_KEYTYPE_ED25519_CERT01, &cert_raw) != SSH_OK) {
    return make_error("cannot load upstream certificate");
  }
  SshKey cert_key(cert_raw);
  if (ssh_pki_copy_cert_to_privkey(cert_key.get(), priv.get()) != SSH_OK) {
    return make_error("cannot attach upstream certificate");
  }
  return priv;
}

// The local address of a connected socket ("" if it has none).
std::string local_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (fd < 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
  char host[NI_MAXHOST];
  if (getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, host, sizeof host, nullptr, 0, NI_NUMERICHOST) != 0) return "";
  return host;
}

// Options and ssh_connect for one attempt; false: ssh_get_error(s) says why.
bool connect_session(ssh_session s, const policy::Target& t, const std::string& login, const std::string& algos,
                     long timeout_s) {
  int port = t.port;
  int no = 0;
  ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no);
  ssh_options_set(s, SSH_OPTIONS_HOST, t.host.c_str());
  ssh_options_set(s, SSH_OPTIONS_PORT, &port);
  ssh_options_set(s, SSH_OPTIONS_USER, login.c_str());
  ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout_s);
  ssh_options_set(s, SSH_OPTIONS_HOSTKEYS, algos.c_str());
  // Keystrokes go out at once (no Nagle delay waiting for the target's ACK):
  // without this, interactive echo sometimes waits ~40 ms (delayed ACK).
  int nodelay = 1;
  ssh_options_set(s, SSH_OPTIONS_NODELAY, &nodelay);
  ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null");
  ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
  ssh_options_set(s, SSH_OPTIONS_CIPHERS_C_S,
                  "aes128-gcm@openssh.com,chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-ctr");
  ssh_options_set(s, SSH_OPTIONS_CIPHERS_S_C,
                  "aes128-gcm@openssh.com,chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-ctr");
  return ssh_connect(s) == SSH_OK;
}

}  // namespace

Result<SshKey> import_public_key_line(const std::string& line) {
  std::istringstream in(line);
  std::string type, b64;
  in >> type >> b64;
  enum ssh_keytypes_e kt = ssh_key_type_from_name(type.c_str());
  if (type.empty() || b64.empty() || kt == SSH_KEYTYPE_UNKNOWN) {
    return make_error("not an OpenSSH public key line");
  }
  ssh_key key = nullptr;
  if (ssh_pki_import_pubkey_base64(b64.c_str(), kt, &key) != SSH_OK) {
    return make_error("cannot parse public key of type " + type);
  }
  return SshKey(key);
}

Result<Upstream> Upstream::connect(const UpstreamRequest& req, const CertificateSigner& sign) {
  const policy::Target& t = *req.target;
  auto pinned = import_public_key_line(t.host_key);
  if (!pinned) return make_error("pinned host key of " + t.name + " is unusable: " + pinned.error().message);
  std::string algos = host_key_algorithms(ssh_key_type(pinned->get()));
  if (algos.empty()) return make_error("pinned host key of " + t.name + " has an unsupported type");

  Upstream up;
  // A target under a burst of connections (OpenSSH's MaxStartups early
  // drop, a full accept queue) may reset one before its banner: nothing of
  // the person's session has been sent yet, so that is tried again, within
  // the one connect_timeout. A refusal or a time-out is not.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(req.connect_timeout);
  for (int attempt = 1;; ++attempt) {
    up.session_.reset(ssh_new());
    if (!up.session_) return make_error("out of memory");
    auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline - std::chrono::steady_clock::now()).count();
    if (connect_session(up.session_.get(), t, req.login, algos, std::max<long>(1, static_cast<long>(left)))) break;
    const std::string why = ssh_get_error(up.session_.get());
    const bool transient = why.find("reset by peer") != std::string::npos ||
                           why.find("Connection closed") != std::string::npos ||
                           why.find("Socket error: disconnected") != std::string::npos;
    if (!transient || attempt >= 5 || std::chrono::steady_clock::now() + std::chrono::seconds(1) > deadline) {
      return make_error("cannot reach " + t.name + " (" + t.host + ":" + std::to_string(t.port) + "): " + why +
                        (attempt > 1 ? " (after " + std::to_string(attempt) + " attempts)" : ""));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100 * attempt * attempt));
  }
  ssh_session s = up.session_.get();
  ssh_key server_raw = nullptr;
  if (ssh_get_server_publickey(s, &server_raw) != SSH_OK) {
    return make_error("target " + t.name + " presented no host key");
  }
  SshKey server_key(server_raw);
  // SECURITY: pinned host keys only; no TOFU, no known_hosts fallback. A
  // mismatch could be a man in the middle collecting our certificates.
  if (ssh_key_cmp(server_key.get(), pinned->get(), SSH_KEY_CMP_PUBLIC) != 0) {
    return make_error("host key of " + t.name + " does not match the pinned key; refusing");
  }
  // Connected first, so the certificate can name the address we come from.
  auto key = make_certified_key(sign, local_address(ssh_get_fd(s)), up.key_id_);
  if (!key) return key.error();
  int rc = ssh_userauth_publickey(s, nullptr, key->get());
  if (rc != SSH_AUTH_SUCCESS) {
    std::string principal = policy::certificate_principal(t, req.login);
    return make_error("target " + t.name + " refused the gateway certificate for login " + req.login +
                      " (does it trust the user CA, and does account " + req.login + " exist?" +
                      (principal != req.login
                           ? " Does its AuthorizedPrincipalsFile for " + req.login + " list " + principal + "?"
                           : std::string()) +
                      ")");
  }
  return up;
}

}  // namespace bastion::gateway
