// End-to-end: a target's pinned host key is replaced with `target rekey`
// (from a key file or from an OpenSSH known_hosts file), the gateway then
// reaches the target only with the new key, and each change is audited.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "fixture.h"

namespace bastion::e2e {
namespace {

class TargetRekey : public DeploymentTest<TargetRekey> {};

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

TEST_F(TargetRekey, TheGatewayTrustsOnlyTheNewlyPinnedKeyAndEachChangeIsAudited) {
  auto before = d->ssh(*alice, dest(), {"echo", "reached"});
  ASSERT_EQ(before.exit_code, 0) << before.err;

  // A key the target does not have: what an administrator pins by mistake,
  // or what a man in the middle would present.
  std::string other = d->dir() + "/other_host_key";
  ASSERT_EQ(run({"ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", other}).exit_code, 0);
  auto pinned = d->ctl({"target", "rekey", "prod-db-1", "--host-key", other + ".pub"});
  ASSERT_EQ(pinned.exit_code, 0) << pinned.err;
  std::string real_fp = trimmed(run({"ssh-keygen", "-l", "-E", "sha256", "-f", d->target_host_pub()}).out);
  std::string other_fp = trimmed(run({"ssh-keygen", "-l", "-E", "sha256", "-f", other + ".pub"}).out);
  real_fp = real_fp.substr(real_fp.find(' ') + 1, real_fp.find(' ', real_fp.find(' ') + 1) - real_fp.find(' ') - 1);
  other_fp =
      other_fp.substr(other_fp.find(' ') + 1, other_fp.find(' ', other_fp.find(' ') + 1) - other_fp.find(' ') - 1);
  EXPECT_NE(pinned.out.find("host key " + real_fp + " replaced by " + other_fp), std::string::npos) << pinned.out;

  auto refused = d->ssh(*alice, dest(), {"echo", "reached"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_EQ(refused.out.find("reached"), std::string::npos);
  EXPECT_NE(refused.err.find("host key of prod-db-1 does not match the pinned key"), std::string::npos) << refused.err;

  // The real key back, from a known_hosts file whose names ssh-keygen hashed.
  std::string known = d->dir() + "/targets.known_hosts";  // not the clients' known_hosts (the gateway's key)
  write_text(known, "[127.0.0.1]:" + std::to_string(d->target_port()) + " " + read_text(d->target_host_pub()) +
                        "other.example.com " + read_text(other + ".pub"));
  ASSERT_EQ(run({"ssh-keygen", "-H", "-f", known}).exit_code, 0);
  ASSERT_EQ(read_text(known).find("127.0.0.1"), std::string::npos);
  auto restored = d->ctl({"target", "rekey", "prod-db-1", "--from-known-hosts", known});
  ASSERT_EQ(restored.exit_code, 0) << restored.err;
  EXPECT_NE(restored.out.find("host key " + other_fp + " replaced by " + real_fp), std::string::npos) << restored.out;
  auto after = d->ssh(*alice, dest(), {"echo", "reached"});
  EXPECT_EQ(after.exit_code, 0) << after.err;
  EXPECT_NE(after.out.find("reached"), std::string::npos);

  // Nothing to change, and misuse: one clear line each, no change, no record.
  auto same = d->ctl({"target", "rekey", "prod-db-1", "--from-known-hosts", known});
  EXPECT_EQ(same.exit_code, 1);
  EXPECT_EQ(same.err, "bastionctl: target prod-db-1 already pins " + real_fp + "; nothing changed\n");
  auto neither = d->ctl({"target", "rekey", "prod-db-1"});
  EXPECT_EQ(neither.exit_code, 2);
  EXPECT_NE(neither.err.find("one of --host-key FILE or --from-known-hosts FILE"), std::string::npos) << neither.err;
  auto nobody = d->ctl({"target", "rekey", "no-such-host", "--host-key", other + ".pub"});
  EXPECT_EQ(nobody.exit_code, 1);
  EXPECT_EQ(nobody.err, "bastionctl: no such target: no-such-host\n");
  write_text(known, "# nothing for this target\nother.example.com " + read_text(other + ".pub"));
  auto absent = d->ctl({"target", "rekey", "prod-db-1", "--from-known-hosts", known});
  EXPECT_EQ(absent.exit_code, 1);
  EXPECT_NE(absent.err.find("lists no host key for 127.0.0.1:" + std::to_string(d->target_port())), std::string::npos)
      << absent.err;

  auto records = nlohmann::json::parse(d->ctl_ok({"audit", "list", "--json", "--action", "target.rekey"}));
  ASSERT_EQ(records.size(), 2U) << records.dump();
  std::vector<std::string> changes;
  for (const auto& r : records) {
    EXPECT_EQ(r["target"], "prod-db-1");
    changes.push_back(r["details"]["old_host_key_fingerprint"].get<std::string>() + " -> " +
                      r["details"]["host_key_fingerprint"].get<std::string>());
  }
  std::sort(changes.begin(), changes.end());
  std::vector<std::string> expected = {real_fp + " -> " + other_fp, other_fp + " -> " + real_fp};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(changes, expected);
  EXPECT_EQ(d->ctl({"audit", "verify"}).exit_code, 0);
}

}  // namespace
}  // namespace bastion::e2e
