// Ed25519 keys kept in files: the one implementation behind the user CA and
// the audit signing key.
//
// Contract: create() writes PKCS#8 PEM with mode 0600 atomically and refuses
// to overwrite; load() refuses a file readable by group or others. The
// private key never leaves the object; it is freed by OpenSSL (which wipes).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace bastion {

class Ed25519Key {
 public:
  static Result<Ed25519Key> create(const std::string& path);
  static Result<Ed25519Key> load(const std::string& path);
  Ed25519Key(Ed25519Key&&) noexcept;
  Ed25519Key& operator=(Ed25519Key&&) noexcept;
  ~Ed25519Key();

  [[nodiscard]] std::vector<uint8_t> public_key() const;  // 32 raw bytes
  [[nodiscard]] Result<std::vector<uint8_t>> sign(std::span<const uint8_t> message) const;

 private:
  struct Impl;
  explicit Ed25519Key(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Whether a 32-byte Ed25519 public key is one nobody should accept: a
// non-canonical encoding (y >= p) or one of the 8 points of small order
// (the identity, the all-zero key...). SECURITY: for such a key a signature
// can be forged without any private key, so no key of ours may be one.
bool ed25519_public_key_is_weak(std::span<const uint8_t> public_key);

// Verifies a 64-byte Ed25519 signature with a 32-byte raw public key; false
// for a weak key.
bool ed25519_verify(std::span<const uint8_t> public_key, std::span<const uint8_t> message,
                    std::span<const uint8_t> signature);

std::vector<uint8_t> sha256(std::span<const uint8_t> data);

}  // namespace bastion
