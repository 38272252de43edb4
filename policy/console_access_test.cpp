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

TEST(ConsoleAccess, AuditorsReplayEveryRecordingAndAdminsSeeEveryLiveSession) {
  std::vector<Customer> customers = {{"acme", {"carol"}, 0}};
  Role auditors;
  auditors.name = "auditors";
  auditors.console = "auditor";
  Role admins;
  admins.name = "admins";
  admins.console = "admin";
  auto erin = console_access(person("erin"), customers, {auditors});
  auto olga = console_access(person("olga"), customers, {admins});
  auto carol = console_access(person("carol"), customers, {});
  auto bob = console_access(person("bob"), customers, {});
  EXPECT_TRUE(erin.auditor);
  EXPECT_FALSE(erin.admin);
  EXPECT_TRUE(may_view_recording(erin, "acme"));
  EXPECT_TRUE(may_view_recording(erin, ""));
  EXPECT_TRUE(may_search_recordings(erin));
  EXPECT_FALSE(may_view_session(erin, "bob", "acme"));  // an auditor ends nothing live
  EXPECT_TRUE(olga.admin);
  EXPECT_TRUE(may_view_session(olga, "bob", "acme"));
  EXPECT_TRUE(may_view_session(olga, "bob", ""));
  EXPECT_FALSE(may_view_recording(olga, "acme"));  // an admin replays nothing
  EXPECT_FALSE(may_search_recordings(olga));
  EXPECT_TRUE(may_view_recording(carol, "acme"));
  EXPECT_FALSE(may_view_recording(carol, ""));
  EXPECT_TRUE(may_search_recordings(carol));
  EXPECT_FALSE(may_view_recording(bob, "acme"));  // not even their own
  EXPECT_FALSE(may_search_recordings(bob));
  EXPECT_TRUE(may_read_audit(erin));
  EXPECT_FALSE(may_read_audit(olga));
  EXPECT_FALSE(may_read_audit(carol));
  EXPECT_FALSE(may_read_audit(ConsoleAccess{}));
  EXPECT_TRUE(may_view_people(olga));
  EXPECT_FALSE(may_view_people(erin));
  EXPECT_FALSE(may_view_people(carol));
  EXPECT_TRUE(may_break_glass(olga));
  EXPECT_FALSE(may_break_glass(erin));
  EXPECT_FALSE(may_break_glass(carol));
  Role odd;
  odd.name = "odd";
  odd.console = "root";  // never stored (add_role refuses it); gives nothing
  auto o = console_access(person("o"), customers, {odd});
  EXPECT_FALSE(o.auditor || o.admin);
}

TEST(ConsoleAccess, NobodySeesWithoutAName) {
  EXPECT_FALSE(may_view_recording(ConsoleAccess{}, "acme"));
  EXPECT_FALSE(may_search_recordings(ConsoleAccess{}));
  EXPECT_FALSE(may_view_request(ConsoleAccess{}, request("", "", ""), nullptr));
}

}  // namespace
}  // namespace bastion::policy
