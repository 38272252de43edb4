// End-to-end: `audit rotate-key` replaces the audit signing key while
// bastiond runs: the old key signs a checkpoint naming the new one, the
// running daemon signs with the new key from then on, and `audit verify`
// follows the rotation from the old public key (kept apart by the operator)
// as well as from the new one.
#include <gtest/gtest.h>

#include <filesystem>

#include "fixture.h"

namespace bastion::e2e {
namespace {

class AuditKeyRotation : public DeploymentTest<AuditKeyRotation> {};

TEST_F(AuditKeyRotation, TheOldKeyHandsOverToTheNewAndVerifyFollowsFromEither) {
  const std::string key_file = d->dir() + "/state/audit_signing_key";
  const std::string kept_apart = d->dir() + "/audit-first.pub";
  write_text(kept_apart, read_text(key_file + ".pub"));
  ASSERT_EQ(d->ssh(*alice, dest(), {"echo", "before"}).exit_code, 0);
  d->ctl_ok({"audit", "checkpoint"});

  auto rotated = d->ctl({"audit", "rotate-key"});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.err;
  EXPECT_NE(rotated.out.find("rotated the audit signing key"), std::string::npos) << rotated.out;
  EXPECT_NE(rotated.out.find("bastiond signs with the new key"), std::string::npos) << rotated.out;
  EXPECT_NE(read_text(key_file + ".pub"), read_text(kept_apart));
  EXPECT_FALSE(std::filesystem::exists(key_file + ".next"));

  // Records after the rotation, and checkpoints the running daemon signs:
  // at its restart (kind "shutdown") and by bastionctl.
  ASSERT_EQ(d->ssh(*alice, dest(), {"echo", "after"}).exit_code, 0);
  d->restart_bastiond();
  ASSERT_EQ(d->ssh(*alice, dest(), {"echo", "restarted"}).exit_code, 0);
  d->ctl_ok({"audit", "checkpoint"});
  EXPECT_GE(d->sql_int64("SELECT COUNT(*) FROM audit_checkpoints WHERE kind = 'shutdown' AND seq > "
                         "(SELECT seq FROM audit_checkpoints WHERE kind = 'rotate')"),
            1);
  EXPECT_EQ(d->gateway_log().find("refusing to sign a checkpoint"), std::string::npos) << d->gateway_log();

  auto from_first = d->ctl({"audit", "verify", "--public-key", kept_apart});
  ASSERT_EQ(from_first.exit_code, 0) << from_first.err;
  EXPECT_NE(from_first.out.find("audit log intact"), std::string::npos) << from_first.out;
  EXPECT_NE(from_first.out.find("key rotations followed: 1"), std::string::npos) << from_first.out;
  auto from_new = d->ctl({"audit", "verify"});
  ASSERT_EQ(from_new.exit_code, 0) << from_new.err;
  EXPECT_NE(from_new.out.find("signed by earlier keys"), std::string::npos) << from_new.out;

  // The old key, had someone kept it, no longer signs anything that verifies.
  auto records =
      d->sql_int64("SELECT COUNT(*) FROM audit_log WHERE action IN ('audit.key_rotate', 'audit.key_rotated')");
  EXPECT_EQ(records, 2);
}

}  // namespace
}  // namespace bastion::e2e
