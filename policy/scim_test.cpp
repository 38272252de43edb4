// SCIM 2.0 users, filters and PATCH (policy/scim.h), including the dialects
// identity providers document.
#include "policy/scim.h"

#include <gtest/gtest.h>

namespace bastion::policy::scim {
namespace {

using nlohmann::json;

json user(const std::string& text) {
  auto u = read_user(json::parse(text));
  EXPECT_TRUE(u) << u.error().detail;
  return u ? *u : json::object();
}

json patched(const json& u, const std::string& ops) {
  auto r = apply_patch(
      u, json::parse(R"({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":)" + ops + "}"));
  EXPECT_TRUE(r) << r.error().detail;
  return r ? *r : json::object();
}

Error patch_error(const json& u, const std::string& ops) {
  auto r = apply_patch(u, json::parse(R"({"Operations":)" + ops + "}"));
  EXPECT_FALSE(r);
  return r ? Error{} : r.error();
}

bool filter_matches(const std::string& f, const json& resource) {
  auto parsed = parse_filter(f);
  EXPECT_TRUE(parsed) << f << ": " << parsed.error().detail;
  return parsed && matches(*parsed, resource);
}

const char* kAlice = R"({
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
              "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
  "userName": "Alice@Example.com", "externalId": "00u1", "active": true,
  "name": {"givenName": "Alice", "familyName": "Example", "nickname": "ignored"},
  "emails": [{"value": "alice@home.example", "type": "home"},
             {"value": "alice@example.com", "type": "work", "primary": true}],
  "phoneNumbers": [{"value": "+1 555"}],
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "E100", "department": "SRE",
                                                                 "manager": {"value": "00u9"}}
})";

TEST(ScimUser, KeepsTheDeclaredAttributesUnderTheirCanonicalNames) {
  json u = user(kAlice);
  EXPECT_EQ(user_name(u), "Alice@Example.com");
  EXPECT_EQ(external_id(u), "00u1");
  EXPECT_EQ(active(u), true);
  EXPECT_EQ(work_email(u), "alice@example.com");
  EXPECT_EQ(employee_number(u), "E100");
  EXPECT_EQ(department(u), "SRE");
  EXPECT_EQ(u["name"], json({{"givenName", "Alice"}, {"familyName", "Example"}}));
  EXPECT_FALSE(u.contains("phoneNumbers"));  // not declared: ignored
  EXPECT_FALSE(u.contains("schemas"));
  EXPECT_EQ(u[kEnterpriseSchema]["manager"]["value"], "00u9");

  // Attribute names in any case (RFC 7643 §2.1).
  json v = user(R"({"USERNAME": "bob", "Active": false, "EMAILS": [{"VALUE": "b@x", "Type": "work"}]})");
  EXPECT_EQ(user_name(v), "bob");
  EXPECT_EQ(active(v), false);
  EXPECT_EQ(work_email(v), "b@x");
  EXPECT_EQ(active(user(R"({"userName": "c"})")), std::nullopt);
}

TEST(ScimUser, RefusesWhatIsNotAUser) {
  EXPECT_EQ(read_user(json::parse(R"({"displayName": "x"})")).error().type, "invalidValue");
  EXPECT_EQ(read_user(json::parse(R"([1])")).error().type, "invalidSyntax");
  EXPECT_EQ(read_user(json::parse(R"({"userName": 7.5})")).error().type, "invalidValue");
  EXPECT_EQ(read_user(json::parse(R"({"userName": "a", "active": "yes"})")).error().type, "invalidValue");
  EXPECT_EQ(read_user(json::parse(R"({"userName": "a\u0007b"})")).error().type, "invalidValue");
  EXPECT_EQ(read_user(json::parse(R"({"userName": ")" + std::string(2000, 'a') + R"("})")).error().type,
            "invalidValue");
  json many = json::parse(R"({"userName": "a", "emails": []})");
  for (int i = 0; i < 21; ++i) many["emails"].push_back({{"value", std::to_string(i)}});
  EXPECT_FALSE(read_user(many));
}

