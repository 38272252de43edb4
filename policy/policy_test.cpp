#include <gtest/gtest.h>

#include "common/database.h"
#include "policy/decision.h"
#include "policy/ingress_name.h"
#include "policy/selector.h"
#include "policy/sqlite_repository.h"
#include "tests/support/test_database.h"

namespace bastion::policy {
namespace {

Target target(const std::string& name, std::map<std::string, std::string> labels = {}) {
  Target t;
  t.name = name;
  t.host = "127.0.0.1";
  t.labels = std::move(labels);
  return t;
}

Role role(const std::string& name, const std::string& sel, std::vector<std::string> logins) {
  Role r;
  r.name = name;
  r.target_selector = sel;
  r.logins = std::move(logins);
  return r;
}

Person active(const std::string& name) {
  Person p;
  p.name = name;
  p.state = PersonState::kActive;
  return p;
}

Decision check(const Person* p, const std::vector<Role>& roles, const Target* t, const std::string& login) {
  AccessRequest r;
  r.person = p;
  r.roles = &roles;
  r.target = t;
  r.target_name = t ? t->name : "nowhere";
  r.login = login;
  return decide(r);
}

TEST(Decide, AllowsWhenRoleSelectsTargetAndLogin) {
  Person alice = active("alice");
  Target db = target("prod-db-1", {{"env", "prod"}});
  std::vector<Role> roles = {role("ops", "prod*", {"root", "deploy"})};
  Decision d = check(&alice, roles, &db, "root");
  EXPECT_TRUE(d.allow);
  EXPECT_EQ(d.role, "ops");
  EXPECT_EQ(d.reason, "role ops allows root on prod-db-1");
}

TEST(Decide, DeniesEveryMissingPiece) {
  Person alice = active("alice");
  Target db = target("prod-db-1", {{"env", "prod"}});
  std::vector<Role> roles = {role("ops", "env=prod", {"deploy"})};
  EXPECT_EQ(check(&alice, roles, &db, "root").reason, "no role allows login root on prod-db-1");
  EXPECT_FALSE(check(&alice, roles, &db, "root").allow);
  EXPECT_EQ(check(&alice, {}, &db, "deploy").reason, "no role grants alice access to prod-db-1");
  EXPECT_EQ(check(&alice, roles, nullptr, "deploy").reason, "unknown target nowhere");
  EXPECT_EQ(check(nullptr, roles, &db, "deploy").reason, "key is not enrolled");
  std::vector<Role> other = {role("web", "web-*", {"deploy"})};
  EXPECT_FALSE(check(&alice, other, &db, "deploy").allow);
  for (auto state : {PersonState::kDisabled, PersonState::kLeft, PersonState::kPending}) {
    Person p = alice;
    p.state = state;
    Decision d = check(&p, roles, &db, "deploy");
    EXPECT_FALSE(d.allow);
    EXPECT_EQ(d.reason, "account alice is " + to_string(state));
  }
}

TEST(StepUp, RulesParseCompareAndDecideFreshness) {
  EXPECT_EQ(parse_step_up("none")->kind, StepUpRule::Kind::kNone);
  EXPECT_EQ(parse_step_up("per-session")->kind, StepUpRule::Kind::kPerSession);
  ASSERT_TRUE(parse_step_up("30m"));
  EXPECT_EQ(parse_step_up("30m")->max_age, 1800 * kMicrosPerSecond);
  for (auto bad : {"", "0s", "sometimes", "-5m"}) EXPECT_FALSE(parse_step_up(bad)) << bad;
  EXPECT_EQ(to_string(*parse_step_up("12h")), "12h");
  StepUpRule none = *parse_step_up("none"), each = *parse_step_up("per-session");
  StepUpRule hour = *parse_step_up("1h"), day = *parse_step_up("24h");
  EXPECT_EQ(stricter(none, hour), hour);
  EXPECT_EQ(stricter(day, hour), hour);
  EXPECT_EQ(stricter(hour, each), each);
  Micros now = 1'000'000 * kMicrosPerSecond;
  EXPECT_TRUE(step_up_satisfied(none, std::nullopt, false, now));
  EXPECT_FALSE(step_up_satisfied(hour, std::nullopt, false, now));
  EXPECT_TRUE(step_up_satisfied(hour, now - 3599 * kMicrosPerSecond, false, now));
  EXPECT_FALSE(step_up_satisfied(hour, now - 3601 * kMicrosPerSecond, false, now));
  EXPECT_FALSE(
      step_up_satisfied(hour, now + 60 * kMicrosPerSecond, false, now));  // a clock in the future does not count
  EXPECT_FALSE(step_up_satisfied(each, now, false, now));  // an earlier session's step-up is not this one's
  EXPECT_TRUE(step_up_satisfied(each, std::nullopt, true, now));
}

TEST(StepUp, DecisionCarriesTheRoleRuleAndGrantsNeedOnePerSession) {
  Person alice = active("alice");
  Target db = target("prod-db-1", {{"env", "prod"}});
  Role ops = role("ops", "env=prod", {"root"});
  ops.step_up = *parse_step_up("2h");
  auto d = check(&alice, {ops}, &db, "root");
  ASSERT_TRUE(d.allow);
  EXPECT_EQ(d.step_up, ops.step_up);
  Role open = role("open", "env=prod", {"root"});
  open.step_up = *parse_step_up("none");
  EXPECT_EQ(check(&alice, {open}, &db, "root").step_up.kind, StepUpRule::Kind::kNone);
}

TEST(Decide, BrokenSelectorSelectsNothing) {
  Person alice = active("alice");
  Target db = target("prod-db-1");
  std::vector<Role> roles = {role("bad", "", {"root"})};
  EXPECT_FALSE(check(&alice, roles, &db, "root").allow);
}

TEST(Selector, GlobAndLabel) {
  auto glob = TargetSelector::parse("prod*");
  ASSERT_TRUE(glob);
  EXPECT_TRUE(glob->matches(target("prod-db-1")));
  EXPECT_FALSE(glob->matches(target("staging-db")));
  auto label = TargetSelector::parse("env=prod");
  ASSERT_TRUE(label);
  EXPECT_TRUE(label->matches(target("x", {{"env", "prod"}})));
  EXPECT_FALSE(label->matches(target("x", {{"env", "staging"}})));
  EXPECT_FALSE(label->matches(target("prod")));
  EXPECT_FALSE(TargetSelector::parse("=prod"));
  EXPECT_FALSE(TargetSelector::parse("a b"));
  EXPECT_FALSE(TargetSelector::parse(""));
}

TEST(IngressName, ProxyAndCommandMode) {
  auto p = parse_ingress_name("root@prod-db-1");
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->command_mode);
  EXPECT_EQ(p->login, "root");
  EXPECT_EQ(p->target, "prod-db-1");
  auto c = parse_ingress_name("alice");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->command_mode);
  EXPECT_EQ(c->person, "alice");
}

