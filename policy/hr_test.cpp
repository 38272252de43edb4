#include <gtest/gtest.h>

#include "policy/hr.h"

namespace bastion::policy {
namespace {

constexpr Micros kT = 1'800'000'000LL * kMicrosPerSecond;

Person person(const std::string& name, const std::string& emp, PersonState st = PersonState::kActive) {
  Person p;
  p.name = name;
  p.employee_id = emp;
  p.state = st;
  return p;
}

TEST(HrParse, JsonLinesGoodAndBadLinesWithNumbers) {
  std::string text =
      "{\"event_id\":\"hr-1\",\"type\":\"leaver\",\"employee_id\":\"E100\",\"username\":\"alice\","
      "\"effective_at\":\"2026-11-22T17:00:00Z\"}\n"
      "\n"
      "not json\n"
      "{\"event_id\":\"hr-2\",\"type\":\"promoted\",\"employee_id\":\"E1\"}\n"
      "{\"event_id\":\"hr-3\",\"type\":\"joiner\",\"employee_id\":\"E200\"}\n"
      "{\"event_id\":\"hr-4\",\"type\":\"mover\",\"employee_id\":\"E201\",\"department\":\"Support\",\"x\":1}\n"
      "{\"event_id\":\"hr-4\",\"type\":\"mover\",\"employee_id\":\"E202\"}\n"
      "{\"type\":\"mover\",\"employee_id\":\"E202\"}\n"
      "{\"event_id\":\"hr-5\",\"type\":\"leaver\",\"employee_id\":\"E1\",\"effective_at\":\"tomorrow\"}\n";
  HrFile f = parse_hr_file("feed.jsonl", text);
  EXPECT_FALSE(f.snapshot);
  EXPECT_EQ(f.lines, 8);
  ASSERT_EQ(f.events.size(), 2u);
  EXPECT_EQ(f.events[0].event_id, "hr-1");
  EXPECT_EQ(f.events[1].department, "Support");  // unknown fields ("x") are ignored
  EXPECT_EQ(f.events[0].type, HrType::kLeaver);
  EXPECT_EQ(f.events[0].line, 1);
  EXPECT_EQ(format_utc(*f.events[0].effective_at), "2026-11-22T17:00:00.000000Z");
  ASSERT_EQ(f.errors.size(), 6u);
  EXPECT_EQ(f.errors[0].line, 3);
  EXPECT_EQ(f.errors[0].reason, "not valid JSON");
  EXPECT_EQ(f.errors[1].reason, "unknown type 'promoted' (joiner, mover or leaver)");
  EXPECT_EQ(f.errors[2].reason, "a joiner needs a username");
  EXPECT_EQ(f.errors[3].line, 7);
  EXPECT_EQ(f.errors[3].reason, "event_id hr-4 appears twice in this file");
  EXPECT_EQ(f.errors[4].reason, "missing event_id");
  EXPECT_EQ(f.errors[5].line, 9);
}

TEST(HrParse, CsvWithQuotesAndSnapshots) {
  std::string text =
      "event_id,type,employee_id,username,department,email\r\n"
      "hr-1,joiner,E200,frank,\"SRE, Berlin\",frank@example.com\r\n"
      "hr-2,mover,E201,,Support,\r\n"
      "hr-3,mover,E202\r\n"
      "hr-4,leaver,\"E2\"x,alice,,\r\n";
  HrFile f = parse_hr_file("feed.csv", text);
  ASSERT_EQ(f.events.size(), 2u);
  EXPECT_EQ(f.events[0].department, "SRE, Berlin");
  EXPECT_EQ(f.events[0].email, "frank@example.com");
  EXPECT_EQ(f.events[1].username, "");
  ASSERT_EQ(f.errors.size(), 2u);
  EXPECT_EQ(f.errors[0].reason, "expected 6 fields, got 3");
  EXPECT_EQ(f.errors[1].reason, "text after a quoted field");
  EXPECT_FALSE(parse_hr_file("x.csv", "type,username\nleaver,bob\n").errors.empty());  // no employee_id column

  HrFile snap = parse_hr_file("/spool/snapshot-2026-11-22.jsonl",
                              "{\"employee_id\":\"E1\",\"username\":\"a\"}\n{\"employee_id\":\"E1\"}\n");
  EXPECT_TRUE(snap.snapshot);
  EXPECT_EQ(snap.events.size(), 1u);
  EXPECT_EQ(snap.errors.size(), 1u);  // E1 twice
  auto row = parse_csv_row("a,\"b \"\"q\"\"\",,c");
  ASSERT_TRUE(row);
  EXPECT_EQ(*row, (std::vector<std::string>{"a", "b \"q\"", "", "c"}));
  EXPECT_FALSE(parse_csv_row("\"open"));
  EXPECT_FALSE(parse_hr_json(std::string(5000, ' '), false));
}

TEST(HrPlan, LeaverJoinerMoverAndOrdering) {
  DepartmentRoles depts = {{"SRE", {"ops"}}, {"Support", {"support"}}};
  HrEvent leaver{"hr-1", HrType::kLeaver, "E100", "alice", "", "", kT, 1};
  auto alice = person("alice", "E100");
  auto p = plan_hr_event(leaver, alice, alice, {}, depts, kT);
  EXPECT_EQ(p.action, HrPlan::Action::kLeave);
  EXPECT_EQ(p.person, "alice");
  // The user name must not contradict the employee id.
  HrEvent wrong = leaver;
  wrong.username = "bob";
  EXPECT_EQ(plan_hr_event(wrong, alice, std::nullopt, {}, depts, kT).reason,
            "username bob contradicts employee E100 (user alice)");
  EXPECT_EQ(plan_hr_event(leaver, std::nullopt, std::nullopt, {}, depts, kT).reason, "unknown employee E100");
  // Future-dated: scheduled.
  EXPECT_EQ(plan_hr_event(leaver, alice, alice, {}, depts, kT - 1).action, HrPlan::Action::kSchedule);
  // An older joiner after the leaver does not bring the person back.
  auto left = person("alice", "E100", PersonState::kLeft);
  HrEvent old_joiner{"hr-0", HrType::kJoiner, "E100", "alice", "", "SRE", kT - 10 * kMicrosPerSecond, 1};
  auto stale = plan_hr_event(old_joiner, left, left, {true, kT}, depts, kT + 1);
  EXPECT_EQ(stale.action, HrPlan::Action::kSupersede);
  HrEvent old_mover{"hr-00", HrType::kMover, "E100", "", "", "SRE", kT + 1, 1};
  EXPECT_EQ(plan_hr_event(old_mover, left, std::nullopt, {true, kT}, depts, kT + 2).action,
            HrPlan::Action::kSupersede);  // later, but a mover never revives a leaver
  // A joiner effective after leaving is a rehire: pending again.
  HrEvent rehire{"hr-9", HrType::kJoiner, "E100", "alice", "", "SRE", kT + 100, 1};
  EXPECT_EQ(plan_hr_event(rehire, left, left, {true, kT}, depts, kT + 200).action, HrPlan::Action::kRejoin);
  // Joiner: roles from the department; a taken user name is refused.
  HrEvent joiner{"hr-2", HrType::kJoiner, "E200", "frank", "f@x", "SRE", std::nullopt, 2};
  auto j = plan_hr_event(joiner, std::nullopt, std::nullopt, {}, depts, kT);
  EXPECT_EQ(j.action, HrPlan::Action::kCreate);
  EXPECT_EQ(*j.hr_roles, std::vector<std::string>{"ops"});
  auto taken = plan_hr_event(joiner, std::nullopt, person("frank", "E9"), {}, depts, kT);
  EXPECT_EQ(taken.reason, "user name frank already belongs to employee E9");
  // Mover: roles recomputed; unknown department means no HR roles.
  HrEvent mover{"hr-3", HrType::kMover, "E100", "", "", "Finance", std::nullopt, 3};
  auto m = plan_hr_event(mover, alice, std::nullopt, {}, depts, kT);
  EXPECT_EQ(m.action, HrPlan::Action::kUpdate);
  EXPECT_TRUE(m.hr_roles->empty());
}

TEST(HrPlan, SnapshotAndBreaker) {
  std::vector<Person> people = {person("alice", "E1"), person("bob", "E2"), person("carol", ""),
                                person("dan", "E4", PersonState::kLeft)};
  people[1].department = "SRE";
  std::vector<HrEvent> rows(2);
  rows[0].employee_id = "E2";
  rows[0].department = "Support";
  rows[1].employee_id = "E5";
  rows[1].username = "erin";
  auto evs = snapshot_events(rows, people, "B-1");
  ASSERT_EQ(evs.size(), 3u);
  EXPECT_EQ(evs[0].event_id, "B-1/leaver/E1");  // alice missing; carol has no employee id; dan already left
  EXPECT_EQ(evs[1].event_id, "B-1/mover/E2");
  EXPECT_EQ(evs[2].event_id, "B-1/joiner/E5");
  EXPECT_FALSE(check_breaker(2, 3, 0.1, 2).hold);  // at most the floor
  EXPECT_TRUE(check_breaker(3, 10, 0.1, 2).hold);
  EXPECT_FALSE(check_breaker(3, 100, 0.1, 2).hold);
  EXPECT_EQ(check_breaker(50, 100, 0.1, 2).reason, "would make 50 of 100 active people leavers (more than 10%)");
}

}  // namespace
}  // namespace bastion::policy

