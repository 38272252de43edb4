// End-to-end: SCIM 2.0 provisioning over HTTPS (curl) into a running
// bastiond. A provider's deactivation ends the person's live ssh sessions
// within a second; a wrong or revoked token is refused.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "fixture.h"

namespace bastion::e2e {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

class Scim : public DeploymentTest<Scim> {
 protected:
  static void SetUpTestSuite() {
    DeploymentTest<Scim>::SetUpTestSuite();
    d->edit_config("# SRE = [\"ops\"]", "SRE = [\"ops\"]");
    token = json::parse(d->ctl_ok({"scim", "token", "add", "okta", "--json"}))["token"];
  }
  struct Reply {
    int status = 0;
    json body;
    std::string headers;
  };
  // One SCIM request with curl: the status, the body as JSON (null if none), the headers.
  static Reply scim(const std::string& method, const std::string& path, const json& body = nullptr,
                    const std::string& bearer = token) {
    std::string headers = d->dir() + "/scim-headers.txt";
    std::vector<std::string> argv = {
        "curl", "-sS", "-k", "-X", method, "-D", headers, "-w", "\n%{http_code}", d->public_url() + "/scim/v2" + path};
    if (!bearer.empty()) argv.insert(argv.end(), {"-H", "Authorization: Bearer " + bearer});
    if (!body.is_null()) argv.insert(argv.end(), {"-H", "Content-Type: application/scim+json", "--data", body.dump()});
    ProcResult r = run(argv);
    Reply out;
    auto nl = r.out.rfind('\n');
    if (nl == std::string::npos) return out;
    out.status = std::atoi(r.out.c_str() + nl + 1);
    std::string text = r.out.substr(0, nl);
    out.body = text.empty() ? json() : json::parse(text, nullptr, false);
    out.headers = read_text(headers);
    return out;
  }
  static Process long_session(const SshKeyFiles& key, const std::string& log) {
    auto argv = d->ssh_argv(key, dest());
    argv.push_back("echo up; sleep 60");
    Process p(argv, log);
    EXPECT_TRUE(wait_for([&] { return read_text(log).find("up") != std::string::npos; }, 15000)) << read_text(log);
    return p;
  }
  static std::string state_of(const std::string& name) {
    for (const auto& u : json::parse(d->ctl_ok({"user", "list", "--json"}))) {
      if (u["name"] == name) return u["state"];
    }
    return "";
  }
  static inline std::string token;
};

TEST_F(Scim, AProvidersDeactivationEndsTwoLiveSessionsWithinOneSecond) {
  // kim exists already (made by hand, with a key); the provider's first push links her.
  SshKeyFiles kim = d->add_person("kim", {"ops"});
  Reply created = scim("POST", "/Users",
                       {{"schemas", {"urn:ietf:params:scim:schemas:core:2.0:User"}},
                        {"userName", "kim@example.com"},
                        {"externalId", "00u-kim"},
                        {"active", true},
                        {"emails", {{{"value", "kim@example.com"}, {"type", "work"}, {"primary", true}}}}});
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_NE(created.headers.find("application/scim+json"), std::string::npos) << created.headers;
  const std::string id = created.body["id"];
  EXPECT_NE(created.headers.find("Location: " + d->public_url() + "/scim/v2/Users/" + id), std::string::npos)
      << created.headers;
  EXPECT_EQ(state_of("kim"), "active");
  Reply listed = scim("GET", "/Users?filter=userName%20eq%20%22KIM%40example.com%22");
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_EQ(listed.body["totalResults"], 1);

  Process s1 = long_session(kim, d->dir() + "/kim-1.log");
  Process s2 = long_session(kim, d->dir() + "/kim-2.log");
  auto sent = Clock::now();
  // Okta's deactivation: no path, an object of attributes.
  Reply off = scim("PATCH", "/Users/" + id,
                   {{"schemas", {"urn:ietf:params:scim:api:messages:2.0:PatchOp"}},
                    {"Operations", {{{"op", "replace"}, {"value", {{"active", false}}}}}}});
  ASSERT_EQ(off.status, 200) << off.body;
  EXPECT_EQ(off.body["active"], false);
  EXPECT_GE(s1.wait(5000), 0);
  EXPECT_GE(s2.wait(5000), 0);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - sent).count();
  std::printf("SCIM deactivation to last disconnect (2 sessions): %lld ms\n", static_cast<long long>(ms));
  EXPECT_LT(ms, 1000);
  EXPECT_NE(read_text(d->dir() + "/kim-1.log").find("access revoked: kim has left"), std::string::npos)
      << read_text(d->dir() + "/kim-1.log");
  EXPECT_EQ(d->ssh(kim, dest(), {"true"}).exit_code, 255);
  EXPECT_EQ(state_of("kim"), "left");
  int requests = 0, kills = 0;
  for (const auto& r : json::parse(d->ctl_ok({"audit", "search", "kim", "--json"}))) {
    requests += r["action"] == "scim.request" && r["actor"] == "scim:okta";
    kills += r["action"] == "session.kill";
  }
  EXPECT_GE(requests, 2);  // the creation and the deactivation (reads name no person)
  EXPECT_EQ(kills, 2);
  EXPECT_EQ(d->ctl({"audit", "verify"}).exit_code, 0);
}

