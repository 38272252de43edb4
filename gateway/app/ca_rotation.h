// The user CA's key files through a rotation. Targets trust the CA with
// sshd's TrustedUserCAKeys; a rotation changes the key without a login
// failing, in three steps an administrator runs (bastionctl ca rotate):
//
//   start    makes `KEY.next`. It does not sign yet; `ca show` prints it
//            beside the active key, for the targets to trust both.
//   promote  `KEY` becomes `KEY.previous` and `KEY.next` becomes `KEY`: the
//            gateway signs with the new key (after bastiond reloads it). The
//            previous key stays in `ca show` until it is retired.
//   retire   removes `KEY.previous`; the targets may drop its line.
//
// (`cancel` removes `KEY.next` before promotion.) Whether the targets already
// trust the next key is the caller's check (bastionctl probes them).
//
// Contract: every step changes the files with link/rename/unlink and then
// fsyncs the directory, so a crash leaves either the old or the new state; a
// promote that a crash cut between its two steps (KEY.previous made, KEY.next
// still there) completes when run again. A step that does not apply (promote
// with no rotation under way, a second start) fails with a one-line reason and
// changes nothing. Not for concurrent use by two administrators (the second
// step fails on the files the first one changed).
#pragma once

#include <optional>
#include <string>

#include "common/result.h"

namespace bastion::gateway {

// A key's public line as sshd reads it, and its SHA256 fingerprint.
struct CaKeyLine {
  std::string line;  // "ssh-ed25519 AAAA... bastion-user-ca[-next|-previous]"
  std::string fingerprint;
};

struct UserCaState {
  CaKeyLine active;                   // signs certificates
  std::optional<CaKeyLine> next;      // made by start, not signing yet
  std::optional<CaKeyLine> previous;  // signed before the last promote, still trusted
};

class UserCaRotation {
 public:
  // `key_path`: [ca] user_ca_key.
  explicit UserCaRotation(std::string key_path);

  [[nodiscard]] Result<UserCaState> state() const;
  // The lines for TrustedUserCAKeys: the active key, then the next or the previous one.
  [[nodiscard]] Result<std::string> trusted_keys_text() const;

  Result<CaKeyLine> start();
  Status cancel();
  // Returns the new active key. The caller checks the targets first.
  Result<CaKeyLine> promote();
  // Returns the key it removed.
  Result<CaKeyLine> retire();

  [[nodiscard]] const std::string& next_path() const { return next_; }

 private:
  std::string active_, next_, previous_;
};

}  // namespace bastion::gateway
