// A test suite for step-ups in the browser: the shared deployment plus a
// target vault-1 (label tier=vault) that role `vault` reaches only after a
// per-session step-up. Skips when the browser is not installed.
#pragma once

#include <nlohmann/json.hpp>

#include "fixture.h"

namespace bastion::e2e {

template <class Tag>
class VaultSuite : public DeploymentTest<Tag> {
 protected:
  using DeploymentTest<Tag>::d;
  static void SetUpTestSuite() {
    DeploymentTest<Tag>::SetUpTestSuite();
    d->ctl_ok({"target", "add", "vault-1", "--address", "127.0.0.1:" + std::to_string(d->target_port()), "--host-key",
               d->target_host_pub(), "--label", "tier=vault"});
    d->ctl_ok({"role", "add", "vault", "--targets", "tier=vault", "--logins", d->login(), "--step-up", "per-session"});
    // A short wait keeps the negative cases quick.
    d->edit_config("step_up_timeout = \"120s\"", "step_up_timeout = \"15s\"");
  }
  void SetUp() override {
    if (!browser_available())
      GTEST_SKIP() << "needs /usr/bin/chromium and tests/browser/node_modules (tests/browser/install.sh)";
  }
  static std::string vault() { return d->login() + "@vault-1"; }
  static nlohmann::json audit(const std::string& action) {
    return nlohmann::json::parse(d->ctl_ok({"audit", "list", "--json", "--action", action, "--limit", "100000"}));
  }
};

}  // namespace bastion::e2e