TEST(IngressName, RejectsMalformed) {
  for (const std::string& bad :
       std::vector<std::string>{"", "@", "a@@b", "@b", "a@", "a@b@c", "ro ot@x", "root@-x", "a\x01@b", "root@x\n",
                                std::string(257, 'a'), std::string("a\0b", 3)}) {
    EXPECT_FALSE(parse_ingress_name(bad)) << "accepted: " << bad;
  }
  EXPECT_EQ(parse_ingress_name(std::string(300, 'a')).error().message, "user name longer than 256 bytes");
  EXPECT_EQ(parse_ingress_name("a@@b").error().message, "invalid user name 'a@@b': expected LOGIN@TARGET");
}

class RepoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = Database::open(bastion::test_support::test_database(":memory:"), Database::Mode::kCreate);
    ASSERT_TRUE(d) << d.error().message;
    db = std::make_unique<Database>(std::move(*d));
    repo = std::make_unique<SqlitePolicyRepository>(*db, clock);
  }
  FakeClock clock{1'700'000'000'000'000};
  std::unique_ptr<Database> db;
  std::unique_ptr<SqlitePolicyRepository> repo;
};

TEST_F(RepoTest, AdministratorRoleAndDetailChanges) {
  ASSERT_TRUE(repo->add_role(role("ops", "env=prod", {"root"})));
  Person a;
  a.name = "alice";
  a.employee_id = "E1";
  ASSERT_TRUE(repo->add_person(a));
  Person b;
  b.name = "bob";
  ASSERT_TRUE(repo->add_person(b));
  ASSERT_TRUE(repo->assign_role("bob", "ops"));
  EXPECT_EQ(repo->assign_role("bob", "ops").message(), "bob already has role ops");
  EXPECT_EQ(repo->assign_role("bob", "nope").message(), "no such role: nope (add it with `role add`)");
  EXPECT_EQ(repo->assign_role("carol", "ops").message(), "no such user: carol");
  EXPECT_EQ((*repo->find_person("bob"))->roles, std::vector<std::string>{"ops"});
  EXPECT_TRUE((*repo->find_person("bob"))->hr_roles.empty());
  ASSERT_TRUE(repo->remove_role("bob", "ops"));
  EXPECT_TRUE((*repo->find_person("bob"))->roles.empty());
  EXPECT_EQ(repo->remove_role("bob", "ops").message(), "bob does not have role ops");

  ASSERT_TRUE(repo->set_person_details("bob", std::string("bob@example.com"), std::string("E2")));
  auto got = *repo->find_person("bob");
  EXPECT_EQ(got->email, "bob@example.com");
  EXPECT_EQ(got->employee_id, "E2");
  EXPECT_EQ(repo->set_person_details("bob", std::nullopt, std::string("E1")).message(),
            "employee id E1 already belongs to alice");
  EXPECT_EQ((*repo->find_person("bob"))->employee_id, "E2") << "a refused change changes nothing";
  ASSERT_TRUE(repo->set_person_details("bob", std::string(""), std::nullopt));
  got = *repo->find_person("bob");
  EXPECT_EQ(got->email, "");
  EXPECT_EQ(got->employee_id, "E2");
  EXPECT_EQ(repo->set_person_details("carol", std::nullopt, std::nullopt).message(), "no such user: carol");
}

