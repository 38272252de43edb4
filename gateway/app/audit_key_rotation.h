// Rotating the audit signing key ([audit] signing_key), the key that signs
// the audit chain's checkpoints. `audit verify` (and anyone holding the
// first public key) follows the rotation, because the last checkpoint the
// old key signs names the next key.
//
// Steps (each re-entrant: a rotation cut short by a crash completes when run
// again):
//   1. the next key is made at KEY.next (mode 0600), or taken from there;
//   2. an audit.key_rotate record naming both keys, and a "rotate"
//      checkpoint over it, signed by the old key and naming the new one;
//   3. KEY.next replaces KEY (one rename: the old private key is gone) and
//      KEY.pub gets the new public key line;
//   4. an audit.key_rotated record and a "rotated" checkpoint signed by the
//      new key.
// A process still holding the old key (a running bastiond until it reloads,
// another node) is refused when it next signs (AuditChain::write_checkpoint).
#pragma once

#include <string>

#include "common/result.h"
#include "gateway/app/services.h"

namespace bastion::gateway {

struct AuditKeyRotation {
  std::string old_key_line;  // "bastion-audit-ed25519 BASE64"
  std::string new_key_line;
  int64_t rotate_seq = 0;   // the checkpoint the old key signed, naming the new one
  int64_t rotated_seq = 0;  // the first checkpoint the new key signed
  bool resumed = false;     // a rotation cut short was completed
};

Result<AuditKeyRotation> rotate_audit_signing_key(Services& s, const std::string& actor);

}  // namespace bastion::gateway
