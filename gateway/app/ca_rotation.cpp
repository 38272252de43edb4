#include "gateway/app/ca_rotation.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "authn/public_key.h"
#include "authn/user_ca.h"
#include "common/files.h"

namespace bastion::gateway {
namespace {

// The key at `path` as a TrustedUserCAKeys line with `comment`.
Result<CaKeyLine> key_line(const std::string& path, const std::string& comment) {
  auto ca = authn::UserCa::load(path);
  if (!ca) return ca.error();
  auto blob = ca->public_key_blob();
  std::string line = ca->public_key_line();
  line = line.substr(0, line.rfind(' ')) + " " + comment;
  return CaKeyLine{line, authn::fingerprint_sha256(blob)};
}

Result<std::optional<CaKeyLine>> key_line_if_any(const std::string& path, const std::string& comment) {
  if (!file_exists(path)) return std::optional<CaKeyLine>{};
  auto k = key_line(path, comment);
  if (!k) return k.error();
  return std::optional<CaKeyLine>(std::move(*k));
}

Error fail_errno(const std::string& what) { return make_error(what + ": " + std::strerror(errno)); }

}  // namespace

UserCaRotation::UserCaRotation(std::string key_path)
    : active_(std::move(key_path)), next_(active_ + ".next"), previous_(active_ + ".previous") {}

Result<UserCaState> UserCaRotation::state() const {
  auto active = key_line(active_, "bastion-user-ca");
  if (!active) return active.error().prefixed("user CA: ");
  auto next = key_line_if_any(next_, "bastion-user-ca-next");
  if (!next) return next.error().prefixed("next user CA key: ");
  auto previous = key_line_if_any(previous_, "bastion-user-ca-previous");
  if (!previous) return previous.error().prefixed("previous user CA key: ");
  UserCaState s{std::move(*active), std::move(*next), std::move(*previous)};
  // A promote cut short by a crash: KEY.previous is KEY, KEY.next not yet moved.
  if (s.previous && s.next && s.previous->fingerprint == s.active.fingerprint) s.previous.reset();
  return s;
}

Result<std::string> UserCaRotation::trusted_keys_text() const {
  auto s = state();
  if (!s) return s.error();
  std::string out = s->active.line + "\n";
  if (s->next) out += s->next->line + "\n";
  if (s->previous) out += s->previous->line + "\n";
  return out;
}

Result<CaKeyLine> UserCaRotation::start() {
  auto s = state();
  if (!s) return s.error();
  if (s->next) {
    return make_error("a rotation is already under way (next key " + s->next->fingerprint +
                      "): promote it with `bastionctl ca rotate --promote` or cancel it with `bastionctl ca rotate "
                      "--cancel`");
  }
  if (s->previous) {
    return make_error("the previous key " + s->previous->fingerprint +
                      " is still trusted: retire it first with `bastionctl ca rotate --retire`");
  }
  auto made = authn::UserCa::create(next_);
  if (!made) return made.error().prefixed("cannot create the next user CA key: ");
  return key_line(next_, "bastion-user-ca-next");
}

Status UserCaRotation::cancel() {
  auto s = state();
  if (!s) return s.error();
  if (!s->next) return make_error("no rotation is under way: start one with `bastionctl ca rotate`");
  if (::unlink(next_.c_str()) != 0) return fail_errno("cannot remove " + next_);
  // A promote cut short had linked KEY.previous to KEY: undo that too.
  if (file_exists(previous_)) {
    auto prev = key_line(previous_, "");
    if (prev && prev->fingerprint == s->active.fingerprint && ::unlink(previous_.c_str()) != 0) {
      return fail_errno("cannot remove " + previous_);
    }
  }
  return sync_parent_directory(active_);
}

Result<CaKeyLine> UserCaRotation::promote() {
  auto s = state();
  if (!s) return s.error();
  if (!s->next) return make_error("no rotation is under way: start one with `bastionctl ca rotate`");
  if (s->previous) {
    return make_error("the previous key " + s->previous->fingerprint + " is still there: retire it first");
  }
  // 1. KEY.previous: a second name for the active key (absent, or left by a
  //    promote a crash cut short, which state() saw to be the active key).
  if (!file_exists(previous_) && ::link(active_.c_str(), previous_.c_str()) != 0) {
    return fail_errno("cannot keep the active key as " + previous_);
  }
  if (auto st = sync_parent_directory(active_); !st) return st.error();
  // 2. KEY.next replaces KEY in one rename.
  if (::rename(next_.c_str(), active_.c_str()) != 0) return fail_errno("cannot make " + next_ + " the active key");
  if (auto st = sync_parent_directory(active_); !st) return st.error();
  return key_line(active_, "bastion-user-ca");
}

Result<CaKeyLine> UserCaRotation::retire() {
  auto s = state();
  if (!s) return s.error();
  if (!s->previous) return make_error("there is no previous CA key to retire");
  if (::unlink(previous_.c_str()) != 0) return fail_errno("cannot remove " + previous_);
  if (auto st = sync_parent_directory(active_); !st) return st.error();
  return *s->previous;
}

}  // namespace bastion::gateway
