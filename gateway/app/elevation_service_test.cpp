#include <gtest/gtest.h>

#include "common/database.h"
#include "common/database_sql.h"
#include "gateway/app/elevation_service.h"
#include "policy/sqlite_repository.h"
#include "tests/support/test_database.h"

namespace bastion::gateway {
namespace {

constexpr Micros kMin = 60 * kMicrosPerSecond;

class ElevationServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = Database::open(bastion::test_support::test_database(":memory:"), Database::Mode::kCreate);
    ASSERT_TRUE(d);
    db.emplace(std::move(*d));
    repo.emplace(*db, clock);
    audit.emplace(*db, clock);
    service.emplace(*repo, *audit, cfg, clock);
    ASSERT_TRUE(repo->add_customer("acme"));
    policy::Role leads;
    leads.name = "leads";
    leads.target_selector = "nothing";
    leads.logins = {"x"};
    ASSERT_TRUE(repo->add_role(leads));
    policy::Role support;
    support.name = "support";
    support.target_selector = "customer=acme";
    support.logins = {"root"};
    support.elevated = true;
    support.internal_approvals = 1;
    support.approver_role = "leads";
    ASSERT_TRUE(repo->add_role(support));
    policy::Target t;
    t.name = "acme-app";
    t.host = "h";
    t.customer = "acme";
    ASSERT_TRUE(repo->add_target(t));
    for (auto [name, role] : {std::pair{"bob", "support"}, {"carol", ""}, {"lead", "leads"}}) {
      policy::Person p;
      p.name = name;
      p.state = policy::PersonState::kActive;
      if (*role) p.roles = {role};
      ASSERT_TRUE(repo->add_person(p));
    }
    ASSERT_TRUE(repo->add_approver("acme", "carol"));
  }
  int audit_count(const std::string& action, const std::string& outcome) {
    recorder::AuditFilter f;
    f.action = action;
    auto rows = audit->query(f);
    int n = 0;
    for (const auto& r : *rows) n += recorder::to_string(r.event.outcome) == outcome;
    return n;
  }

  FakeClock clock{1'000'000 * kMicrosPerSecond};
  Config cfg;
  std::optional<Database> db;
  std::optional<policy::SqlitePolicyRepository> repo;
  std::optional<recorder::AuditLog> audit;
  std::optional<ElevationService> service;
  Actor bob{"bob"}, carol{"carol"}, lead{"lead"}, admin{"admin:root", true};
};

