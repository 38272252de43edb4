// UserCa: the gateway's user certificate authority, an Ed25519 key that signs
// short-lived OpenSSH user certificates for upstream logins. Targets trust it
// with sshd's TrustedUserCAKeys. Format: OpenSSH PROTOCOL.certkeys.
//
// Contract: create() refuses to overwrite an existing file and writes it with
// mode 0600 atomically; load() refuses a key file readable by group or others.
// The private key never leaves this object. Thread-compatible (const methods
// may be called concurrently).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/ed25519_key.h"
#include "common/result.h"

namespace bastion::authn {

struct CertificateRequest {
  std::vector<uint8_t> subject_key_blob;  // ssh-ed25519 or ecdsa-sha2-nistp256
  uint64_t serial = 0;
  std::string key_id;
  std::vector<std::string> principals;  // at least one
  uint64_t valid_after = 0;             // seconds since the epoch
  uint64_t valid_before = 0;
  std::vector<std::string> extensions;                                // names, e.g. "permit-pty"
  std::vector<std::pair<std::string, std::string>> critical_options;  // e.g. force-command
};

class UserCa {
 public:
  static Result<UserCa> create(const std::string& path);
  static Result<UserCa> load(const std::string& path);

  // "ssh-ed25519 AAAA... bastion-user-ca"
  [[nodiscard]] std::string public_key_line() const;
  [[nodiscard]] std::vector<uint8_t> public_key_blob() const;
  [[nodiscard]] Result<std::vector<uint8_t>> sign_user_certificate(const CertificateRequest& req) const;

  static std::string certificate_line(std::span<const uint8_t> blob, std::string_view comment);

 private:
  explicit UserCa(Ed25519Key key) : key_(std::move(key)) {}
  Ed25519Key key_;
};

}  // namespace bastion::authn
