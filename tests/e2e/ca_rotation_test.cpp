// End-to-end: the user CA (the key targets trust through TrustedUserCAKeys)
// is rotated with `ca rotate`, `ca rotate --promote` and `ca rotate --retire`
// while a person keeps logging in. No login fails at any step; promotion is
// refused while a target used recently does not accept a certificate from the
// new key; after promotion the running gateway signs with the new key; each
// step is audited.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "fixture.h"

namespace bastion::e2e {
namespace {

class CaRotation : public DeploymentTest<CaRotation> {};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// "ssh-ed25519 AAAA... comment" -> "ssh-ed25519 AAAA..."
std::string key_of(const std::string& line) { return line.substr(0, line.find(' ', line.find(' ') + 1)); }

// What an administrator does on every target: sshd reads TrustedUserCAKeys at
// each login, so the file is replaced in one rename (never seen half-written).
void trust_on_target(const Deployment& dep, const std::string& text) {
  std::string tmp = dep.dir() + "/ca.pub.new";
  write_text(tmp, text);
  std::filesystem::rename(tmp, dep.dir() + "/ca.pub");
}

TEST_F(CaRotation, NoLoginFailsFromRotateToRetireAndPromotionWaitsForTheTargets) {
  auto before = lines_of(d->ctl_ok({"ca", "show"}));
  ASSERT_EQ(before.size(), 1U);
  const std::string old_key = key_of(before[0]);
  // A login, so that prod-db-1 counts as a target used in the last 30 days.
  auto first = d->ssh(*alice, dest(), {"echo", "reached"});
  ASSERT_EQ(first.exit_code, 0) << first.err;

  auto misuse = d->ctl({"ca", "rotate", "--promote"});
  EXPECT_EQ(misuse.exit_code, 1);
  EXPECT_EQ(misuse.err, "bastionctl: no rotation is under way: start one with `bastionctl ca rotate`\n");
  misuse = d->ctl({"ca", "rotate", "--retire"});
  EXPECT_EQ(misuse.exit_code, 1);
  EXPECT_EQ(misuse.err, "bastionctl: there is no previous CA key to retire\n");
  misuse = d->ctl({"ca", "rotate", "--promote", "--retire"});
  EXPECT_EQ(misuse.exit_code, 2) << misuse.err;

  // A person keeps logging in for the whole rotation.
  std::atomic<bool> stop{false};
  std::atomic<int> logged_in{0};
  std::mutex failures_mutex;
  std::vector<std::string> failures;
  std::thread logins([&] {
    while (!stop) {
      auto r = d->ssh(*alice, dest(), {"echo", "still-here"});
      if (r.exit_code == 0 && r.out.find("still-here") != std::string::npos) {
        ++logged_in;
      } else {
        std::lock_guard<std::mutex> lock(failures_mutex);
        failures.push_back("exit " + std::to_string(r.exit_code) + ": " + r.err);
      }
    }
  });

  auto started = d->ctl({"ca", "rotate"});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  EXPECT_NE(started.out.find("TrustedUserCAKeys"), std::string::npos) << started.out;
  auto both = lines_of(d->ctl_ok({"ca", "show"}));
  ASSERT_EQ(both.size(), 2U);
  EXPECT_EQ(key_of(both[0]), old_key);
  EXPECT_NE(both[1].find(" bastion-user-ca-next"), std::string::npos) << both[1];
  const std::string new_key = key_of(both[1]);
  EXPECT_NE(new_key, old_key);
  auto again = d->ctl({"ca", "rotate"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("a rotation is already under way"), std::string::npos) << again.err;

  // The target trusts only the old key: promotion is refused and names it.
  auto early = d->ctl({"ca", "rotate", "--promote"});
  EXPECT_EQ(early.exit_code, 1) << early.out;
  EXPECT_NE(early.err.find("not promoted: 1 of 1 target(s) used in the last 30 days do not accept the new key yet: "
                           "prod-db-1"),
            std::string::npos)
      << early.err;
  EXPECT_NE(early.out.find("prod-db-1 (" + d->login() + "): refused"), std::string::npos) << early.out;

  // What `ca show` prints goes to every target; now promotion goes ahead.
  trust_on_target(*d, d->ctl_ok({"ca", "show"}));
  auto promoted = d->ctl({"ca", "rotate", "--promote"});
  ASSERT_EQ(promoted.exit_code, 0) << promoted.err;
  EXPECT_NE(promoted.out.find("prod-db-1 (" + d->login() + "): accepts the new key"), std::string::npos)
      << promoted.out;
  EXPECT_NE(promoted.out.find("bastiond signs with"), std::string::npos) << promoted.out;
  auto after = lines_of(d->ctl_ok({"ca", "show"}));
  ASSERT_EQ(after.size(), 2U);
  EXPECT_EQ(key_of(after[0]), new_key);
  EXPECT_EQ(key_of(after[1]), old_key);
  EXPECT_NE(after[1].find(" bastion-user-ca-previous"), std::string::npos) << after[1];

  // The running gateway signs with the new key: a target that trusts only
  // it lets alice in.
  trust_on_target(*d, new_key + "\n");
  auto only_new = d->ssh(*alice, dest(), {"echo", "new-ca"});
  EXPECT_EQ(only_new.exit_code, 0) << only_new.err;
  EXPECT_NE(only_new.out.find("new-ca"), std::string::npos);

  auto retired = d->ctl({"ca", "rotate", "--retire"});
  ASSERT_EQ(retired.exit_code, 0) << retired.err;
  EXPECT_NE(retired.out.find(old_key.substr(0, 40)), std::string::npos) << retired.out;
  auto last = lines_of(d->ctl_ok({"ca", "show"}));
  ASSERT_EQ(last.size(), 1U);
  EXPECT_EQ(key_of(last[0]), new_key);

  stop = true;
  logins.join();
  EXPECT_TRUE(failures.empty()) << failures.size() << " login(s) failed, the first: " << failures.front();
  EXPECT_GE(logged_in.load(), 3);

  // A restart (which ends live sessions: not part of a rotation) loads the new key too.
  d->restart_bastiond();
  auto restarted = d->ssh(*alice, dest(), {"echo", "after-restart"});
  EXPECT_EQ(restarted.exit_code, 0) << restarted.err;

  auto all = nlohmann::json::parse(d->ctl_ok({"audit", "list", "--json"}));
  nlohmann::json records = nlohmann::json::array();
  for (const auto& r : all) {
    if (r["action"].get<std::string>().rfind("ca.", 0) == 0) records.push_back(r);
  }
  std::vector<std::string> steps;
  for (const auto& r : records) steps.push_back(r["action"].get<std::string>() + " " + r["outcome"].get<std::string>());
  std::sort(steps.begin(), steps.end());
  EXPECT_EQ(steps,
            (std::vector<std::string>{"ca.promote allow", "ca.promote deny", "ca.retire allow", "ca.rotate allow"}))
      << records.dump();
  for (const auto& r : records) {
    if (r["action"] == "ca.promote" && r["outcome"] == "deny") {
      EXPECT_NE(r["reason"].get<std::string>().find("prod-db-1"), std::string::npos) << r.dump();
    }
  }
}

TEST_F(CaRotation, ACancelledRotationLeavesTheActiveKey) {
  auto before = d->ctl_ok({"ca", "show"});
  auto started = d->ctl({"ca", "rotate"});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  auto cancelled = d->ctl({"ca", "rotate", "--cancel"});
  ASSERT_EQ(cancelled.exit_code, 0) << cancelled.err;
  EXPECT_EQ(d->ctl_ok({"ca", "show"}), before);
  auto again = d->ctl({"ca", "rotate", "--cancel"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(again.err, "bastionctl: no rotation is under way: start one with `bastionctl ca rotate`\n");
  auto r = d->ssh(*alice, dest(), {"echo", "reached"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
}  // namespace bastion::e2e
