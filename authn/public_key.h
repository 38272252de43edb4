// OpenSSH public keys: parsing, validation and fingerprints.
//
// Contract: parse_public_key_line() and validate_key_blob() are parsers of
// untrusted input (files an administrator was handed, keys a peer presents).
// They accept only these types, each in the one canonical encoding OpenSSH
// writes:
//   ssh-ed25519, sk-ssh-ed25519@openssh.com            (32-byte key)
//   ecdsa-sha2-nistp256, sk-ecdsa-sha2-nistp256@openssh.com
//                                    (curve "nistp256", uncompressed point
//                                     that OpenSSL accepts on P-256)
//   ssh-rsa                          (e, n; 2048 to 16384 bits)
// Security-key types carry a non-empty application string after the key.
// The type named on a line must be the type inside the blob, nothing may
// trail the blob, and authorized_keys options are refused. Errors are one
// line saying what is wrong and never name a file (callers add the path).
// Thread-safety: pure functions.
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
  std::vector<uint8_t> blob;  // SSH wire encoding, validated
  std::string comment;        // may be empty; printable (no control characters)
};

// "TYPE BASE64 [COMMENT]", surrounding whitespace and a trailing CR ignored.
Result<PublicKey> parse_public_key_line(std::string_view line);
// The first line of the file that is neither empty nor a '#' comment,
// parsed as above. Refuses missing, empty and over-64-KiB files.
Result<PublicKey> read_public_key_file(const std::string& path);
// Validates a wire blob as above and returns its type.
Result<std::string> validate_key_blob(std::span<const uint8_t> blob);

// "SHA256:<unpadded base64 of SHA-256(blob)>", as `ssh-keygen -l` prints it.
std::string fingerprint_sha256(std::span<const uint8_t> blob);
// FIDO2 security-key types (sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com).
bool is_security_key(std::string_view type);
// "TYPE BASE64[ COMMENT]"; parse_public_key_line(to_line(k)) gives k back.
std::string to_line(const PublicKey& key);

}  // namespace bastion::authn