TEST_F(RepoTest, RoundTripsPeopleRolesTargets) {
  ASSERT_TRUE(repo->add_role(role("ops", "env=prod", {"root", "deploy"})));
  Person p;
  p.name = "alice";
  p.roles = {"ops"};
  p.employee_id = "E100";
  ASSERT_TRUE(repo->add_person(p));
  Target t = target("prod-db-1", {{"env", "prod"}});
  t.host_key = "ssh-ed25519 AAAA";
  ASSERT_TRUE(repo->add_target(t));

  auto got = repo->find_person("alice");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->state, PersonState::kPending);
  EXPECT_EQ((*got)->roles, std::vector<std::string>{"ops"});
  auto roles = repo->roles_of(**got);
  ASSERT_TRUE(roles);
  ASSERT_EQ(roles->size(), 1u);
  EXPECT_EQ((*roles)[0].logins, (std::vector<std::string>{"root", "deploy"}));
  auto tt = repo->find_target("prod-db-1");
  ASSERT_TRUE(tt && *tt);
  EXPECT_EQ((*tt)->labels.at("env"), "prod");
  EXPECT_TRUE((*tt)->created_at == clock.now());
  EXPECT_EQ((*tt)->principals, "login");
  EXPECT_EQ(certificate_principal(**tt, "root"), "root");
  Target own = target("prod-db-2", {});
  own.principals = "login@target";
  ASSERT_TRUE(repo->add_target(own));
  auto back = repo->find_target("prod-db-2");
  ASSERT_TRUE(back && *back);
  EXPECT_EQ(certificate_principal(**back, "root"), "root@prod-db-2");
  Target odd = target("prod-db-3", {});
  odd.principals = "target";
  EXPECT_EQ(repo->add_target(odd).message(), "principals must be login or login@target, not 'target'");
  EXPECT_FALSE(*repo->find_target("prod-db-3"));
}

