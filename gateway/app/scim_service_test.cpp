// The SCIM service provider over a real database (SQLite, and PostgreSQL as
// postgres/ScimServiceTest.*): every endpoint, its errors, and the mapping
// onto the HR pipeline.
#include "gateway/app/scim_service.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "common/database.h"
#include "tests/support/test_database.h"

namespace bastion::gateway {
namespace {

using nlohmann::json;

class ScimServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() / ("scim-test-" + std::to_string(getpid()) + "-" +
                                                    ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    cfg.database = bastion::test_support::test_database((dir / "db").string());
    {
      auto d = Database::open(cfg.database, Database::Mode::kCreate);
      ASSERT_TRUE(d) << d.error().message;
    }
    cfg.department_roles = {{"SRE", {"ops"}}, {"Support", {"support"}}, {"Broken", {"nope"}}};
    cfg.scim_requests_per_second = 1000;
    auto s = Services::open(cfg, clock);
    ASSERT_TRUE(s) << s.error().message;
    services = std::move(*s);
    for (const char* r : {"ops", "support"}) {
      policy::Role role;
      role.name = r;
      role.target_selector = "*";
      role.logins = {"root"};
      ASSERT_TRUE(services->policy().add_role(role));
    }
    token = ScimService::new_token();
    ASSERT_TRUE(
        services->scim().add_client({"okta", ScimService::token_hash(token), "active", "admin:test", clock.now()}));
  }
  void TearDown() override {
    services.reset();
    std::filesystem::remove_all(dir);
  }

  ScimReply call(const std::string& method, const std::string& path, const json& body = nullptr,
                 std::map<std::string, std::string> query = {}, const std::string& with_token = "",
                 const std::string& if_match = "") {
    ScimRequest r;
    r.method = method;
    r.path = path;
    r.query = std::move(query);
    r.token = with_token.empty() ? token : with_token;
    r.if_match = if_match;
    r.body = body.is_null() ? "" : body.dump();
    r.source = "192.0.2.7";
    ScimService service(*services, limiter, on_change, "https://gw.example/scim/v2");
    clock.advance(1000);
    return service.handle(r);
  }
  std::string create(const std::string& user_name, const json& extra = json::object()) {
    json body = {{"schemas", {policy::scim::kUserSchema}}, {"userName", user_name}, {"active", true}};
    body.update(extra);
    ScimReply r = call("POST", "/Users", body);
    EXPECT_EQ(r.status, 201) << r.body.dump();
    return r.body.value("id", "");
  }
  std::optional<policy::Person> person(const std::string& name) { return *services->policy().find_person(name); }
  int audited(const std::string& action, recorder::Outcome outcome) {
    recorder::AuditFilter f;
    f.action = action;
    int n = 0;
    auto records = services->audit().query(f);  // kept: a range-for over *query() would outlive the Result
    EXPECT_TRUE(records) << records.error().message;
    for (const auto& rec : *records) n += rec.event.outcome == outcome;
    return n;
  }

