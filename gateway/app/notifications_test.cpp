// Notifier: which events write which notifications, to whom, in the
// transaction of their audit record.
#include <gtest/gtest.h>

#include "common/database.h"
#include "common/database_sql.h"
#include "gateway/app/elevation_service.h"
#include "gateway/app/notifications.h"
#include "notify/outbox.h"
#include "policy/sqlite_repository.h"
#include "tests/support/test_database.h"

namespace bastion::gateway {
namespace {

constexpr Micros kMin = 60 * kMicrosPerSecond;
using notifications::Notification;

class NotifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg.public_url = "https://gw.example.com:8443";
    cfg.public_name = "gw.example.com";
    cfg.smtp_url = "smtp://mail.example.com:587";
    cfg.smtp_from = "bastion@example.com";
    cfg.notify_webhooks["ops"] = {"https://hooks.example.com/b", "/nonexistent", "json", ""};
    cfg.notify_routes["request"] = {"email", "webhook:ops"};
    cfg.notify_security = {"security@example.com"};
    cfg.notify_admins = {"ops@example.com"};
    auto d = Database::open(bastion::test_support::test_database(":memory:"), Database::Mode::kCreate);
    ASSERT_TRUE(d);
    db.emplace(std::move(*d));
    repo.emplace(*db, clock);
    audit.emplace(*db, clock);
    outbox.emplace(*db);
    notifier.emplace(cfg, *repo, *outbox, clock);
    audit->set_observer([this](int64_t seq, const std::string& hash, const recorder::AuditEvent& e) {
      return notifier->on_audit(seq, hash, e);
    });
    service.emplace(*repo, *audit, cfg, clock);
    ASSERT_TRUE(repo->add_customer("acme"));
    ASSERT_TRUE(repo->add_customer("globex"));
    policy::Role support;
    support.name = "support";
    support.target_selector = "customer=*";
    support.logins = {"root"};
    support.elevated = true;
    ASSERT_TRUE(repo->add_role(support));
    for (const char* name : {"acme-app", "globex-app"}) {
      policy::Target t;
      t.name = name;
      t.host = "h";
      t.customer = std::string(name) == "acme-app" ? "acme" : "globex";
      ASSERT_TRUE(repo->add_target(t));
    }
    for (auto [name, email] : {std::pair{"bob", "bob@example.com"},
                               {"carol", "carol@acme.example"},
                               {"cora", "cora@acme.example"},
                               {"dave", ""}}) {
      policy::Person p;
      p.name = name;
      p.state = policy::PersonState::kActive;
      p.email = email;
      if (std::string(name) == "bob") p.roles = {"support"};
      ASSERT_TRUE(repo->add_person(p));
    }
    ASSERT_TRUE(repo->add_approver("acme", "carol"));
    ASSERT_TRUE(repo->add_approver("acme", "cora"));
    ASSERT_TRUE(repo->add_approver("globex", "dave"));
  }
  std::vector<Notification> all() {
    notifications::OutboxFilter f;
    f.newest_first = false;
    auto rows = outbox->list(f);
    EXPECT_TRUE(rows) << rows.error().message;
    return rows ? *rows : std::vector<Notification>{};
  }
  std::vector<Notification> of_kind(const std::string& kind) {
    std::vector<Notification> out;
    for (auto& n : all())
      if (n.kind == kind) out.push_back(n);
    return out;
  }

  FakeClock clock{1'000'000 * kMicrosPerSecond};
  Config cfg;
  std::optional<Database> db;
  std::optional<policy::SqlitePolicyRepository> repo;
  std::optional<recorder::AuditLog> audit;
  std::optional<notifications::Outbox> outbox;
  std::optional<Notifier> notifier;
  std::optional<ElevationService> service;
  Actor bob{"bob", false, "", ""}, carol{"carol", false, "", ""}, admin{"admin:root", true, "", ""};
};