TEST(ScimUser, PersonNamesComeFromTheUserNamesLocalPartInLowerCase) {
  EXPECT_EQ(*person_name_for("Alice.Smith@Example.com"), "alice.smith");
  EXPECT_EQ(*person_name_for("bob"), "bob");
  EXPECT_EQ(person_name_for("a+b@example.com").error().type, "invalidValue");
  EXPECT_FALSE(person_name_for("@example.com"));
}

TEST(ScimUser, APutKeepsWhatItOmits) {
  // OneLogin and JumpCloud send PUTs with the attributes they manage only.
  json u = user(kAlice);
  json put = user(R"({"userName": "alice@example.com", "displayName": "Alice E."})");
  json merged = merge_put(u, put);
  EXPECT_EQ(active(merged), true);
  EXPECT_EQ(department(merged), "SRE");
  EXPECT_EQ(merged["displayName"], "Alice E.");
  EXPECT_EQ(user_name(merged), "alice@example.com");
  json moved = merge_put(u, user(R"({"userName": "alice@example.com",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Support"}})"));
  EXPECT_EQ(department(moved), "Support");
  EXPECT_EQ(employee_number(moved), "E100");
  // Given as an empty list: cleared.
  EXPECT_FALSE(merge_put(u, user(R"({"userName": "a", "emails": []})")).contains("emails"));
}

// Okta deactivates with a PATCH whose operation has no path and an object
// of attributes as its value (developer.okta.com, "SCIM 2.0 protocol: update
// a specific user (PATCH)").
TEST(ScimPatch, OktaDeactivatesWithoutAPath) {
  json u = patched(user(kAlice), R"([{"op": "replace", "value": {"active": false}}])");
  EXPECT_EQ(active(u), false);
  EXPECT_EQ(department(u), "SRE");
}

// Microsoft Entra ID sends "Replace"/"Add" capitalised and booleans as the
// strings "True"/"False" (learn.microsoft.com, "Known issues and resolutions
// with SCIM 2.0 protocol compliance of the Microsoft Entra user provisioning
// service").
TEST(ScimPatch, EntraIdCapitalisedOpsAndBooleansAsStrings) {
  json u = patched(user(kAlice), R"([{"op": "Replace", "path": "active", "value": "False"}])");
  EXPECT_EQ(active(u), false);
  u = patched(u, R"([{"op": "Replace", "path": "active", "value": "True"}])");
  EXPECT_EQ(active(u), true);
  u = patched(u, R"([{"op": "Add", "value": {"displayName": "A", "active": "False"}}])");
  EXPECT_EQ(active(u), false);
  EXPECT_EQ(u["displayName"], "A");
}

// Microsoft Entra ID names enterprise attributes by their full URN in paths,
// and sets the work address through a value filter, also for users that have
// none yet (learn.microsoft.com, "Tutorial: Develop and plan provisioning
// for a SCIM endpoint in Microsoft Entra ID", request examples).
TEST(ScimPatch, EntraIdUrnPathsAndValueFilters) {
  json u = user(R"({"userName": "dan@example.com"})");
  u = patched(u, R"([
    {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "dan@example.com"},
    {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "SRE"},
    {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": {"value": "m1"}},
    {"op": "Replace", "path": "name.givenName", "value": "Dan"}])");
  EXPECT_EQ(work_email(u), "dan@example.com");
  EXPECT_EQ(u["emails"], json::parse(R"([{"type": "work", "value": "dan@example.com"}])"));
  EXPECT_EQ(department(u), "SRE");
  EXPECT_EQ(u[kEnterpriseSchema]["manager"]["value"], "m1");
  EXPECT_EQ(u["name"]["givenName"], "Dan");
  u = patched(u, R"([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "dan2@example.com"}])");
  EXPECT_EQ(u["emails"].size(), 1U);
  EXPECT_EQ(work_email(u), "dan2@example.com");
  // Enterprise attributes by URN inside a no-path value.
  u = patched(u, R"([{"op": "replace", "value": {
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Support",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value": "m2"}}])");
  EXPECT_EQ(department(u), "Support");
  EXPECT_EQ(u[kEnterpriseSchema]["manager"]["value"], "m2");
}