  std::filesystem::path dir;
  FakeClock clock{1'800'000'000LL * kMicrosPerSecond};
  Config cfg;
  std::unique_ptr<Services> services;
  ScimRateLimiter limiter;
  std::string token;
  std::vector<std::tuple<std::string, std::string, bool>> changes;
  HrAccessChange on_change = [this](const std::string& user, const std::string& message, bool left) {
    changes.emplace_back(user, message, left);
  };
};

TEST_F(ScimServiceTest, RefusesRequestsWithoutAValidTokenAndAuditsThem) {
  EXPECT_EQ(call("GET", "/Users", nullptr, {}, "bscim_wrong").status, 401);
  ScimRequest bare;
  bare.method = "GET";
  bare.path = "/ServiceProviderConfig";
  bare.source = "192.0.2.8";
  ScimService service(*services, limiter, on_change, "https://gw.example/scim/v2");
  ScimReply r = service.handle(bare);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body["schemas"][0], policy::scim::kErrorSchema);
  EXPECT_EQ(r.body["status"], "401");
  EXPECT_EQ(call("GET", "/ServiceProviderConfig").status, 200);
  ASSERT_TRUE(services->scim().revoke_client("okta", clock.now()));
  EXPECT_EQ(call("GET", "/ServiceProviderConfig").status, 401);
  EXPECT_EQ(audited("scim.refused", recorder::Outcome::kDeny), 3);
  EXPECT_EQ(audited("scim.request", recorder::Outcome::kAllow), 1);
}

TEST_F(ScimServiceTest, ServesTheDiscoveryResources) {
  ScimReply spc = call("GET", "/ServiceProviderConfig");
  EXPECT_TRUE(spc.body["patch"]["supported"].get<bool>());
  EXPECT_EQ(spc.body["meta"]["location"], "https://gw.example/scim/v2/ServiceProviderConfig");
  ScimReply types = call("GET", "/ResourceTypes");
  EXPECT_EQ(types.body["totalResults"], 2);
  EXPECT_EQ(call("GET", "/ResourceTypes/User").body["endpoint"], "/Users");
  EXPECT_EQ(call("GET", "/ResourceTypes/Group").body["endpoint"], "/Groups");
  EXPECT_EQ(call("GET", "/ResourceTypes/Role").status, 404);
  EXPECT_EQ(call("GET", "/Schemas").body["totalResults"], 3);
  EXPECT_EQ(call("GET", std::string("/Schemas/") + policy::scim::kEnterpriseSchema).body["name"], "EnterpriseUser");
  EXPECT_EQ(call("POST", "/ServiceProviderConfig", json::object()).status, 405);
  EXPECT_EQ(call("GET", "/Nothing").status, 404);
  EXPECT_EQ(call("POST", "/Bulk", json::object()).status, 501);
}

TEST_F(ScimServiceTest, CreatingAUserIsAJoinerPendingUntilAKeyIsEnrolled) {
  ScimReply r = call("POST", "/Users",
                     {{"userName", "Alice@Example.com"},
                      {"externalId", "00u1"},
                      {"emails", {{{"value", "alice@example.com"}, {"type", "work"}}}},
                      {policy::scim::kEnterpriseSchema, {{"employeeNumber", "E100"}, {"department", "SRE"}}}});
  ASSERT_EQ(r.status, 201) << r.body.dump();
  const std::string id = r.body["id"];
  EXPECT_EQ(r.location, "https://gw.example/scim/v2/Users/" + id);
  EXPECT_EQ(r.etag, "W/\"1\"");
  EXPECT_EQ(r.body["meta"]["version"], "W/\"1\"");
  EXPECT_EQ(r.body["schemas"].size(), 2U);
  auto p = person("alice");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->state, policy::PersonState::kPending);
  EXPECT_EQ(p->employee_id, "E100");
  EXPECT_EQ(p->email, "alice@example.com");
  EXPECT_EQ(p->department, "SRE");
  EXPECT_EQ(p->hr_roles, std::vector<std::string>{"ops"});
  EXPECT_EQ(call("GET", "/Users/" + id).body["userName"], "Alice@Example.com");
  EXPECT_EQ(call("GET", "/Users/nosuch").status, 404);
  // The request's audit record, with the HR event it made.
  recorder::AuditFilter f;
  f.action = "scim.request";
  auto recs = *services->audit().query(f);
  ASSERT_FALSE(recs.empty());
  const auto& created = recs.back().event.outcome == recorder::Outcome::kAllow ? recs.back() : recs.front();
  EXPECT_EQ(created.event.actor, "scim:okta");
  EXPECT_EQ(audited("hr.joiner", recorder::Outcome::kAllow) + audited("hr.joiner", recorder::Outcome::kInfo), 1);

  // userName is unique in any case.
  ScimReply again = call("POST", "/Users", {{"userName", "ALICE@example.com"}});
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.body["scimType"], "uniqueness");
  // Bad input changes nothing.
  EXPECT_EQ(call("POST", "/Users", {{"displayName", "no name"}}).status, 400);
  EXPECT_EQ(call("POST", "/Users", {{"userName", "a+b@example.com"}}).body["scimType"], "invalidValue");
  EXPECT_EQ(*services->scim().count_users(), 1);
}