#include "policy/review.h"

namespace bastion::policy {
namespace {

TEST(AccessReview, UnusedStandingAccess) {
  Role ops;
  ops.name = "ops";
  ops.target_selector = "db-*";
  ops.logins = {"root", "deploy"};
  Role sup = ops;
  sup.name = "support";
  sup.elevated = true;
  Target a, b;
  a.name = "db-1";
  b.name = "db-2";
  constexpr Micros kDay = 86400 * kMicrosPerSecond;
  Micros now = 1000 * kDay;
  std::vector<LoginUse> uses = {{"db-1", "root", now - 10 * kDay, 3}, {"db-2", "root", now - 100 * kDay, 1}};
  auto unused = unused_access({ops, sup}, {a, b}, uses, now, 90 * kDay);
  ASSERT_EQ(unused.size(), 3u);
  EXPECT_EQ(unused[0].target, "db-1");
  EXPECT_EQ(unused[0].login, "deploy");
  EXPECT_EQ(unused[1].target, "db-2");
  EXPECT_EQ(unused[1].login, "root");  // used, but 100 days ago
  EXPECT_EQ(unused[2].role, "ops");
}

}  // namespace
}  // namespace bastion::policy

#include <fstream>
#include <sstream>

namespace bastion::policy {
namespace {

// Found by fuzz_hr: Latin-1 bytes in a CSV department reached the audit
// record's JSON and threw there, stopping the applier.
TEST(HrParse, LinesThatAreNotUtf8AreRefusedAndTheEventStillSerializes) {
  std::string text =
      "event_id,type,employee_id,username,department\n"
      "hr-1,joiner,E300,grace,Z\xfcrich\n"
      "hr-2,joiner,E301,heidi,Z\xc3\xbcrich\n";
  HrFile f = parse_hr_file("feed.csv", text);
  ASSERT_EQ(f.events.size(), 1u);
  EXPECT_EQ(f.events[0].username, "heidi");
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_EQ(f.errors[0].line, 2);
  EXPECT_EQ(f.errors[0].reason, "not valid UTF-8");
  EXPECT_NE(hr_event_json(f.events[0]).find("heidi"), std::string::npos);
  HrFile j = parse_hr_file("feed.jsonl",
                           "{\"event_id\":\"x\",\"type\":\"leaver\",\"employee_id\":\"E1\",\"department\":\"\xff\"}\n");
  EXPECT_TRUE(j.events.empty());
  EXPECT_EQ(j.errors.size(), 1u);
}

TEST(HrParse, ContribSamplesParseCleanly) {
  for (const char* name : {"events.jsonl", "events.csv", "snapshot-2026-11-22.csv"}) {
    std::ifstream in(std::string(BASTION_SOURCE_DIR) + "/contrib/hr/" + name);
    ASSERT_TRUE(in) << name;
    std::stringstream ss;
    ss << in.rdbuf();
    HrFile f = parse_hr_file(name, ss.str());
    EXPECT_TRUE(f.errors.empty()) << name << ": line " << f.errors[0].line << ": " << f.errors[0].reason;
    EXPECT_EQ(f.events.size(), 3u) << name;
    EXPECT_EQ(f.snapshot, std::string(name).rfind("snapshot", 0) == 0);
  }
}

}  // namespace
}  // namespace bastion::policy