TEST(ScimPatch, AddAppendsReplaceReplacesRemoveRemoves) {
  json u = user(kAlice);
  json added = patched(u, R"([{"op": "add", "path": "emails", "value": [{"value": "x@y", "type": "other"}]}])");
  EXPECT_EQ(added["emails"].size(), 3U);
  json replaced = patched(u, R"([{"op": "replace", "path": "emails", "value": [{"value": "x@y", "type": "work"}]}])");
  EXPECT_EQ(replaced["emails"].size(), 1U);
  json removed = patched(u, R"([{"op": "remove", "path": "emails[type eq \"home\"]"}])");
  ASSERT_EQ(removed["emails"].size(), 1U);
  EXPECT_EQ(removed["emails"][0]["type"], "work");
  EXPECT_FALSE(patched(u, R"([{"op": "remove", "path": "name"}])").contains("name"));
  EXPECT_EQ(department(patched(u, R"([{"op": "remove",
    "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}])")),
            "");
  EXPECT_EQ(patched(u, R"([{"op": "remove", "path": "name.givenName"}])")["name"], json({{"familyName", "Example"}}));
  // A value list: only those values go.
  json listed = patched(u, R"([{"op": "remove", "path": "emails", "value": [{"value": "alice@home.example"}]}])");
  EXPECT_EQ(listed["emails"].size(), 1U);
  // "add" to a complex attribute keeps the sub-attributes it does not give; "replace" does not.
  EXPECT_EQ(patched(u, R"([{"op": "add", "path": "name", "value": {"formatted": "A E"}}])")["name"],
            json({{"givenName", "Alice"}, {"familyName", "Example"}, {"formatted", "A E"}}));
  EXPECT_EQ(patched(u, R"([{"op": "replace", "path": "name", "value": {"formatted": "A E"}}])")["name"],
            json({{"formatted", "A E"}}));
  // Unknown attributes without a path are ignored, as in a POST.
  EXPECT_EQ(patched(u, R"([{"op": "add", "value": {"x-custom": 1}}])"), u);
}

TEST(ScimPatch, RefusesWhatItCannotApply) {
  json u = user(kAlice);
  EXPECT_EQ(patch_error(u, R"([{"op": "remove"}])").type, "noTarget");
  EXPECT_EQ(patch_error(u, R"([{"op": "move", "path": "active"}])").type, "invalidSyntax");
  EXPECT_EQ(patch_error(u, R"([{"path": "active"}])").type, "invalidSyntax");
  EXPECT_EQ(patch_error(u, R"([{"op": "add", "path": "nosuch", "value": 1}])").type, "invalidPath");
  EXPECT_EQ(patch_error(u, R"([{"op": "add", "path": "urn:example:x:y", "value": 1}])").type, "invalidPath");
  EXPECT_EQ(patch_error(u, R"([{"op": "add", "path": "active[type eq \"x\"]", "value": 1}])").type, "invalidPath");
  EXPECT_EQ(patch_error(u, R"([{"op": "add", "path": "emails[type eq ]", "value": 1}])").type, "invalidPath");
  EXPECT_EQ(patch_error(u, R"([{"op": "replace", "path": "active", "value": "maybe"}])").type, "invalidValue");
  EXPECT_EQ(patch_error(u, R"([{"op": "replace", "path": "userName", "value": null}])").type, "invalidValue");
  EXPECT_EQ(patch_error(u, R"([{"op": "replace", "value": 3}])").type, "invalidValue");
  EXPECT_EQ(patch_error(u, R"({"op": "replace"})").type, "invalidSyntax");
  std::string many = "[";
  for (int i = 0; i < 101; ++i) many += std::string(i ? "," : "") + R"({"op":"add","path":"title","value":"t"})";
  EXPECT_EQ(patch_error(u, many + "]").type, "invalidSyntax");
}