TEST_F(ScimServiceTest, ListsAndFiltersWithPages) {
  for (int i = 0; i < 5; ++i) {
    create("u" + std::to_string(i) + "@example.com",
           {{"externalId", "X" + std::to_string(i)},
            {"emails", {{{"value", "U" + std::to_string(i) + "@Example.com"}, {"type", "work"}}}}});
  }
  ScimReply all = call("GET", "/Users");
  EXPECT_EQ(all.body["totalResults"], 5);
  EXPECT_EQ(all.body["Resources"].size(), 5U);
  EXPECT_EQ(all.body["schemas"][0], policy::scim::kListSchema);
  ScimReply page = call("GET", "/Users", nullptr, {{"startIndex", "2"}, {"count", "2"}});
  EXPECT_EQ(page.body["totalResults"], 5);
  EXPECT_EQ(page.body["itemsPerPage"], 2);
  EXPECT_EQ(page.body["Resources"][0]["userName"], "u1@example.com");
  EXPECT_EQ(call("GET", "/Users", nullptr, {{"count", "0"}}).body["Resources"].size(), 0U);
  auto found = [&](const std::string& filter) {
    ScimReply r = call("GET", "/Users", nullptr, {{"filter", filter}});
    EXPECT_EQ(r.status, 200) << r.body.dump();
    std::vector<std::string> names;
    for (const auto& u : r.body["Resources"]) names.push_back(u["userName"]);
    return names;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(found(R"(userName eq "U3@EXAMPLE.COM")"), V{"u3@example.com"});
  EXPECT_EQ(found(R"(externalId eq "X2")"), V{"u2@example.com"});
  EXPECT_EQ(found(R"(externalId eq "x2")"), V{});
  EXPECT_EQ(found(R"(emails[type eq "work"].value eq "u4@example.com")"), V{"u4@example.com"});
  EXPECT_EQ(found(R"(userName sw "u1" or userName sw "u2")"), (V{"u1@example.com", "u2@example.com"}));
  EXPECT_EQ(found(R"(userName eq "nobody")"), V{});
  ScimReply bad = call("GET", "/Users", nullptr, {{"filter", "userName eq"}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body["scimType"], "invalidFilter");
}

TEST_F(ScimServiceTest, DeactivationIsALeaverInEveryProvidersDialectAndEndsSessionsAfterTheCommit) {
  const std::string okta = create("okta-user@example.com");
  const std::string entra = create("entra-user@example.com");
  for (const auto* name : {"okta-user", "entra-user"})
    ASSERT_TRUE(services->policy().set_person_state(name, policy::PersonState::kActive));
  // Okta: no path, an object of attributes.
  ScimReply r = call("PATCH", "/Users/" + okta,
                     {{"schemas", {policy::scim::kPatchSchema}},
                      {"Operations", {{{"op", "replace"}, {"value", {{"active", false}}}}}}});
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["active"], false);
  EXPECT_EQ(r.etag, "W/\"2\"");
  EXPECT_EQ(person("okta-user")->state, policy::PersonState::kLeft);
  ASSERT_EQ(changes.size(), 1U);
  EXPECT_EQ(std::get<0>(changes[0]), "okta-user");
  EXPECT_TRUE(std::get<2>(changes[0]));
  // Microsoft Entra ID: "Replace" and "False".
  r = call("PATCH", "/Users/" + entra, {{"Operations", {{{"op", "Replace"}, {"path", "active"}, {"value", "False"}}}}});
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(person("entra-user")->state, policy::PersonState::kLeft);
  EXPECT_EQ(changes.size(), 2U);
  // The same again changes nothing and ends nothing more; it is on record all the same.
  const int recorded = audited("scim.request", recorder::Outcome::kAllow);
  r = call("PATCH", "/Users/" + entra, {{"Operations", {{{"op", "Replace"}, {"path", "active"}, {"value", "False"}}}}});
  EXPECT_EQ(audited("scim.request", recorder::Outcome::kAllow), recorded + 1);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.etag, "W/\"2\"");
  EXPECT_EQ(changes.size(), 2U);
  // Reactivation is a joiner: pending again until a new key is enrolled.
  r = call("PATCH", "/Users/" + okta, {{"Operations", {{{"op", "replace"}, {"value", {{"active", true}}}}}}});
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(person("okta-user")->state, policy::PersonState::kPending);
}