// A change and its audit record are one transaction: when the record cannot
// be written, the change does not happen either (and the other way round).
TEST_F(ElevationServiceTest, AChangeWithoutItsAuditRecordDoesNotHappen) {
  auto req = service->request(bob, "root@acme-app", 30 * kMin, "T-1");
  ASSERT_TRUE(req) << req.error().message;
  auto count = [&](const std::string& query) {
    Statement q(*db, query);
    q.step();
    return q.column(0).int32();
  };
  const int records = count("SELECT COUNT(*) FROM audit_log");
  // From here on, no audit record can be written.
  if (bastion::test_support::under_postgres()) {
    exec(*db,
         "CREATE FUNCTION no_audit() RETURNS trigger LANGUAGE plpgsql AS "
         "$$ BEGIN RAISE EXCEPTION 'audit disk full'; END $$; "
         "CREATE TRIGGER no_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION no_audit()");
  } else {
    exec(*db, "CREATE TRIGGER no_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit disk full'); END");
  }
  EXPECT_FALSE(service->request(bob, "root@acme-app", 30 * kMin, "T-2"));
  EXPECT_EQ(count("SELECT COUNT(*) FROM elevations"), 1) << "a request without its record";
  auto approved = service->approve(carol, req->id, std::nullopt);
  ASSERT_FALSE(approved);
  EXPECT_NE(approved.error().message.find("audit disk full"), std::string::npos) << approved.error().message;
  auto after = repo->find_elevation(req->id);
  ASSERT_TRUE(after && *after);
  EXPECT_TRUE((*after)->approvals.empty()) << "an approval without its record";
  EXPECT_FALSE(service->deny(carol, req->id, "no"));
  EXPECT_EQ((*repo->find_elevation(req->id))->state, policy::ElevationState::kPending);
  EXPECT_FALSE(service->revoke(bob, req->id, "never mind"));
  EXPECT_EQ((*repo->find_elevation(req->id))->state, policy::ElevationState::kPending);
  EXPECT_FALSE(service->break_glass(admin, "bob", "root@acme-app", 10 * kMin, "outage"));
  EXPECT_EQ(count("SELECT COUNT(*) FROM elevations"), 1) << "a break-glass grant without its record";
  clock.advance(2 * 3600 * kMicrosPerSecond);  // past the request's time to live
  EXPECT_FALSE(service->expire_due());
  EXPECT_EQ((*repo->find_elevation(req->id))->state, policy::ElevationState::kPending) << "expired without a record";
  EXPECT_EQ(count("SELECT COUNT(*) FROM audit_log"), records);
  // Once records can be written again, everything works as before.
  exec(*db, bastion::test_support::under_postgres() ? "DROP TRIGGER no_audit ON audit_log" : "DROP TRIGGER no_audit");
  auto expired = service->expire_due();
  ASSERT_TRUE(expired) << expired.error().message;
  EXPECT_EQ(expired->size(), 1u);
  EXPECT_EQ(audit_count("elevation.expire", "info"), 1);
}

// An approver who leaves takes back the consent nobody has used yet.
TEST_F(ElevationServiceTest, ALeavingApproversUnusedConsentIsWithdrawn) {
  auto used_grant = service->request(bob, "root@acme-app", 30 * kMin, "T-1");
  auto unused_grant = service->request(bob, "root@acme-app", 30 * kMin, "T-2");
  auto half = service->request(bob, "root@acme-app", 30 * kMin, "T-3");
  auto other = service->request(bob, "root@acme-app", 30 * kMin, "T-4");
  ASSERT_TRUE(used_grant && unused_grant && half && other);
  for (const auto& id : {used_grant->id, unused_grant->id}) {
    ASSERT_TRUE(service->approve(carol, id, std::nullopt));
    ASSERT_TRUE(service->approve(lead, id, std::nullopt));
  }
  ASSERT_TRUE(service->approve(carol, half->id, std::nullopt));  // still waits for the lead
  ASSERT_TRUE(service->approve(lead, other->id, std::nullopt));  // carol never consented
  const std::string used_id = (*repo->find_elevation(used_grant->id))->grant_id;
  auto withdrawn = service->withdraw_consents(
      "carol", [&](const policy::Elevation& e) { return e.grant_id == used_id; },
      "consent withdrawn: approver carol no longer has access");
  ASSERT_TRUE(withdrawn) << withdrawn.error().message;
  ASSERT_EQ(withdrawn->size(), 2u);
  auto state = [&](const std::string& id) { return (*repo->find_elevation(id))->state; };
  EXPECT_EQ(state(used_grant->id), policy::ElevationState::kApproved) << "a grant in use stays";
  EXPECT_EQ(state(unused_grant->id), policy::ElevationState::kRevoked);
  EXPECT_EQ(state(half->id), policy::ElevationState::kRevoked);
  EXPECT_EQ(state(other->id), policy::ElevationState::kPending) << "carol never consented to it";
  EXPECT_EQ((*repo->find_elevation(unused_grant->id))->end_reason,
            "consent withdrawn: approver carol no longer has access");
  EXPECT_EQ(audit_count("elevation.revoke", "info"), 2);
  // Only customer consents count when carol stops being acme's approver; the lead's internal approval stays.
  auto internal = service->request(bob, "root@acme-app", 30 * kMin, "T-5");
  ASSERT_TRUE(internal);
  ASSERT_TRUE(service->approve(lead, internal->id, std::nullopt));
  auto none = service->withdraw_consents(
      "lead", [](const policy::Elevation&) { return false; }, "lead is no longer acme's approver", "acme");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(state(internal->id), policy::ElevationState::kPending);
}

