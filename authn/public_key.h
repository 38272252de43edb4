// OpenSSH public keys: parsing, validation and fingerprints.
//
// parse_public_key_line() is a parser of untrusted input (files an
// administrator was handed): it checks that the blob is well-formed for its
// type, that the type named on the line is the type inside the blob, and that
// nothing trails it. Errors are one line saying what is wrong.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace bastion::authn {

struct PublicKey {
  std::string type;           // e.g. "sk-ssh-ed25519@openssh.com"
  std::vector<uint8_t> blob;  // SSH wire encoding
  std::string comment;
};

Result<PublicKey> parse_public_key_line(std::string_view line);
// The first non-empty, non-comment line of a file of at most 64 KiB.
Result<PublicKey> read_public_key_file(const std::string& path);
// Validates a wire blob and returns its type.
Result<std::string> validate_key_blob(std::span<const uint8_t> blob);

// "SHA256:<unpadded base64>", as `ssh-keygen -l` prints it.
std::string fingerprint_sha256(std::span<const uint8_t> blob);
// FIDO2 security-key types (sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com).
bool is_security_key(std::string_view type);
// "TYPE BASE64[ COMMENT]"
std::string to_line(const PublicKey& key);

}  // namespace bastion::authn
