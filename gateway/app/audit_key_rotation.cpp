#include "gateway/app/audit_key_rotation.h"

#include <cstdio>

#include "common/ed25519_key.h"
#include "common/encoding.h"
#include "common/files.h"
#include "recorder/audit_chain.h"

namespace bastion::gateway {
namespace {

Status append(Services& s, const std::string& actor, const std::string& action, const std::string& reason,
              nlohmann::json details) {
  recorder::AuditEvent e;
  e.actor = actor;
  e.action = action;
  e.outcome = recorder::Outcome::kAllow;
  e.reason = reason;
  e.details = std::move(details);
  auto r = s.audit().append(e);
  if (!r) return r.error();
  return {};
}

}  // namespace

Result<AuditKeyRotation> rotate_audit_signing_key(Services& s, const std::string& actor) {
  const std::string path = s.config().audit_signing_key;
  const std::string next_path = path + ".next";
  auto old_key = Ed25519Key::load(path);
  if (!old_key) return old_key.error().prefixed("audit signing key: ");
  AuditKeyRotation out;
  auto next = file_exists(next_path) ? Ed25519Key::load(next_path) : Ed25519Key::create(next_path);
  if (!next) return next.error().prefixed("next audit signing key: ");
  const std::string old_b64 = base64_encode(old_key->public_key());
  const std::string new_b64 = base64_encode(next->public_key());
  out.old_key_line = recorder::audit_public_key_line(old_key->public_key());
  out.new_key_line = recorder::audit_public_key_line(next->public_key());

  // Step 2, unless a run cut short already signed it.
  auto report = s.chain().verify(old_key->public_key());
  if (!report) return report.error();
  if (!report->ok) {
    return make_error("refusing to rotate: the audit log fails verification at seq " + std::to_string(report->bad_seq) +
                      ": " + report->problem);
  }
  if (report->signing_key != new_b64) {
    if (auto st = append(s, actor, "audit.key_rotate", "the audit signing key is rotated",
                         {{"old_key", old_b64}, {"new_key", new_b64}});
        !st) {
      return st.error();
    }
    auto c = s.chain().write_rotation_checkpoint(*old_key, *next);
    if (!c) return c.error().prefixed("the old key did not sign the rotation: ");
    out.rotate_seq = c->seq;
  } else {
    out.resumed = true;
  }
  // Step 3.
  if (std::rename(next_path.c_str(), path.c_str()) != 0) {
    return make_error("cannot install the new key " + next_path + " as " + path);
  }
  if (auto st = sync_parent_directory(path); !st) return st.error();
  if (auto st = write_file_atomic(path + ".pub", out.new_key_line + "\n", 0644, true); !st) return st.error();
  // Step 4.
  if (auto st = append(s, actor, "audit.key_rotated", "checkpoints are signed by the new key from here on",
                       {{"key", new_b64}});
      !st) {
    return st.error();
  }
  auto c = s.chain().write_checkpoint(*next, "rotated");
  if (!c) return c.error().prefixed("the new key did not sign: ");
  if (*c) out.rotated_seq = (*c)->seq;
  return out;
}

}  // namespace bastion::gateway
