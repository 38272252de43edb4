// UserCa: the gateway's user certificate authority, an Ed25519 key that signs
// short-lived OpenSSH user certificates for upstream logins. Targets trust it
// with sshd's TrustedUserCAKeys. Format: OpenSSH PROTOCOL.certkeys.
//
// Contract:
// - create() generates a key and writes it as PKCS#8 PEM with mode 0600
//   atomically; it refuses if anything (even a dangling symlink) is at the
//   path. load() refuses a key file readable or writable by group or others,
//   and anything but an Ed25519 private key.
// - sign_user_certificate() validates the request and returns an Error for
//   a bad one; it never signs a certificate sshd would misread: principals,
//   key id and names are printable text, options and extensions are unique
//   and sorted by name, critical options are ones sshd knows.
// - The private key never leaves this object and is wiped when it is freed.
// Thread-safety: const methods may be called concurrently.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/ed25519_key.h"
#include "common/result.h"

namespace bastion::authn {

struct CertificateRequest {
  // SSH wire blob of the key being certified: ssh-ed25519,
  // ecdsa-sha2-nistp256, or their sk- (security key) variants.
  std::vector<uint8_t> subject_key_blob;
  uint64_t serial = 0;                  // 0 means "not numbered"
  std::string key_id;                   // non-empty; logged by sshd on login
  std::vector<std::string> principals;  // login names; at least one
  uint64_t valid_after = 0;             // seconds since the epoch, inclusive
  uint64_t valid_before = 0;            // seconds since the epoch, exclusive; > valid_after
  // Extension names, e.g. "permit-pty", "permit-port-forwarding" (no data).
  std::vector<std::string> extensions;
  // Critical options as (name, value): "force-command" and "source-address"
  // need a value; "verify-required" takes an empty one. Others are refused.
  std::vector<std::pair<std::string, std::string>> critical_options;
};

class UserCa {
 public:
  static Result<UserCa> create(const std::string& path);
  static Result<UserCa> load(const std::string& path);

  // "ssh-ed25519 AAAA... bastion-user-ca", for TrustedUserCAKeys.
  [[nodiscard]] std::string public_key_line() const;
  // The CA public key as an SSH wire blob (the certificates' signature key).
  [[nodiscard]] std::vector<uint8_t> public_key_blob() const;
  // An OpenSSH user certificate (wire blob) with a fresh 32-byte nonce.
  [[nodiscard]] Result<std::vector<uint8_t>> sign_user_certificate(const CertificateRequest& req) const;

  // "CERT-TYPE BASE64[ COMMENT]", the format of a key-cert.pub file.
  static std::string certificate_line(std::span<const uint8_t> blob, std::string_view comment);

 private:
  explicit UserCa(Ed25519Key key) : key_(std::move(key)) {}
  Ed25519Key key_;
};

}  // namespace bastion::authn
