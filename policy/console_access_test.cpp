#include <gtest/gtest.h>

#include "policy/console_access.h"

namespace bastion::policy {
namespace {

Person person(const std::string& name) {
  Person p;
  p.name = name;
  p.state = PersonState::kActive;
  return p;
}

Elevation request(const std::string& user, const std::string& customer, const std::string& role) {
  Elevation e;
  e.id = "REQ-1";
  e.user = user;
  e.customer = customer;
  e.role = role;
  return e;
}

TEST(ConsoleAccess, ApproversSeeTheirCustomersRequestsOnly) {
  std::vector<Customer> customers = {{"acme", {"carol"}, 0}, {"globex", {"dave", "carol"}, 0}};
  auto carol = console_access(person("carol"), customers, {});
  auto dave = console_access(person("dave"), customers, {});
  EXPECT_EQ(carol.approver_of, (std::vector<std::string>{"acme", "globex"}));
  EXPECT_EQ(dave.approver_of, (std::vector<std::string>{"globex"}));
  Role support;
  support.name = "support";
  auto acme = request("bob", "acme", "support");
  EXPECT_TRUE(may_view_request(carol, acme, &support));
  EXPECT_FALSE(may_view_request(dave, acme, &support));
  EXPECT_TRUE(may_view_request(console_access(person("bob"), customers, {}), acme, &support));
  EXPECT_FALSE(may_view_request(console_access(person("eve"), customers, {}), acme, &support));
  EXPECT_TRUE(approves_for(carol, "acme"));
  EXPECT_FALSE(approves_for(dave, "acme"));
  EXPECT_FALSE(approves_for(dave, ""));
}

TEST(ConsoleAccess, InternalApproversSeeTheRequestsTheirRoleApproves) {
  Role lead;
  lead.name = "support-lead";
  Role support;
  support.name = "support";
  support.internal_approvals = 1;
  support.approver_role = "support-lead";
  auto req = request("bob", "", "support");
  EXPECT_TRUE(may_view_request(console_access(person("lena"), {}, {lead}), req, &support));
  EXPECT_FALSE(may_view_request(console_access(person("lena"), {}, {}), req, &support));
  support.internal_approvals = 0;  // no four eyes: holding the role shows nothing
  EXPECT_FALSE(may_view_request(console_access(person("lena"), {}, {lead}), req, &support));
  EXPECT_FALSE(may_view_request(console_access(person("lena"), {}, {lead}), req, nullptr));
}

TEST(ConsoleAccess, SessionsAreSeenByTheirPersonAndTheirCustomersApprovers) {
  std::vector<Customer> customers = {{"acme", {"carol"}, 0}};
  auto carol = console_access(person("carol"), customers, {});
  auto dave = console_access(person("dave"), customers, {});
  EXPECT_TRUE(may_view_session(carol, "bob", "acme"));
  EXPECT_FALSE(may_view_session(dave, "bob", "acme"));
  EXPECT_FALSE(may_view_session(carol, "bob", ""));
  EXPECT_TRUE(may_view_session(dave, "dave", ""));
  EXPECT_FALSE(may_view_session(ConsoleAccess{}, "", ""));
}

TEST(ConsoleAccess, NobodySeesWithoutAName) {
  EXPECT_FALSE(may_view_request(ConsoleAccess{}, request("", "", ""), nullptr));
}

}  // namespace
}  // namespace bastion::policy