TEST_F(NotifierTest, ARequestTellsTheCustomersApproversWithALinkToItsPage) {
  auto req = service->request(bob, "root@acme-app", 30 * kMin, "TICKET-9 import fails");
  ASSERT_TRUE(req) << req.error().message;
  auto rows = of_kind("request");
  ASSERT_EQ(rows.size(), 2u);  // [notify.routes] request = ["email", "webhook:ops"]
  const Notification& mail = rows[0];
  EXPECT_EQ(mail.channel, "email");
  EXPECT_EQ(mail.recipients, (std::vector<std::string>{"carol@acme.example", "cora@acme.example"}));
  EXPECT_EQ(mail.link, "https://gw.example.com:8443/console/requests/" + req->id);
  EXPECT_EQ(mail.thread, req->id);
  EXPECT_EQ(mail.subject, "[bastion] bob asks for root@acme-app (customer acme)");
  EXPECT_NE(mail.body.find("Reason: TICKET-9 import fails"), std::string::npos) << mail.body;
  EXPECT_NE(mail.body.find(mail.link), std::string::npos) << mail.body;
  EXPECT_NE(mail.body.find("security key"), std::string::npos) << mail.body;
  EXPECT_EQ(rows[1].channel, "webhook:ops");
  EXPECT_TRUE(rows[1].recipients.empty());
  EXPECT_EQ(rows[0].seq, rows[1].seq);  // one audit record, two notifications
  EXPECT_NE(rows[0].key, rows[1].key);
  EXPECT_EQ(rows[0].key.substr(0, 8), "bastion-");
  // The record that caused them is the request's.
  recorder::AuditFilter f;
  f.action = "elevation.request";
  auto rec = audit->query(f);
  ASSERT_EQ(rec->size(), 1u);
  EXPECT_EQ((*rec)[0].seq, mail.seq);
  EXPECT_EQ(mail.key.substr(8, 24), (*rec)[0].hash.substr(0, 24));
}

TEST_F(NotifierTest, ARoleThatNeedsInternalApprovalsAlsoTellsItsApproverRolesHolders) {
  policy::Role leads;
  leads.name = "leads";
  leads.target_selector = "env=none";
  leads.logins = {"nobody"};
  ASSERT_TRUE(repo->add_role(leads));
  policy::Role fenced;
  fenced.name = "fenced";
  fenced.target_selector = "customer=*";
  fenced.logins = {"root"};
  fenced.elevated = true;
  fenced.internal_approvals = 1;
  fenced.approver_role = "leads";
  auto added = repo->add_role(fenced);
  ASSERT_TRUE(added) << added.message();
  // lena leads; lou leads but has left; bob (the requester) leads too: he
  // cannot approve his own request, so he is not asked to.
  for (auto [name, email, state] : {std::tuple{"lena", "lena@example.com", policy::PersonState::kActive},
                                    {"lou", "lou@example.com", policy::PersonState::kLeft}}) {
    policy::Person p;
    p.name = name;
    p.state = state;
    p.email = email;
    p.roles = {"leads"};
    ASSERT_TRUE(repo->add_person(p));
  }
  ASSERT_TRUE(repo->remove_role("bob", "support"));
  ASSERT_TRUE(repo->assign_role("bob", "fenced"));
  ASSERT_TRUE(repo->assign_role("bob", "leads"));
  auto req = service->request(bob, "root@acme-app", 30 * kMin, "T-7");
  ASSERT_TRUE(req) << req.error().message;
  auto rows = of_kind("request");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].recipients,
            (std::vector<std::string>{"carol@acme.example", "cora@acme.example", "lena@example.com"}));
  EXPECT_NE(rows[0].body.find("consent of customer acme and 1 internal approval (role leads)"), std::string::npos)
      << rows[0].body;
  EXPECT_EQ(rows[0].facts.value("internal_approvals", 0), 1) << rows[0].facts.dump();
  // An approver of the customer who also holds the approver role is told once.
  ASSERT_TRUE(repo->assign_role("carol", "leads"));
  auto again = service->request(bob, "root@globex-app", 30 * kMin, "T-8");
  ASSERT_TRUE(again) << again.error().message;
  rows = of_kind("request");
  ASSERT_EQ(rows.size(), 4u);
  // globex's approver dave has no address: kept with the reason.
  EXPECT_EQ(rows[2].recipients, (std::vector<std::string>{"carol@acme.example", "lena@example.com"}));
  EXPECT_NE(rows[2].facts.value("recipients_note", "").find("dave"), std::string::npos) << rows[2].facts.dump();
}

TEST_F(NotifierTest, WithoutAConsoleTheMessageNamesTheCommand) {
  cfg.public_url = "";
  auto req = service->request(bob, "root@acme-app", 30 * kMin, "T-1");
  ASSERT_TRUE(req);
  auto rows = of_kind("request");
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows[0].link, "");
  EXPECT_NE(rows[0].body.find("Run: ssh gw.example.com approve " + req->id), std::string::npos) << rows[0].body;
}