TEST_F(ScimServiceTest, PutKeepsWhatItOmitsAndADepartmentChangeIsAMover) {
  const std::string id = create("mover@example.com", {{policy::scim::kEnterpriseSchema, {{"department", "SRE"}}}});
  ASSERT_TRUE(services->policy().set_person_state("mover", policy::PersonState::kActive));
  ScimReply r = call("PUT", "/Users/" + id, {{"userName", "mover@example.com"}, {"displayName", "M"}});
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(person("mover")->state, policy::PersonState::kActive);
  EXPECT_EQ(person("mover")->hr_roles, std::vector<std::string>{"ops"});
  r = call("PUT", "/Users/" + id,
           {{"userName", "mover@example.com"}, {policy::scim::kEnterpriseSchema, {{"department", "Support"}}}});
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(person("mover")->hr_roles, std::vector<std::string>{"support"});
  ASSERT_EQ(changes.size(), 1U);  // lost "ops": sessions re-checked
  EXPECT_FALSE(std::get<2>(changes[0]));
  // A stale If-Match is refused; the current one passes.
  EXPECT_EQ(call("PUT", "/Users/" + id, {{"userName", "mover@example.com"}, {"title", "x"}}, {}, "", "W/\"1\"").status,
            412);
  EXPECT_EQ(call("PUT", "/Users/" + id, {{"userName", "mover@example.com"}, {"title", "x"}}, {}, "", r.etag).status,
            200);
}

TEST_F(ScimServiceTest, AChangeHrRefusesChangesNothingAndIsAuditedWithItsReason) {
  const std::string id = create("broken@example.com");
  ScimReply r = call("PATCH", "/Users/" + id,
                     {{"Operations",
                       {{{"op", "add"},
                         {"path", std::string(policy::scim::kEnterpriseSchema) + ":department"},
                         {"value", "Broken"}}}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body["detail"].get<std::string>().find("nope"), std::string::npos) << r.body.dump();
  EXPECT_EQ(call("GET", "/Users/" + id)
                .body.value("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", json::object()),
            json::object());
  EXPECT_EQ(person("broken")->department, "");
  EXPECT_EQ(audited("scim.request", recorder::Outcome::kDeny), 1);
  // A creation HR refuses leaves no user and no person behind.
  EXPECT_EQ(call("POST", "/Users", {{"userName", "b2"}, {policy::scim::kEnterpriseSchema, {{"department", "Broken"}}}})
                .status,
            400);
  EXPECT_FALSE(person("b2"));
  EXPECT_EQ(*services->scim().count_users(), 1);
}

TEST_F(ScimServiceTest, DeleteIsALeaverAndTheUserIsGone) {
  const std::string id = create("gone@example.com");
  ASSERT_TRUE(services->policy().set_person_state("gone", policy::PersonState::kActive));
  ScimReply r = call("DELETE", "/Users/" + id);
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(r.body.is_null());
  EXPECT_EQ(person("gone")->state, policy::PersonState::kLeft);
  EXPECT_EQ(changes.size(), 1U);
  EXPECT_EQ(call("GET", "/Users/" + id).status, 404);
  EXPECT_EQ(call("DELETE", "/Users/" + id).status, 404);
  // Created again: the same person rejoins (pending).
  const std::string again = create("gone@example.com");
  EXPECT_NE(again, id);
  EXPECT_EQ(person("gone")->state, policy::PersonState::kPending);
}

TEST_F(ScimServiceTest, AnExistingPersonIsLinkedByName) {
  policy::Person p;
  p.name = "erin";
  p.employee_id = "E7";
  p.state = policy::PersonState::kActive;
  ASSERT_TRUE(services->policy().add_person(p));
  policy::Person svc;
  svc.name = "backup";
  svc.service_account = true;
  svc.state = policy::PersonState::kActive;
  ASSERT_TRUE(services->policy().add_person(svc));

  const std::string id = create("Erin@example.com");
  EXPECT_EQ(person("erin")->state, policy::PersonState::kActive);  // a joiner for a known employee
  EXPECT_EQ(person("erin")->employee_id, "E7");
  EXPECT_EQ(call("POST", "/Users", {{"userName", "erin@other.example"}}).status, 409);  // the same person
  EXPECT_EQ(call("POST", "/Users", {{"userName", "backup@example.com"}}).status, 409);  // a service account
  EXPECT_EQ(
      call("PATCH", "/Users/" + id, {{"Operations", {{{"op", "replace"}, {"value", {{"active", false}}}}}}}).status,
      200);
  EXPECT_EQ(person("erin")->state, policy::PersonState::kLeft);
}

TEST_F(ScimServiceTest, RateLimitsEachClient) {
  cfg.scim_requests_per_second = 2;
  auto s = Services::open(cfg, clock);
  ASSERT_TRUE(s);
  services = std::move(*s);
  int limited = 0;
  for (int i = 0; i < 8; ++i) {
    ScimReply r = call("GET", "/ServiceProviderConfig");
    if (r.status == 429) {
      ++limited;
      EXPECT_EQ(r.retry_after, 1);
    }
  }
  EXPECT_EQ(limited, 4);  // a burst of twice the rate, then none within these 8 ms
  clock.advance(kMicrosPerSecond);
  EXPECT_EQ(call("GET", "/ServiceProviderConfig").status, 200);
}

}  // namespace
}  // namespace bastion::gateway