TEST_F(RepoTest, BadInputChangesNothing) {
  Person p;
  p.name = "bob";
  p.roles = {"missing"};
  EXPECT_EQ(repo->add_person(p).message(), "no such role: missing (add it with `role add`)");
  EXPECT_FALSE(*repo->find_person("bob"));
  Person bad;
  bad.name = "bad name";
  EXPECT_FALSE(repo->add_person(bad));
  ASSERT_TRUE(repo->add_role(role("ops", "*", {"root"})));
  EXPECT_EQ(repo->add_role(role("ops", "*", {"root"})).message(), "role ops already exists");
  EXPECT_FALSE(repo->add_role(role("x", "*", {})));
  EXPECT_FALSE(repo->add_role(role("y", "*", {"bad login"})));
  EXPECT_FALSE(repo->add_role(role("z", "", {})));  // neither SSH access nor a console role
  Role odd = role("odd", "", {});
  odd.console = "root";
  EXPECT_EQ(repo->add_role(odd).message(), "--console must be auditor or admin, not 'root'");
  Role fwd = role("fwd", "", {});
  fwd.console = "auditor";
  fwd.allow_port_forwarding = true;
  EXPECT_FALSE(repo->add_role(fwd));
  EXPECT_EQ(repo->list_roles()->size(), 1u);
  Role auditors = role("auditors", "", {});
  auditors.console = "auditor";
  ASSERT_TRUE(repo->add_role(auditors));
  Role admins = role("admins", "prod*", {"root"});  // SSH access and the console's admin
  admins.console = "admin";
  ASSERT_TRUE(repo->add_role(admins));
  EXPECT_EQ((*repo->find_role("auditors"))->console, "auditor");
  EXPECT_TRUE((*repo->find_role("auditors"))->logins.empty());
  EXPECT_EQ((*repo->find_role("admins"))->console, "admin");
  EXPECT_EQ((*repo->find_role("ops"))->console, "");
  EXPECT_EQ(repo->set_person_state("nobody", PersonState::kActive).message(), "no such user: nobody");
}

}  // namespace
}  // namespace bastion::policy

namespace bastion::policy {
namespace {

TEST_F(RepoTest, RecentElevationsArePerRequesterOrPerCustomerAndRoleNewestFirstAndCapped) {
  for (const char* name : {"bob", "eve"}) {
    Person p;
    p.name = name;
    ASSERT_TRUE(repo->add_person(p));
  }
  int n = 0;
  auto add = [&](const std::string& user, const std::string& customer, const std::string& role) {
    Elevation e;
    e.id = "REQ-" + std::to_string(100 + n);
    e.user = user;
    e.target = customer.empty() ? "internal-app" : customer + "-app";
    e.login = "root";
    e.role = role;
    e.customer = customer;
    e.reason = "t";
    e.duration = 60;
    e.created_at = 1000 + n++;
    e.expires_at = e.created_at + 100;
    ASSERT_TRUE(repo->add_elevation(e));
  };
  add("bob", "acme", "support");    // REQ-100
  add("eve", "globex", "support");  // REQ-101
  add("bob", "globex", "support");  // REQ-102
  add("eve", "", "four-eyes");      // REQ-103
  add("eve", "acme", "support");    // REQ-104
  auto ids = [](const Result<std::vector<Elevation>>& r) {
    std::vector<std::string> out;
    if (r) {
      for (const auto& e : *r) out.push_back(e.id);
    }
    return out;
  };
  EXPECT_EQ(ids(repo->recent_elevations("bob", {}, {}, 10)), (std::vector<std::string>{"REQ-102", "REQ-100"}));
  EXPECT_EQ(ids(repo->recent_elevations("", {"acme"}, {}, 10)), (std::vector<std::string>{"REQ-104", "REQ-100"}));
  EXPECT_EQ(ids(repo->recent_elevations("", {"acme"}, {"four-eyes"}, 10)),
            (std::vector<std::string>{"REQ-104", "REQ-103", "REQ-100"}));
  // A request matched twice (its customer and its role) is listed once; the cap keeps the newest.
  EXPECT_EQ(ids(repo->recent_elevations("", {"acme", "globex"}, {"support"}, 3)),
            (std::vector<std::string>{"REQ-104", "REQ-102", "REQ-101"}));
  EXPECT_TRUE(ids(repo->recent_elevations("", {}, {}, 10)).empty());
}

}  // namespace
}  // namespace bastion::policy
