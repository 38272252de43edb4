#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "authn/mfa_store.h"
#include "common/database.h"
#include "common/files.h"
#include "gateway/app/elevation_service.h"
#include "gateway/app/hr_service.h"
#include "policy/sqlite_repository.h"
#include "tests/support/test_database.h"

namespace bastion::gateway {
namespace {

constexpr Micros kMin = 60 * kMicrosPerSecond;

class HrServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() / ("hr-test-" + std::to_string(getpid()) + "-" +
                                                    ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto d = Database::open(bastion::test_support::test_database((dir / "db").string()), Database::Mode::kCreate);
    ASSERT_TRUE(d) << d.error().message;
    db.emplace(std::move(*d));
    repo.emplace(*db, clock);
    audit.emplace(*db, clock);
    cfg.department_roles = {{"SRE", {"ops"}}, {"Support", {"support"}}, {"Broken", {"nope"}}};
    hr.emplace(*repo, *audit, cfg, clock);
    for (const char* r : {"ops", "support"}) {
      policy::Role role;
      role.name = r;
      role.target_selector = "*";
      role.logins = {"root"};
      ASSERT_TRUE(repo->add_role(role));
    }
    ASSERT_TRUE(repo->add_customer("acme"));
    for (int i = 0; i < 20; ++i) add("p" + std::to_string(i), "E" + std::to_string(i), {"ops"});
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  void add(const std::string& name, const std::string& emp, std::vector<std::string> roles) {
    policy::Person p;
    p.name = name;
    p.employee_id = emp;
    p.state = policy::PersonState::kActive;
    p.roles = std::move(roles);
    ASSERT_TRUE(repo->add_person(p));
  }
  std::string file(const std::string& name, const std::string& text) {
    std::string path = (dir / name).string();
    EXPECT_TRUE(write_file_atomic(path, text, 0600, true));
    return path;
  }
  int count(const std::string& action) {
    recorder::AuditFilter f;
    f.action = action;
    return static_cast<int>(audit->query(f)->size());
  }
  std::string leaver(const std::string& id, int emp, const std::string& extra = "") {
    return "{\"event_id\":\"" + id + "\",\"type\":\"leaver\",\"employee_id\":\"E" + std::to_string(emp) + "\"" + extra +
           "}\n";
  }

  std::filesystem::path dir;
  FakeClock clock{1'800'000'000LL * kMicrosPerSecond};
  Config cfg;
  std::optional<Database> db;
  std::optional<policy::SqlitePolicyRepository> repo;
  std::optional<recorder::AuditLog> audit;
  std::optional<HrService> hr;
};

TEST_F(HrServiceTest, LeaverRevokesEverythingWithOneLinkedAuditRecordEach) {
  // p1 holds a grant, a pending request and approver rights.
  policy::Target t;
  t.name = "acme-app";
  t.host = "h";
  t.customer = "acme";
  ASSERT_TRUE(repo->add_target(t));
  ASSERT_TRUE(repo->add_approver("acme", "p1"));
  policy::Elevation g;
  g.id = "REQ-1";
  g.grant_id = "GRT-1";
  g.user = "p1";
  g.target = "acme-app";
  g.login = "root";
  g.state = policy::ElevationState::kApproved;
  g.break_glass = true;
  g.starts_at = clock.now();
  g.ends_at = clock.now() + 10 * kMin;
  ASSERT_TRUE(repo->add_elevation(g));
  // ... and a WebAuthn credential that could approve step-ups.
  authn::MfaStore mfa(*db, clock);
  authn::WebauthnCredential cred;
  cred.credential_id = "p1-security-key";
  cred.cose_alg = -7;
  cred.public_key_der = "der";
  auto code1 = mfa.add_credential("p1", cred, clock.now() + 10 * kMin);
  ASSERT_TRUE(code1);
  ASSERT_TRUE(mfa.confirm_credential_with_code("p1", *code1, "test"));
  cred.credential_id = "p2-security-key";
  auto code2 = mfa.add_credential("p2", cred, clock.now() + 10 * kMin);
  ASSERT_TRUE(code2);
  ASSERT_TRUE(mfa.confirm_credential_with_code("p2", *code2, "test"));
  std::vector<std::string> ended;
  auto b = hr->open(file("f.jsonl", leaver("hr-1", 1, ",\"username\":\"p1\"")));
  ASSERT_TRUE(b) << b.error().message;
  ASSERT_TRUE(hr->apply(*b, 0, [&](const std::string& u, const std::string& m, bool left) {
    EXPECT_TRUE(left);
    ended.push_back(u + ": " + m);
  }));
  ASSERT_TRUE(hr->finish(*b));
  EXPECT_EQ(ended, std::vector<std::string>{"p1: access revoked: p1 has left (HR event hr-1)"});
  auto p1 = **repo->find_person("p1");
  EXPECT_EQ(p1.state, policy::PersonState::kLeft);
  EXPECT_TRUE((**repo->find_customer("acme")).approvers.empty());
  EXPECT_EQ((**repo->find_elevation("GRT-1")).state, policy::ElevationState::kRevoked);
  EXPECT_EQ(count("hr.leaver"), 1);
  EXPECT_EQ(count("elevation.revoke"), 1);
  EXPECT_EQ(count("customer.approver.remove"), 1);
  EXPECT_EQ(count("webauthn.revoke"), 1);
  auto creds = mfa.credentials("p1");
  ASSERT_TRUE(creds);
  ASSERT_EQ(creds->size(), 1u);
  EXPECT_EQ((*creds)[0].state, "revoked");
  EXPECT_EQ((*creds)[0].state_reason, "left (HR event hr-1)");
  EXPECT_EQ((*mfa.credentials("p2"))[0].state, "active");  // nobody else's
  recorder::AuditFilter f;
  f.text = "hr-1";
  EXPECT_GE(audit->query(f)->size(), 5u);  // hr.leaver, user.state, elevation.revoke, approver.remove, webauthn.revoke
}

TEST_F(HrServiceTest, ExactlyOnceAcrossARestartAndDuplicates) {
  cfg.leaver_floor = 10;  // not a breaker test
  std::string text;
  for (int i = 0; i < 3; ++i) text += leaver("hr-" + std::to_string(i), i);
  text += "garbage\n";
  std::string path = file("big.jsonl", text);
  auto first = hr->open(path);
  ASSERT_TRUE(first);
  ASSERT_EQ(*hr->apply(*first, 2, {}), 2u);  // "dies" after two events
  auto again = hr->open(path);               // restart: the same file again
  ASSERT_TRUE(again);
  EXPECT_EQ(again->record.id, first->record.id);
  ASSERT_TRUE(hr->apply(*again, 0, {}));
  auto report = hr->finish(*again);
  ASSERT_TRUE(report);
  EXPECT_EQ((*report)["counts"]["applied"], 3);
  EXPECT_EQ((*report)["counts"]["rejected"], 1);
  EXPECT_EQ(count("hr.leaver"), 3);  // each applied (and audited) once
  EXPECT_EQ(count("hr.reject"), 1);
  // The same event id in another file is a duplicate, not applied again.
  auto dup = hr->open(file("dup.jsonl", leaver("hr-1", 1, ",\"username\":\"p1\"")));
  ASSERT_TRUE(dup);
  ASSERT_TRUE(hr->apply(*dup, 0, {}));
  EXPECT_EQ(dup->outcomes[0].outcome, "duplicate");
  EXPECT_EQ(count("hr.leaver"), 3);
  // Under the write lock the repository refuses it too, with the code the
  // service reads when another run recorded the event in between.
  policy::HrEvent e;
  e.event_id = "hr-1";
  policy::HrPlan plan;
  plan.reason = "test";
  auto in_tx = [](const policy::HrChanges&) { return Status{}; };
  auto twice = repo->apply_hr_event(e, plan, "batch-x", clock.now(), in_tx);
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, ErrorCode::kDuplicate) << twice.error().message;
}

TEST_F(HrServiceTest, BreakerHoldsMassLeaversUntilReleased) {
  std::string text;
  for (int i = 0; i < 5; ++i) text += leaver("m-" + std::to_string(i), i);
  auto b = hr->open(file("mass.jsonl", text));
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->held);
  EXPECT_EQ(b->hold_reason, "would make 5 of 20 active people leavers (more than 10%)");
  EXPECT_FALSE(hr->apply(*b, 0, {}));
  EXPECT_EQ((**repo->find_person("p0")).state, policy::PersonState::kActive);
  EXPECT_EQ(count("hr.hold"), 1);
  ASSERT_TRUE(hr->set_held_state(b->record.id, true, "admin:root"));
  auto released = hr->open(b->path);
  ASSERT_TRUE(released);
  EXPECT_FALSE(released->held);
  ASSERT_TRUE(hr->apply(*released, 0, {}));
  EXPECT_EQ((**repo->find_person("p4")).state, policy::PersonState::kLeft);
  EXPECT_FALSE(hr->set_held_state(b->record.id, false, "admin:root"));  // no longer held
}

TEST_F(HrServiceTest, JoinerMoverScheduledAndBadRoleMapping) {
  std::string text =
      "{\"event_id\":\"j-1\",\"type\":\"joiner\",\"employee_id\":\"E200\",\"username\":\"frank\",\"department\":"
      "\"SRE\"}\n"
      "{\"event_id\":\"m-1\",\"type\":\"mover\",\"employee_id\":\"E3\",\"department\":\"Support\"}\n"
      "{\"event_id\":\"m-2\",\"type\":\"mover\",\"employee_id\":\"E4\",\"department\":\"Broken\"}\n"
      "{\"event_id\":\"l-9\",\"type\":\"leaver\",\"employee_id\":\"E5\",\"effective_at\":\"" +
      format_utc(clock.now() + 5 * kMin) + "\"}\n";
  auto b = hr->open(file("mixed.jsonl", text));
  ASSERT_TRUE(b);
  std::vector<std::string> rechecked;
  ASSERT_TRUE(hr->apply(*b, 0, [&](const std::string& u, const std::string&, bool left) {
    if (!left) rechecked.push_back(u);
  }));
  auto frank = **repo->find_person("frank");
  EXPECT_EQ(frank.state, policy::PersonState::kPending);
  EXPECT_EQ(frank.hr_roles, std::vector<std::string>{"ops"});
  // p3 was given ops by hand; HR adds support and leaves the manual role alone.
  auto p3 = **repo->find_person("p3");
  EXPECT_EQ(p3.roles, (std::vector<std::string>{"ops", "support"}));
  EXPECT_EQ(p3.hr_roles, std::vector<std::string>{"support"});
  EXPECT_EQ(b->outcomes[2].outcome, "rejected");
  EXPECT_EQ(b->outcomes[2].detail, "the department maps to role nope, which does not exist");
  EXPECT_EQ(b->outcomes[3].outcome, "scheduled");
  EXPECT_EQ((**repo->find_person("p5")).state, policy::PersonState::kActive);
  EXPECT_EQ(*hr->apply_due({}), 0u);
  clock.advance(6 * kMin);
  EXPECT_EQ(*hr->apply_due({}), 1u);
  EXPECT_EQ((**repo->find_person("p5")).state, policy::PersonState::kLeft);
  // A mover dated before that leaver does not undo it.
  auto late = hr->open(file("late.jsonl",
                            "{\"event_id\":\"m-0\",\"type\":\"mover\",\"employee_id\":\"E5\","
                            "\"department\":\"SRE\",\"effective_at\":\"" +
                                format_utc(clock.now() - 60 * kMin) + "\"}\n"));
  ASSERT_TRUE(late);
  ASSERT_TRUE(hr->apply(*late, 0, {}));
  EXPECT_EQ(late->outcomes[0].outcome, "superseded");
  EXPECT_EQ((**repo->find_person("p5")).state, policy::PersonState::kLeft);
}

TEST_F(HrServiceTest, ScheduledLeaversCountWhenTheFileArrives) {
  // 5 of 20 people made leavers a little later is still a mass revocation.
  std::string when = ",\"effective_at\":\"" + format_utc(clock.now() + 20 * kMicrosPerSecond) + "\"";
  std::string text;
  for (int i = 0; i < 5; ++i) text += leaver("f-" + std::to_string(i), i, when);
  auto b = hr->open(file("future.jsonl", text));
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_TRUE(b->held);
  EXPECT_EQ(b->leavers, 5);
  EXPECT_FALSE(hr->apply(*b, 0, {}));
  clock.advance(kMin);
  EXPECT_EQ(*hr->apply_due({}), 0u);
  EXPECT_EQ((**repo->find_person("p0")).state, policy::PersonState::kActive);
}

TEST_F(HrServiceTest, ScheduledLeaversAreCheckedAgainWhenDue) {
  cfg.breaker_window = 60 * kMin;
  // Two leavers for two hours from now: within the floor when they arrive.
  std::string when = ",\"effective_at\":\"" + format_utc(clock.now() + 120 * kMin) + "\"";
  auto later = hr->open(file("later.jsonl", leaver("s-1", 1, when) + leaver("s-2", 2, when)));
  ASSERT_TRUE(later);
  ASSERT_FALSE(later->held);
  ASSERT_TRUE(hr->apply(*later, 0, {}));
  ASSERT_TRUE(hr->finish(*later));
  // 90 minutes on (their arrival is out of the window), two more leave now.
  clock.advance(90 * kMin);
  auto now = hr->open(file("now.jsonl", leaver("n-3", 3) + leaver("n-4", 4)));
  ASSERT_TRUE(now);
  ASSERT_FALSE(now->held) << now->hold_reason;
  ASSERT_TRUE(hr->apply(*now, 0, {}));
  ASSERT_TRUE(hr->finish(*now));
  // When the first two fall due, they would make 4 of 20 leavers in an hour.
  clock.advance(31 * kMin);
  std::vector<std::string> left;
  auto on_change = [&](const std::string& u, const std::string&, bool) { left.push_back(u); };
  EXPECT_EQ(*hr->apply_due(on_change), 0u);
  EXPECT_TRUE(left.empty());
  EXPECT_EQ((**repo->find_person("p1")).state, policy::PersonState::kActive);
  EXPECT_EQ((**repo->find_hr_batch(later->record.id)).state, "held");
  EXPECT_EQ(count("hr.hold"), 1);
  EXPECT_EQ(*hr->apply_due(on_change), 0u);  // still held, not alerted again
  EXPECT_EQ(count("hr.hold"), 1);
  ASSERT_TRUE(hr->set_held_state(later->record.id, true, "admin:root"));
  EXPECT_EQ(*hr->apply_due(on_change), 2u);
  EXPECT_EQ(left, (std::vector<std::string>{"p1", "p2"}));
  EXPECT_EQ((**repo->find_person("p2")).state, policy::PersonState::kLeft);
}

TEST_F(HrServiceTest, SmallFilesWithinTheWindowAreHeldTogether) {
  cfg.breaker_window = 60 * kMin;
  auto first = hr->open(file("one.jsonl", leaver("w-0", 0) + leaver("w-1", 1)));
  ASSERT_TRUE(first);
  ASSERT_FALSE(first->held);  // 2 leavers: within the floor
  ASSERT_TRUE(hr->apply(*first, 0, {}));
  ASSERT_TRUE(hr->finish(*first));
  clock.advance(10 * kMin);
  auto second = hr->open(file("two.jsonl", leaver("w-2", 2)));
  ASSERT_TRUE(second);
  EXPECT_TRUE(second->held);
  EXPECT_EQ(second->hold_reason, "would make 3 of 20 active people leavers (more than 10%) within 1h");
  EXPECT_FALSE(hr->apply(*second, 0, {}));
  EXPECT_EQ((**repo->find_person("p2")).state, policy::PersonState::kActive);
  EXPECT_EQ(count("hr.hold"), 1);
  // A file without leavers is not held for the others'.
  auto joiner = hr->open(file("joiner.jsonl",
                              "{\"event_id\":\"w-j\",\"type\":\"joiner\",\"employee_id\":\"E90\","
                              "\"username\":\"walt\",\"department\":\"SRE\"}\n"));
  ASSERT_TRUE(joiner);
  EXPECT_FALSE(joiner->held) << joiner->hold_reason;
  // The held file is released and applied as before.
  ASSERT_TRUE(hr->set_held_state(second->record.id, true, "admin:root"));
  auto released = hr->open(second->path);
  ASSERT_TRUE(released);
  EXPECT_FALSE(released->held);
  ASSERT_TRUE(hr->apply(*released, 0, {}));
  ASSERT_TRUE(hr->finish(*released));
  EXPECT_EQ((**repo->find_person("p2")).state, policy::PersonState::kLeft);
  // Once the window has passed, a small file goes through again.
  clock.advance(61 * kMin);
  auto third = hr->open(file("three.jsonl", leaver("w-3", 3)));
  ASSERT_TRUE(third);
  EXPECT_FALSE(third->held) << third->hold_reason;
}

TEST_F(HrServiceTest, RejectionsAreAuditedOnceWhenAFileIsReadAgain) {
  // The process dies after finishing a file but before moving it out of
  // incoming/: the file is read again at start-up.
  std::string path = file("again.jsonl", leaver("a-1", 1) + "garbage\n");
  for (int round = 0; round < 2; ++round) {
    auto b = hr->open(path);
    ASSERT_TRUE(b);
    ASSERT_TRUE(hr->apply(*b, 0, {}));
    ASSERT_TRUE(hr->finish(*b));
  }
  EXPECT_EQ(count("hr.reject"), 1);
  EXPECT_EQ(count("hr.batch"), 1);
  EXPECT_EQ(count("hr.leaver"), 1);
}

// A spool entry that is not a regular file must not block the reader.
TEST_F(HrServiceTest, FifoSymlinkAndOversizedFilesAreRejectedWithoutBlocking) {
  HrSpool spool{(dir / "spool").string()};
  ASSERT_TRUE(spool.ensure());
  std::string fifo = spool.incoming() + "/feed.jsonl";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string target = file("real.jsonl", leaver("x-1", 1));
  std::string link = spool.incoming() + "/link.jsonl";
  std::filesystem::create_symlink(target, link);
  cfg.hr_max_file_size = 100;
  std::string big = file("big.jsonl", leaver("x-2", 2) + leaver("x-3", 3) + leaver("x-4", 4));
  auto waiting = spool.waiting();  // listed, so that they are rejected rather than left lying there
  EXPECT_NE(std::find(waiting.begin(), waiting.end(), fifo), waiting.end());
  EXPECT_NE(std::find(waiting.begin(), waiting.end(), link), waiting.end());
  ::alarm(10);  // SIGALRM ends (and fails) the test if open() blocks on the FIFO
  auto f = hr->open(fifo);
  auto l = hr->open(link);
  auto o = hr->open(big);
  ::alarm(0);
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message.find("not a regular file"), std::string::npos) << f.error().message;
  ASSERT_FALSE(l);
  EXPECT_NE(l.error().message.find("symbolic link"), std::string::npos) << l.error().message;
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().message.find("larger than 100 bytes"), std::string::npos) << o.error().message;
  EXPECT_EQ(count("hr.reject"), 3);
  EXPECT_EQ((**repo->find_person("p1")).state, policy::PersonState::kActive);
}

}  // namespace
}  // namespace bastion::gateway