namespace bastion::gateway {
namespace {

// A provider deactivating many people at once meets the HR circuit breaker:
// the leavers beyond it wait, in one held batch, for an administrator.
TEST_F(ScimServiceTest, AMassDeactivationIsHeldByTheCircuitBreaker) {
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) {
    ids.push_back(create("m" + std::to_string(i) + "@example.com"));
    ASSERT_TRUE(services->policy().set_person_state("m" + std::to_string(i), policy::PersonState::kActive));
  }
  json off = {{"Operations", {{{"op", "replace"}, {"value", {{"active", false}}}}}}};
  for (int i = 0; i < 6; ++i) {
    ScimReply r = call("PATCH", "/Users/" + ids[i], off);
    ASSERT_EQ(r.status, 200) << r.body.dump();
    EXPECT_EQ(r.body["active"], false);  // as the provider said; the person waits
  }
  int left = 0;
  for (int i = 0; i < 10; ++i) left += person("m" + std::to_string(i))->state == policy::PersonState::kLeft;
  EXPECT_EQ(left, 2);  // within leaver_floor (2); the third would make 3 of 10 > 10 %
  EXPECT_EQ(changes.size(), 2U);
  auto batches = *services->policy().list_hr_batches();
  std::vector<policy::HrBatchRecord> held;
  for (const auto& b : batches) {
    if (b.state == "held") held.push_back(b);
  }
  ASSERT_EQ(held.size(), 1U);
  EXPECT_EQ(held[0].file, "scim:okta");
  EXPECT_EQ(held[0].id.rfind("S-", 0), 0U);
  EXPECT_EQ(audited("hr.hold", recorder::Outcome::kDeny), 1 + 4);  // the alert, and one per held leaver
  // Nothing happens when due until an administrator decides.
  clock.advance(kMicrosPerSecond);
  EXPECT_EQ(*services->hr().apply_due(on_change), 0U);
  ASSERT_TRUE(services->hr().set_held_state(held[0].id, true, "admin:test"));
  EXPECT_EQ(*services->hr().apply_due(on_change), 4U);
  left = 0;
  for (int i = 0; i < 10; ++i) left += person("m" + std::to_string(i))->state == policy::PersonState::kLeft;
  EXPECT_EQ(left, 6);
  EXPECT_EQ(changes.size(), 6U);
}

}  // namespace
}  // namespace bastion::gateway