TEST_F(ElevationServiceTest, FourEyesNeedsConsentAndInternalApproval) {
  auto req = service->request(bob, "root@acme-app", 30 * kMin, "T-1");
  ASSERT_TRUE(req) << req.error().message;
  EXPECT_EQ(req->id.rfind("REQ-", 0), 0u);
  auto first = service->approve(carol, req->id, 10 * kMin);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->state, policy::ElevationState::kPending);  // still needs the lead
  clock.advance(kMin);
  auto second = service->approve(lead, req->id, std::nullopt);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->state, policy::ElevationState::kApproved);
  EXPECT_EQ(second->grant_id.rfind("GRT-", 0), 0u);
  EXPECT_EQ(second->ends_at - second->starts_at, 10 * kMin);  // carol's shorter duration wins
  EXPECT_EQ(audit_count("grant.start", "allow"), 1);
  // Case does not matter when typing ids.
  std::string lower = second->grant_id;
  for (auto& c : lower) c = static_cast<char>(std::tolower(c));
  auto found = service->revoke(bob, lower, "");
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(found->state, policy::ElevationState::kRevoked);
  EXPECT_EQ(found->end_reason, "given back by the requester");
}

TEST_F(ElevationServiceTest, RefusalsChangeNothingAndAreAudited) {
  auto req = service->request(bob, "root@acme-app", 30 * kMin, "T-1");
  ASSERT_TRUE(req);
  EXPECT_FALSE(service->approve(bob, req->id, std::nullopt));
  EXPECT_FALSE(service->deny(bob, req->id, "no"));
  EXPECT_FALSE(service->revoke(lead, req->id, "mine now"));
  EXPECT_FALSE(service->request(bob, "root@acme-app", 9 * 60 * kMin, "T-1"));
  EXPECT_FALSE(service->request(bob, "acme-app", kMin, "T-1"));
  EXPECT_FALSE(service->break_glass(bob, "bob", "root@acme-app", kMin, "x"));  // not an admin
  EXPECT_EQ(audit_count("elevation.approve", "deny"), 1);
  EXPECT_EQ(audit_count("elevation.deny", "deny"), 1);
  EXPECT_EQ(audit_count("elevation.revoke", "deny"), 1);
  EXPECT_EQ(audit_count("elevation.request", "deny"), 2);
  EXPECT_EQ(audit_count("elevation.break-glass", "deny"), 1);
  auto still = repo->find_elevation(req->id);
  EXPECT_EQ((*still)->state, policy::ElevationState::kPending);
  EXPECT_TRUE((*still)->approvals.empty());
}

TEST_F(ElevationServiceTest, ExpiryIsStoredOnceWithAnAuditRecord) {
  auto req = service->request(bob, "root@acme-app", 30 * kMin, "T-1");
  ASSERT_TRUE(req);
  auto bg = service->break_glass(admin, "bob", "root@acme-app", 5 * kMin, "INC-1");
  ASSERT_TRUE(bg) << bg.error().message;
  EXPECT_TRUE(service->expire_due()->empty());
  clock.advance(cfg.request_ttl);
  auto expired = service->expire_due();
  ASSERT_TRUE(expired);
  EXPECT_EQ(expired->size(), 2u);  // the request (1h) and the break-glass grant (5m)
  EXPECT_TRUE(service->expire_due()->empty());
  EXPECT_EQ(audit_count("elevation.expire", "info"), 1);
  EXPECT_EQ(audit_count("grant.end", "info"), 1);
  EXPECT_FALSE(service->approve(carol, req->id, std::nullopt));
}

}  // namespace
}  // namespace bastion::gateway