TEST(ScimFilter, EvaluatesTheRfcOperatorsInAnyCase) {
  json r = user(kAlice);
  r["id"] = "3f2a";
  r["meta"] = {{"lastModified", "2026-12-05T10:00:00Z"}};
  EXPECT_TRUE(filter_matches(R"(userName eq "alice@example.com")", r));
  EXPECT_TRUE(filter_matches(R"(USERNAME EQ "ALICE@EXAMPLE.COM")", r));
  EXPECT_FALSE(filter_matches(R"(externalId eq "00U1")", r));  // caseExact
  EXPECT_TRUE(filter_matches(R"(externalId eq "00u1")", r));
  EXPECT_TRUE(filter_matches(R"(emails[type eq "work"].value eq "alice@example.com")", r));
  EXPECT_FALSE(filter_matches(R"(emails[type eq "home"].value eq "alice@example.com")", r));
  EXPECT_TRUE(filter_matches(R"(emails[type eq "work" and primary eq true])", r));
  EXPECT_TRUE(filter_matches(R"(emails.value co "home")", r));
  EXPECT_TRUE(filter_matches(R"(userName sw "alice" and not (active eq false))", r));
  EXPECT_TRUE(filter_matches(R"(userName ew ".org" or name.givenName eq "Alice")", r));
  EXPECT_TRUE(filter_matches(R"(title pr or externalId pr)", r));
  EXPECT_FALSE(filter_matches(R"(title pr)", r));
  EXPECT_TRUE(filter_matches(R"(urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "sre")", r));
  EXPECT_TRUE(filter_matches(R"(meta.lastModified gt "2026-12-01T00:00:00Z")", r));
  EXPECT_TRUE(filter_matches(R"(id eq "3f2a")", r));
  EXPECT_TRUE(filter_matches(R"(title ne "x")", r));
  EXPECT_TRUE(filter_matches(R"(userName eq "a\"b" or active eq true)", r));
}

TEST(ScimFilter, RefusesMalformedFilters) {
  for (const char* bad :
       {"", "userName", "userName eq", "userName xx \"a\"", "(userName eq \"a\"", "userName eq \"a",
        "emails[type eq \"work\"", "userName eq \"a\" and", "not userName eq \"a\"", "userName eq @", "a eq \"x\" )"}) {
    auto f = parse_filter(bad);
    ASSERT_FALSE(f) << bad;
    EXPECT_EQ(f.error().type, "invalidFilter") << bad;
  }
  EXPECT_FALSE(parse_filter(std::string(100, '(') + "a pr" + std::string(100, ')')));
  EXPECT_FALSE(parse_filter(std::string(3000, 'a')));
}

TEST(ScimFilter, KnowsWhichFiltersAnIndexAnswers) {
  auto lookup = [](const std::string& f) { return indexed_lookup(*parse_filter(f)); };
  EXPECT_EQ(lookup(R"(userName eq "Bob")")->key, IndexedLookup::Key::kUserName);
  EXPECT_EQ(lookup(R"(userName eq "Bob")")->value, "Bob");
  EXPECT_EQ(lookup(R"(externalId eq "x")")->key, IndexedLookup::Key::kExternalId);
  EXPECT_EQ(lookup(R"(emails[type eq "work"].value eq "b@x")")->key, IndexedLookup::Key::kEmail);
  EXPECT_EQ(lookup(R"(emails.value eq "b@x")")->key, IndexedLookup::Key::kEmail);
  EXPECT_FALSE(lookup(R"(userName sw "Bob")"));
  EXPECT_FALSE(lookup(R"(userName eq "a" or userName eq "b")"));
  EXPECT_FALSE(lookup(R"(emails[type eq "home"].value eq "b@x")"));
}

TEST(ScimGroup, ReadsAndPatchesMembersInEachProvidersWay) {
  auto g = read_group(json::parse(R"({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
    "displayName": "SRE on call", "externalId": "g1", "members": [{"value": "u1", "display": "alice"}]})"));
  ASSERT_TRUE(g) << g.error().detail;
  EXPECT_EQ(display_name(*g), "SRE on call");
  EXPECT_EQ(member_ids(*g), std::vector<std::string>{"u1"});
  EXPECT_FALSE(read_group(json::parse(R"({"members": []})")));
  EXPECT_FALSE(read_group(json::parse(R"({"displayName": "x", "userName": "y", "active": true})"))->contains("active"));
  auto patch = [](const json& group, const std::string& ops) {
    auto r = apply_group_patch(group, json::parse(R"({"Operations":)" + ops + "}"));
    EXPECT_TRUE(r) << r.error().detail;
    return r ? *r : json::object();
  };
  // Okta: add with path "members", remove with a value filter (developer.okta.com,
  // "SCIM 2.0 protocol: update a specific group membership (PATCH)").
  json h =
      patch(*g, R"([{"op": "add", "path": "members", "value": [{"value": "u2"}, {"value": "u1", "display": "x"}]}])");
  EXPECT_EQ(member_ids(h), (std::vector<std::string>{"u1", "u2"}));
  h = patch(h, R"([{"op": "remove", "path": "members[value eq \"u1\"]"}])");
  EXPECT_EQ(member_ids(h), std::vector<std::string>{"u2"});
  // Microsoft Entra ID: "Add"/"Remove" with path "members" and a list of values.
  h = patch(h, R"([{"op": "Add", "path": "members", "value": [{"value": "u3"}]},
                   {"op": "Remove", "path": "members", "value": [{"value": "u2"}]}])");
  EXPECT_EQ(member_ids(h), std::vector<std::string>{"u3"});
  // Renaming, with and without a path; replacing all members.
  h = patch(h, R"([{"op": "Replace", "value": {"id": "ignored", "displayName": "SRE"}}])");
  EXPECT_EQ(display_name(h), "SRE");
  h = patch(h, R"([{"op": "replace", "path": "members", "value": [{"value": "u9"}]}])");
  EXPECT_EQ(member_ids(h), std::vector<std::string>{"u9"});
  h = patch(h, R"([{"op": "remove", "path": "members"}])");
  EXPECT_TRUE(member_ids(h).empty());
  EXPECT_FALSE(h.contains("members"));
  EXPECT_EQ(apply_group_patch(h, json::parse(R"({"Operations": [{"op": "add",
    "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "x"}]})"))
                .error()
                .type,
            "invalidPath");
}

