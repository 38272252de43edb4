#include "gateway/sshd/host_key.h"

#include "common/files.h"
#include "gateway/sshd/ssh_handles.h"

namespace bastion::gateway {

Status generate_host_key(const std::string& path) {
  if (file_exists(path)) return make_error("refusing to overwrite existing key " + path);
  ssh_key raw = nullptr;
  if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &raw) != SSH_OK) {
    return make_error("cannot generate host key");
  }
  SshKey key(raw);
  char* b64 = nullptr;
  if (ssh_pki_export_privkey_base64(key.get(), nullptr, nullptr, nullptr, &b64) != SSH_OK) {
    return make_error("cannot export host key");
  }
  std::string text(b64);
  ssh_string_free_char(b64);
  if (auto st = write_file_atomic(path, text, 0600, false); !st) return st;
  char* pub = nullptr;
  if (ssh_pki_export_pubkey_base64(key.get(), &pub) != SSH_OK) return make_error("cannot export host key");
  std::string line = std::string(ssh_key_type_to_char(ssh_key_type(key.get()))) + " " + pub + "\n";
  ssh_string_free_char(pub);
  return write_file_atomic(path + ".pub", line, 0644, false);
}

}  // namespace bastion::gateway