TEST_F(NotifierTest, TheRequesterHearsOfTheGrantOfADenialWithItsReasonAndOfARevocationByOthers) {
  auto req = service->request(bob, "root@acme-app", 30 * kMin, "T-1");
  ASSERT_TRUE(req);
  auto granted = service->approve(carol, req->id, std::nullopt, {});
  ASSERT_TRUE(granted) << granted.error().message;
  auto start = of_kind("grant_start");
  ASSERT_EQ(start.size(), 1u);
  EXPECT_EQ(start[0].recipients, std::vector<std::string>{"bob@example.com"});
  EXPECT_NE(start[0].subject.find("access granted: root@acme-app until "), std::string::npos) << start[0].subject;
  EXPECT_NE(start[0].body.find("carol approved your request " + req->id), std::string::npos) << start[0].body;
  EXPECT_EQ(start[0].thread, req->id);

  ASSERT_TRUE(service->revoke(carol, req->id, "customer called"));
  auto revoked = of_kind("grant_revoked");
  ASSERT_EQ(revoked.size(), 1u);
  EXPECT_NE(revoked[0].body.find("Reason: customer called"), std::string::npos) << revoked[0].body;

  // Giving a grant back yourself tells nobody; withdrawing a request neither.
  auto again = service->request(bob, "root@acme-app", 30 * kMin, "T-2");
  ASSERT_TRUE(again);
  ASSERT_TRUE(service->approve(carol, again->id, std::nullopt, {}));
  ASSERT_TRUE(service->revoke(bob, again->id, ""));
  auto third = service->request(bob, "root@acme-app", 30 * kMin, "T-3");
  ASSERT_TRUE(service->revoke(bob, third->id, ""));
  EXPECT_EQ(of_kind("grant_revoked").size(), 1u);

  auto denied_req = service->request(bob, "root@acme-app", 30 * kMin, "T-4");
  ASSERT_TRUE(service->deny(carol, denied_req->id, "not during the freeze"));
  auto denied = of_kind("decided");
  ASSERT_EQ(denied.size(), 1u);
  EXPECT_EQ(denied[0].recipients, std::vector<std::string>{"bob@example.com"});
  EXPECT_EQ(denied[0].subject, "[bastion] your request for root@acme-app was denied");
  EXPECT_NE(denied[0].body.find("Reason: not during the freeze"), std::string::npos) << denied[0].body;
  EXPECT_EQ(denied[0].facts["decision_reason"], "not during the freeze");
}

TEST_F(NotifierTest, ARequestNobodyDecidedInTimeTellsTheRequesterItExpired) {
  auto req = service->request(bob, "root@acme-app", 30 * kMin, "T-5");
  ASSERT_TRUE(req);
  clock.advance(req->expires_at - clock.now() + kMicrosPerSecond);
  auto ended = service->expire_due();
  ASSERT_TRUE(ended) << ended.error().message;
  ASSERT_EQ(ended->size(), 1u);
  auto rows = of_kind("expired");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].recipients, std::vector<std::string>{"bob@example.com"});
  EXPECT_EQ(rows[0].subject, "[bastion] your request for root@acme-app expired without a decision");
  EXPECT_EQ(rows[0].thread, req->id);
  EXPECT_NE(rows[0].body.find("ssh gw.example.com request root@acme-app"), std::string::npos) << rows[0].body;
  // A grant that ends at its time is not a request that expired.
  auto again = service->request(bob, "root@acme-app", 30 * kMin, "T-6");
  ASSERT_TRUE(service->approve(carol, again->id, std::nullopt, {}));
  clock.advance(31 * kMin);
  ASSERT_TRUE(service->expire_due());
  EXPECT_EQ(of_kind("expired").size(), 1u);
}

TEST_F(NotifierTest, ANotificationIsWrittenOnlyWithItsEventAndItsFailureUndoesTheEvent) {
  // The event's transaction rolls back: no notification either.
  Status st = audit->atomically([&]() -> Status {
    auto req = service->request(bob, "root@acme-app", 30 * kMin, "T-1");
    EXPECT_TRUE(req);
    return make_error("rolled back");
  });
  EXPECT_FALSE(st);
  EXPECT_TRUE(all().empty());
  // The outbox cannot be written: the request (and its record) do not happen.
  Statement(*db, "DROP TABLE notifications").run();
  auto req = service->request(bob, "root@acme-app", 30 * kMin, "T-2");
  EXPECT_FALSE(req);
  auto open = repo->list_elevations("bob", true);
  ASSERT_TRUE(open);
  EXPECT_TRUE(open->empty());
  recorder::AuditFilter f;
  f.action = "elevation.request";
  EXPECT_TRUE(audit->query(f)->empty());
}