TEST(ScimDiscovery, DescribesWhatIsServed) {
  json spc = service_provider_config_json("https://gw/scim/v2", 200);
  EXPECT_TRUE(spc["patch"]["supported"].get<bool>());
  EXPECT_FALSE(spc["bulk"]["supported"].get<bool>());
  EXPECT_EQ(spc["filter"]["maxResults"], 200);
  json types = resource_types_json("https://gw/scim/v2");
  ASSERT_EQ(types.size(), 2U);
  EXPECT_EQ(types[0]["endpoint"], "/Users");
  EXPECT_EQ(types[1]["endpoint"], "/Groups");
  json schemas = schemas_json("https://gw/scim/v2");
  ASSERT_EQ(schemas.size(), 3U);
  EXPECT_EQ(schemas[0]["attributes"][0]["required"], true);  // userName
  EXPECT_EQ(schemas[2]["attributes"][0]["required"], true);  // displayName
  EXPECT_EQ(schemas[0]["attributes"][3]["name"], "displayName");
  EXPECT_EQ(schemas[0]["attributes"][3]["required"], false);
  EXPECT_EQ(schemas[1]["id"], kEnterpriseSchema);
  bool has_department = false;
  for (const auto& a : schemas[1]["attributes"]) has_department |= a["name"] == "department";
  EXPECT_TRUE(has_department);
}

}  // namespace
}  // namespace bastion::policy::scim