namespace bastion::gateway {
namespace {

// [scim.groups]: a mapped group's members get its roles; removal from every
// mapped group is a leaver.
TEST_F(ScimServiceTest, GroupsGiveRolesAndRemovalFromEveryMappedGroupIsALeaver) {
  cfg.scim_group_roles = {{"SRE on call", {"ops"}}, {"Support desk", {"support"}}};
  auto s = Services::open(cfg, clock);
  ASSERT_TRUE(s);
  services = std::move(*s);
  const std::string u1 = create("g1@example.com"), u2 = create("g2@example.com"), u3 = create("g3@example.com");
  for (const char* p : {"g1", "g2", "g3"})
    ASSERT_TRUE(services->policy().set_person_state(p, policy::PersonState::kActive));
  auto roles = [&](const std::string& name) { return person(name)->hr_roles; };
  using V = std::vector<std::string>;

  ScimReply g = call("POST", "/Groups",
                     {{"schemas", {policy::scim::kGroupSchema}},
                      {"displayName", "SRE on call"},
                      {"members", {{{"value", u1}, {"display", "g1"}}}}});
  ASSERT_EQ(g.status, 201) << g.body.dump();
  const std::string sre = g.body["id"];
  EXPECT_EQ(g.body["members"][0]["value"], u1);
  EXPECT_EQ(roles("g1"), V{"ops"});
  EXPECT_EQ(roles("g2"), V{});
  // An unmapped group changes nobody's roles.
  ScimReply other = call("POST", "/Groups", {{"displayName", "Book club"}, {"members", {{{"value", u3}}}}});
  ASSERT_EQ(other.status, 201);
  EXPECT_EQ(roles("g3"), V{});
  EXPECT_EQ(call("POST", "/Groups", {{"displayName", "sre ON CALL"}}).status, 409);
  EXPECT_EQ(call("POST", "/Groups", {{"displayName", "X"}, {"members", {{{"value", "no-such-user"}}}}}).status, 400);

  // Reading: with and without members, by name in any case.
  EXPECT_EQ(call("GET", "/Groups/" + sre).body["members"].size(), 1U);
  EXPECT_FALSE(call("GET", "/Groups/" + sre, nullptr, {{"excludedAttributes", "members"}}).body.contains("members"));
  ScimReply named = call("GET", "/Groups", nullptr, {{"filter", R"(displayName eq "sre on call")"}});
  EXPECT_EQ(named.body["totalResults"], 1);
  EXPECT_EQ(call("GET", "/Groups").body["totalResults"], 2);
  EXPECT_EQ(call("GET", "/Groups", nullptr, {{"filter", "members[value eq \"" + u3 + "\"]"}}).body["totalResults"], 1);

  // Okta adds a member.
  ScimReply added = call("PATCH", "/Groups/" + sre,
                         {{"Operations", {{{"op", "add"}, {"path", "members"}, {"value", {{{"value", u2}}}}}}}});
  ASSERT_EQ(added.status, 200) << added.body.dump();
  EXPECT_EQ(roles("g2"), V{"ops"});
  // Support desk too: g2 holds both.
  ASSERT_EQ(call("POST", "/Groups", {{"displayName", "Support desk"}, {"members", {{{"value", u2}}}}}).status, 201);
  EXPECT_EQ(roles("g2"), (V{"ops", "support"}));
  EXPECT_TRUE(changes.empty());
  // Microsoft Entra ID removes g1 with a list of values: in no mapped group any more, g1 leaves.
  ScimReply removed = call("PATCH", "/Groups/" + sre,
                           {{"Operations", {{{"op", "Remove"}, {"path", "members"}, {"value", {{{"value", u1}}}}}}}});
  ASSERT_EQ(removed.status, 200) << removed.body.dump();
  EXPECT_EQ(person("g1")->state, policy::PersonState::kLeft);
  ASSERT_EQ(changes.size(), 1U);
  EXPECT_EQ(std::get<0>(changes[0]), "g1");
  EXPECT_TRUE(std::get<2>(changes[0]));
  // Deleting SRE on call: g2 keeps Support desk, so loses ops only (a mover, sessions re-checked).
  EXPECT_EQ(call("DELETE", "/Groups/" + sre).status, 204);
  EXPECT_EQ(person("g2")->state, policy::PersonState::kActive);
  EXPECT_EQ(roles("g2"), V{"support"});
  ASSERT_EQ(changes.size(), 2U);
  EXPECT_FALSE(std::get<2>(changes[1]));
  EXPECT_EQ(call("GET", "/Groups/" + sre).status, 404);
  // A user deleted leaves their groups.
  EXPECT_EQ(call("DELETE", "/Users/" + u3).status, 204);
  EXPECT_FALSE(call("GET", "/Groups/" + other.body["id"].get<std::string>()).body.contains("members"));
}

}  // namespace
}  // namespace bastion::gateway