TEST_F(Scim, AJoinerFromTheProviderIsPendingUntilAKeyIsEnrolled) {
  Reply created = scim("POST", "/Users",
                       {{"userName", "Lee@example.com"},
                        {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                         {{"employeeNumber", "E900"}, {"department", "SRE"}}}});
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(state_of("lee"), "pending");
  SshKeyFiles lee = d->enroll_sk_key("lee");
  EXPECT_EQ(state_of("lee"), "active");
  EXPECT_EQ(d->ssh(lee, dest(), {"true"}).exit_code, 0);  // SRE gives ops, which reaches prod-db-1
  // The provider's work: visible to the administrator.
  json report = json::parse(d->ctl_ok({"scim", "report", "--json"}));
  EXPECT_GE(report["scim_users"].get<int>(), 1);
  bool alice_unmanaged = false;
  for (const auto& p : report["without_scim_identity"]) alice_unmanaged |= p["person"] == "alice";
  EXPECT_TRUE(alice_unmanaged) << report;
}

// A provider deactivating many people at once meets the HR circuit breaker
// (leaver_floor 2, 10 % of active people within the hour): the rest wait,
// sessions and all, until an administrator releases them.
TEST_F(Scim, AMassDeactivationIsHeldUntilAnAdministratorReleasesIt) {
  std::vector<std::string> ids;
  std::vector<SshKeyFiles> keys;
  for (int i = 0; i < 5; ++i) {
    const std::string name = "mass" + std::to_string(i);
    keys.push_back(d->add_person(name, {"ops"}));
    Reply r = scim("POST", "/Users", {{"userName", name + "@example.com"}});
    ASSERT_EQ(r.status, 201) << r.body;
    ids.push_back(r.body["id"]);
  }
  Process live = long_session(keys[4], d->dir() + "/mass4.log");
  for (const auto& id : ids) {
    Reply r =
        scim("PATCH", "/Users/" + id, {{"Operations", {{{"op", "Replace"}, {"path", "active"}, {"value", "False"}}}}});
    ASSERT_EQ(r.status, 200) << r.body;
  }
  int left = 0;
  for (int i = 0; i < 5; ++i) left += state_of("mass" + std::to_string(i)) == "left";
  EXPECT_GE(left, 1);  // within the floor (kim's leaver counts too when the suite shares one deployment)
  EXPECT_LE(left, 2);
  EXPECT_EQ(state_of("mass4"), "active");
  EXPECT_EQ(live.wait(300), -1);  // still running
  auto held = json::parse(d->ctl_ok({"hr", "held", "--json"}));
  ASSERT_EQ(held.size(), 1U) << held;
  EXPECT_EQ(held[0]["file"], "scim:okta");
  const std::string batch = held[0]["batch_id"];
  auto report = json::parse(d->ctl_ok({"scim", "report", "--json"}));
  EXPECT_EQ(report["inactive_at_provider_not_left"].size(), static_cast<size_t>(5 - left)) << report;
  d->ctl_ok({"hr", "release", batch});
  EXPECT_GE(live.wait(5000), 0);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(state_of("mass" + std::to_string(i)), "left") << i;
  EXPECT_TRUE(json::parse(d->ctl_ok({"hr", "held", "--json"})).empty());
}

TEST_F(Scim, AWrongOrRevokedTokenIsRefused) {
  Reply none = scim("GET", "/Users", nullptr, "");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
  EXPECT_EQ(scim("GET", "/Users", nullptr, "bscim_not-a-token").status, 401);
  std::string other = json::parse(d->ctl_ok({"scim", "token", "add", "entra", "--json"}))["token"];
  EXPECT_EQ(scim("GET", "/ServiceProviderConfig", nullptr, other).status, 200);
  auto listed = json::parse(d->ctl_ok({"scim", "token", "list", "--json"}));
  ASSERT_GE(listed.size(), 2U);
  EXPECT_EQ(listed.dump().find(other), std::string::npos);  // only a hash is kept
  d->ctl_ok({"scim", "token", "revoke", "entra"});
  Reply revoked = scim("GET", "/ServiceProviderConfig", nullptr, other);
  EXPECT_EQ(revoked.status, 401);
  EXPECT_EQ(revoked.body["detail"], "unknown or revoked token");
  EXPECT_EQ(d->ctl({"scim", "token", "revoke", "entra"}).exit_code, 1);
  // Bodies that are not JSON never reach the monitor.
  auto bad =
      run({"curl", "-sS", "-k", "-X", "POST", "-w", "\n%{http_code}", "-H", "Authorization: Bearer " + token, "-H",
           "Content-Type: application/scim+json", "--data", "{not json", d->public_url() + "/scim/v2/Users"});
  EXPECT_NE(bad.out.find("invalidSyntax"), std::string::npos) << bad.out;
  int refused = 0;
  for (const auto& r : json::parse(d->ctl_ok({"audit", "search", "revoked token", "--json"}))) {
    refused += r["action"] == "scim.refused";
  }
  EXPECT_GE(refused, 2);
}

}  // namespace
}  // namespace bastion::e2e
