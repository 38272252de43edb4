#include <gtest/gtest.h>

#include "policy/decision.h"
#include "policy/elevation.h"

namespace bastion::policy {
namespace {

constexpr Micros kMin = 60 * kMicrosPerSecond;

struct World {
  Person bob, carol, lead;
  Target app;
  Role support, leads;
  std::vector<Role> bob_roles;
  ElevationLimits limits{3600 * kMicrosPerSecond, 8 * 60 * kMin, 30 * kMin};
  World() {
    bob.name = "bob";
    bob.state = PersonState::kActive;
    carol = bob;
    carol.name = "carol";
    lead = bob;
    lead.name = "lead";
    app.name = "acme-app";
    app.customer = "acme";
    support.name = "support";
    support.target_selector = "customer=*";
    support.logins = {"root", "deploy"};
    support.elevated = true;
    support.max_duration = 240 * kMin;
    leads.name = "leads";
    leads.target_selector = "none";
    leads.logins = {"x"};
    bob_roles = {support};
  }
  Elevation grant(Micros now, Micros len) const {
    Elevation e;
    e.id = "REQ-1";
    e.grant_id = "GRT-1";
    e.user = "bob";
    e.target = "acme-app";
    e.login = "root";
    e.role = "support";
    e.customer = "acme";
    e.state = ElevationState::kApproved;
    e.decided_by = "carol";
    e.starts_at = now;
    e.ends_at = now + len;
    e.created_at = now;
    e.expires_at = now + 3600 * kMicrosPerSecond;
    return e;
  }
  Decision decide_at(const std::vector<Elevation>& els, Micros now, const std::string& login = "root",
                     const Person* who = nullptr) const {
    AccessRequest r;
    r.person = who ? who : &bob;
    r.roles = &bob_roles;
    r.target = &app;
    r.target_name = app.name;
    r.login = login;
    r.now = now;
    r.elevations = &els;
    return decide(r);
  }
};

TEST(ElevationRules, ElevatedRoleAloneDoesNotAllow) {
  World w;
  auto d = w.decide_at({}, 1000);
  EXPECT_FALSE(d.allow);
  EXPECT_EQ(d.reason.rfind("no active grant for root@acme-app", 0), 0u) << d.reason;
  EXPECT_EQ(w.decide_at({}, 1000, "admin").reason, "no role allows login admin on acme-app");
}

TEST(ElevationRules, ActiveGrantAllowsOnlyItsWindowLoginAndHolder) {
  World w;
  Micros t0 = 1'000 * kMicrosPerSecond;
  std::vector<Elevation> els = {w.grant(t0, 10 * kMin)};
  auto d = w.decide_at(els, t0 + kMin);
  EXPECT_TRUE(d.allow);
  EXPECT_EQ(d.grant_id, "GRT-1");
  EXPECT_EQ(d.step_up.kind, StepUpRule::Kind::kPerSession);  // a grant needs a step-up in every session
  EXPECT_EQ(d.not_after, t0 + 10 * kMin);
  EXPECT_EQ(d.role, "support");
  EXPECT_FALSE(w.decide_at(els, t0 + kMin, "deploy").allow);  // other login
  EXPECT_FALSE(w.decide_at(els, t0 - 1).allow);               // before it starts
  auto after = w.decide_at(els, t0 + 10 * kMin);              // at the end
  EXPECT_FALSE(after.allow);
  EXPECT_NE(after.reason.find("grant GRT-1 for root@acme-app ended (expired at"), std::string::npos) << after.reason;
  EXPECT_FALSE(w.decide_at(els, t0 + kMin, "root", &w.carol).allow);  // someone else's grant
  els[0].state = ElevationState::kRevoked;
  els[0].ended_by = "carol";
  EXPECT_EQ(w.decide_at(els, t0 + kMin).reason, "grant GRT-1 for root@acme-app ended (revoked by carol)");
}

TEST(ElevationRules, GrantNeedsContinuedEligibilityUnlessBreakGlass) {
  World w;
  std::vector<Elevation> els = {w.grant(0, 10 * kMin)};
  w.bob_roles.clear();
  auto d = w.decide_at(els, kMin);
  EXPECT_FALSE(d.allow);
  EXPECT_EQ(d.reason.rfind("grant GRT-1 no longer applies", 0), 0u) << d.reason;
  els[0].break_glass = true;
  EXPECT_TRUE(w.decide_at(els, kMin).allow);
  EXPECT_TRUE(w.decide_at(els, kMin).break_glass);
  Person left = w.bob;
  left.state = PersonState::kLeft;
  EXPECT_FALSE(w.decide_at(els, kMin, "root", &left).allow);
}

TEST(ElevationRules, PendingAndDeniedRequestsExplainTheDeny) {
  World w;
  Elevation e = w.grant(0, 0);
  e.state = ElevationState::kPending;
  e.grant_id.clear();
  e.expires_at = 10 * kMin;
  EXPECT_EQ(w.decide_at({e}, kMin).reason, "request REQ-1 for root@acme-app is waiting for consent from customer acme");
  EXPECT_EQ(w.decide_at({e}, 11 * kMin).reason, "request REQ-1 for root@acme-app is expired");
  e.state = ElevationState::kDenied;
  e.decision_reason = "month-end";
  EXPECT_EQ(w.decide_at({e}, kMin).reason, "request REQ-1 for root@acme-app was denied by carol: month-end");
}

TEST(ElevationRules, RequestChecks) {
  World w;
  EXPECT_TRUE(check_request(w.bob, w.bob_roles, w.app, "root", 30 * kMin, "T-1", w.limits));
  EXPECT_FALSE(check_request(w.bob, w.bob_roles, w.app, "root", 30 * kMin, "", w.limits));
  EXPECT_FALSE(check_request(w.bob, w.bob_roles, w.app, "root", 30 * kMin, "a\nb", w.limits));
  EXPECT_FALSE(check_request(w.bob, w.bob_roles, w.app, "admin", 30 * kMin, "T-1", w.limits));
  auto too_long = check_request(w.bob, w.bob_roles, w.app, "root", 300 * kMin, "T-1", w.limits);
  ASSERT_FALSE(too_long);
  EXPECT_NE(too_long.error().message.find("longest grant for root@acme-app is 4h"), std::string::npos)
      << too_long.error().message;
  Target orphan = w.app;
  orphan.customer.clear();
  EXPECT_FALSE(check_request(w.bob, w.bob_roles, orphan, "root", kMin, "T-1", w.limits));
  Role standing = w.support;
  standing.elevated = false;
  EXPECT_FALSE(check_request(w.bob, {standing}, w.app, "root", kMin, "T-1", w.limits));
  EXPECT_EQ(grant_length(300 * kMin, w.support, w.limits), 240 * kMin);
  w.support.max_duration = 0;
  EXPECT_EQ(grant_length(900 * kMin, w.support, w.limits), 480 * kMin);
}

TEST(ElevationRules, ApprovalRulesAndFourEyes) {
  World w;
  Elevation e = w.grant(0, 0);
  e.state = ElevationState::kPending;
  e.expires_at = 60 * kMin;
  std::vector<std::string> approvers = {"carol"};
  EXPECT_EQ(approval_kind(e, w.bob, {"bob"}, {}, w.support, kMin).error().message,
            "you cannot approve your own request");
  EXPECT_EQ(approval_kind(e, w.lead, approvers, {}, w.support, kMin).error().message,
            "lead is not an approver for customer acme");
  EXPECT_EQ(*approval_kind(e, w.carol, approvers, {}, w.support, kMin), "customer");
  EXPECT_FALSE(approval_kind(e, w.carol, approvers, {}, w.support, 61 * kMin));  // expired
  Person gone = w.carol;
  gone.state = PersonState::kDisabled;
  EXPECT_FALSE(approval_kind(e, gone, approvers, {}, w.support, kMin));

  // Four eyes: one internal approval from a holder of `leads`, plus consent.
  w.support.internal_approvals = 1;
  w.support.approver_role = "leads";
  EXPECT_EQ(*approval_kind(e, w.lead, approvers, {w.leads}, w.support, kMin), "internal");
  e.approvals.push_back({"carol", "customer", 0, kMin});
  EXPECT_FALSE(approvals_complete(e, w.support));
  EXPECT_FALSE(approval_kind(e, w.carol, approvers, {}, w.support, kMin));  // already approved
  e.approvals.push_back({"lead", "internal", 0, kMin});
  EXPECT_TRUE(approvals_complete(e, w.support));
}

TEST(ElevationRules, RevokeRightsAndBreakGlassLimits) {
  World w;
  Elevation e = w.grant(0, 10 * kMin);
  EXPECT_TRUE(check_revoke(e, "bob", false, false, kMin));
  EXPECT_TRUE(check_revoke(e, "carol", true, false, kMin));
  EXPECT_TRUE(check_revoke(e, "admin:root", false, true, kMin));
  EXPECT_FALSE(check_revoke(e, "mallory", false, false, kMin));
  EXPECT_FALSE(check_revoke(e, "bob", false, false, 11 * kMin));  // already expired
  EXPECT_TRUE(check_break_glass(w.bob, 20 * kMin, "INC-1", w.limits));
  EXPECT_FALSE(check_break_glass(w.bob, 31 * kMin, "INC-1", w.limits));
  EXPECT_FALSE(check_break_glass(w.bob, 20 * kMin, "", w.limits));
}

}  // namespace
}  // namespace bastion::policy