namespace bastion::gateway {
namespace {

// The error cases of every endpoint, each answered in the SCIM error schema
// with its status and scimType (RFC 7644 §3.12).
TEST_F(ScimServiceTest, EveryEndpointAnswersItsErrorsInTheScimSchema) {
  const std::string u = create("conf@example.com");
  ScimReply g = call("POST", "/Groups", {{"displayName", "Conformance"}, {"members", {{{"value", u}}}}});
  ASSERT_EQ(g.status, 201);
  const std::string gid = g.body["id"];
  struct Case {
    const char* method;
    std::string path;
    json body;
    int status;
    const char* type;
  };
  const json patch_active = {{"Operations", {{{"op", "replace"}, {"path", "active"}, {"value", false}}}}};
  const std::vector<Case> cases = {
      {"PUT", "/Users", json::object(), 405, ""},
      {"DELETE", "/Groups", nullptr, 405, ""},
      {"PATCH", "/ServiceProviderConfig", json::object(), 405, ""},
      {"GET", "/Users/" + u + "/extra", nullptr, 404, ""},
      {"PATCH", "/Users/nosuch", patch_active, 404, ""},
      {"PUT", "/Users/nosuch", {{"userName", "x"}}, 404, ""},
      {"DELETE", "/Users/nosuch", nullptr, 404, ""},
      {"GET", "/Groups/nosuch", nullptr, 404, ""},
      {"PATCH", "/Groups/nosuch", patch_active, 404, ""},
      {"DELETE", "/Groups/nosuch", nullptr, 404, ""},
      {"POST", "/Users", json::array({1}), 400, "invalidSyntax"},
      {"POST", "/Users", {{"userName", ""}}, 400, "invalidValue"},
      {"POST", "/Users", {{"userName", "x"}, {"emails", "not-a-list-of-objects"}}, 400, "invalidValue"},
      {"PATCH", "/Users/" + u, {{"Operations", "add"}}, 400, "invalidSyntax"},
      {"PATCH", "/Users/" + u, {{"Operations", {{{"op", "remove"}, {"path", "name["}}}}}, 400, "invalidPath"},
      {"PUT", "/Users/" + u, {{"displayName", "no userName"}}, 400, "invalidValue"},
      {"POST", "/Groups", {{"members", json::array()}}, 400, "invalidValue"},
      {"POST", "/Groups", {{"displayName", "conformance"}}, 409, "uniqueness"},
      {"PATCH",
       "/Groups/" + gid,
       {{"Operations", {{{"op", "add"}, {"path", "members"}, {"value", {{{"value", "ghost"}}}}}}}},
       400,
       "invalidValue"},
      {"PATCH", "/Groups/" + gid, {{"Operations", {{{"op", "remove"}}}}}, 400, "noTarget"},
      {"POST", "/Bulk", json::object(), 501, ""},
      {"GET", "/Me", nullptr, 501, ""},
  };
  for (const auto& c : cases) {
    ScimReply r = call(c.method, c.path, c.body);
    const std::string what = std::string(c.method) + " " + c.path + " " + c.body.dump();
    EXPECT_EQ(r.status, c.status) << what << ": " << r.body.dump();
    EXPECT_EQ(r.body["schemas"][0], policy::scim::kErrorSchema) << what;
    EXPECT_EQ(r.body["status"], std::to_string(c.status)) << what;
    EXPECT_FALSE(r.body.value("detail", "").empty()) << what;
    EXPECT_EQ(r.body.value("scimType", ""), c.type) << what << ": " << r.body.dump();
  }
  // Pages: out-of-range numbers are brought into range, not refused.
  ScimReply page = call("GET", "/Users", nullptr, {{"startIndex", "0"}, {"count", "-5"}});
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.body["startIndex"], 1);
  EXPECT_EQ(page.body["itemsPerPage"], 0);
  EXPECT_EQ(call("GET", "/Users", nullptr, {{"count", "5000"}}).body["itemsPerPage"], 1);
  // A group's If-Match, and a PUT that replaces its members.
  EXPECT_EQ(call("PUT", "/Groups/" + gid, {{"displayName", "Conformance"}}, {}, "", "W/\"9\"").status, 412);
  ScimReply put =
      call("PUT", "/Groups/" + gid, {{"displayName", "Conformance"}, {"members", json::array()}}, {}, "", "W/\"1\"");
  ASSERT_EQ(put.status, 200) << put.body.dump();
  EXPECT_FALSE(put.body.contains("members"));
  EXPECT_EQ(put.etag, "W/\"2\"");
  // Nothing above changed the user.
  EXPECT_EQ(call("GET", "/Users/" + u).etag, "W/\"1\"");
}

}  // namespace
}  // namespace bastion::gateway