TEST_F(NotifierTest, ACustomersRoutesReplaceTheGlobalOnesAndMissingAddressesAreKeptWithTheReason) {
  cfg.notify_customer_routes["globex"]["request"] = {"email"};
  auto req = service->request(bob, "root@globex-app", 30 * kMin, "T-1");
  ASSERT_TRUE(req);
  auto rows = of_kind("request");
  ASSERT_EQ(rows.size(), 1u);               // globex: e-mail only
  EXPECT_TRUE(rows[0].recipients.empty());  // dave has no address
  EXPECT_EQ(rows[0].facts["recipients_note"], "no e-mail address for dave (bastionctl user set NAME --email ADDRESS)");
  // Delivering it fails at once (no retry helps) with that reason.
  Status sent = deliver(cfg, {}, rows[0], clock.now());
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().code, ErrorCode::kInvalid);
  EXPECT_NE(sent.message().find("nobody to send it to: no e-mail address for dave"), std::string::npos)
      << sent.message();
  // A kind routed nowhere writes nothing.
  cfg.smtp_url = "";
  ASSERT_TRUE(service->deny(admin, req->id, "no"));
  EXPECT_TRUE(of_kind("decided").empty());
}

TEST_F(NotifierTest, BreakGlassGoesToSecurityAndOtherRecordsToNobody) {
  auto bg = service->break_glass(admin, "bob", "root@acme-app", 20 * kMin, "INC-7 database down");
  ASSERT_TRUE(bg) << bg.error().message;
  auto rows = of_kind("break_glass");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].recipients, std::vector<std::string>{"security@example.com"});
  EXPECT_NE(rows[0].subject.find("BREAK-GLASS: bob got root@acme-app without consent"), std::string::npos);
  ASSERT_TRUE(audit->append({"alice", "access", recorder::Outcome::kAllow, "", "acme-app", "root", "", "", {}}));
  ASSERT_TRUE(
      audit->append({"system", "audit.alert", recorder::Outcome::kDeny, "checkpoint mismatch", "", "", "", "", {}}));
  ASSERT_TRUE(audit->append(
      {"hr", "hr.hold", recorder::Outcome::kDeny, "ALERT: HR batch B-1 held", "", "", "", "", {{"batch_id", "B-1"}}}));
  EXPECT_EQ(of_kind("audit_alert").at(0).recipients, std::vector<std::string>{"security@example.com"});
  auto held = of_kind("hr_held");
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].recipients, std::vector<std::string>{"ops@example.com"});
  EXPECT_NE(held[0].body.find("bastionctl hr release B-1"), std::string::npos) << held[0].body;
  EXPECT_EQ(all().size(), 3u);
}

TEST_F(NotifierTest, AGrantEndingSoonIsWarnedOncePerThresholdTheGrantLivedToSee) {
  cfg.notify_ending_soon = {10 * kMin, 1 * kMin};
  auto req = service->request(bob, "root@acme-app", 30 * kMin, "T-1");
  ASSERT_TRUE(service->approve(carol, req->id, std::nullopt, {}));
  auto shorter = service->request(bob, "root@globex-app", 5 * kMin, "T-2");
  cfg.notify_customer_routes.clear();
  ASSERT_TRUE(repo->add_approver("globex", "carol"));
  ASSERT_TRUE(service->approve(carol, shorter->id, std::nullopt, {}));
  EXPECT_EQ(*notifier->warn_ending(*audit), 0);
  clock.advance(3 * kMin);  // the 5-minute grant: 2 minutes left, no 10-minute warning
  EXPECT_EQ(*notifier->warn_ending(*audit), 0);
  clock.advance(90 * kMicrosPerSecond);  // 30 s left of the short one
  EXPECT_EQ(*notifier->warn_ending(*audit), 1);
  clock.advance(16 * kMin);  // 9.5 minutes left of the long one
  EXPECT_EQ(*notifier->warn_ending(*audit), 1);
  EXPECT_EQ(*notifier->warn_ending(*audit), 0);
  clock.advance(9 * kMin);
  EXPECT_EQ(*notifier->warn_ending(*audit), 1);
  EXPECT_EQ(*notifier->warn_ending(*audit), 0);
  auto rows = of_kind("grant_ending");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].subject, "[bastion] your access to root@globex-app ends in 1m");
  EXPECT_EQ(rows[1].subject, "[bastion] your access to root@acme-app ends in 10m");
  EXPECT_EQ(rows[2].subject, "[bastion] your access to root@acme-app ends in 1m");
  EXPECT_EQ(rows[1].recipients, std::vector<std::string>{"bob@example.com"});
  EXPECT_EQ(rows[1].thread, req->id);
}

}  // namespace
}  // namespace bastion::gateway
