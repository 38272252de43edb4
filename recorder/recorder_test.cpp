#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "recorder/audit_log.h"
#include "recorder/session_log.h"
#include "tests/support/test_database.h"

namespace bastion::recorder {
namespace {

class RecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() / ("rec-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    auto d = Database::open(bastion::test_support::test_database((dir / "t.db").string()), Database::Mode::kCreate);
    ASSERT_TRUE(d) << d.error().message;
    db = std::make_unique<Database>(std::move(*d));
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::filesystem::path dir;
  FakeClock clock{1'800'000'000'000'000};
  std::unique_ptr<Database> db;
};

TEST_F(RecorderTest, AppendsAndFilters) {
  AuditLog log(*db, clock);
  AuditEvent a{"alice", "auth", Outcome::kAllow, "", "prod-db-1", "root", "1.2.3.4:5", "s-1", {{"k", 1}}};
  AuditEvent b{"bob", "access", Outcome::kDeny, "no role", "prod-db-2", "root", "", "s-2", {}};
  ASSERT_TRUE(log.append(a));
  clock.advance(kMicrosPerSecond);
  ASSERT_TRUE(log.append(b));
  auto all = log.query({});
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].seq + 1, (*all)[1].seq);
  EXPECT_EQ((*all)[0].event.details["k"], 1);
  AuditFilter f;
  f.actor = "bob";
  auto bobs = log.query(f);
  ASSERT_EQ(bobs->size(), 1u);
  EXPECT_EQ((*bobs)[0].event.reason, "no role");
  EXPECT_EQ((*bobs)[0].event.outcome, Outcome::kDeny);
  AuditFilter since;
  since.since = clock.now();
  EXPECT_EQ(log.query(since)->size(), 1u);
}

TEST_F(RecorderTest, ConcurrentProcessesNeverLoseRecords) {
  std::string path = (dir / "t.db").string();
  constexpr int kProcs = 4, kEach = 50;
  for (int i = 0; i < kProcs; ++i) {
    if (fork() == 0) {
      auto d = Database::open(bastion::test_support::test_database(path), Database::Mode::kOpenExisting);
      if (!d) _exit(2);
      AuditLog log(*d, SystemClock::instance());
      for (int j = 0; j < kEach; ++j) {
        if (!log.append({"p" + std::to_string(i), "test", Outcome::kInfo, "", "", "", "", "", {}})) _exit(3);
      }
      _exit(0);
    }
  }
  for (int i = 0; i < kProcs; ++i) {
    int status = 0;
    wait(&status);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  AuditLog log(*db, clock);
  AuditFilter f;
  f.limit = 10000;
  EXPECT_EQ(log.query(f)->size(), static_cast<size_t>(kProcs * kEach));
}

TEST_F(RecorderTest, SessionLifecycleAndOrphans) {
  SessionLog s(*db, clock);
  ASSERT_TRUE(s.start({"s-1", "alice", "prod", "root", "1.2.3.4:1", 42, 0, {}, 0, 0, {}, "", "", "gw1"}));
  ASSERT_TRUE(s.start({"s-2", "bob", "prod", "root", "1.2.3.4:2", 43, 0, {}, 0, 0, {}, "", "", "gw1"}));
  // The same pid on another gateway node is another process.
  ASSERT_TRUE(s.start({"s-3", "carol", "prod", "root", "1.2.3.4:3", 43, 0, {}, 0, 0, {}, "", "", "gw2"}));
  EXPECT_EQ(s.list(true)->size(), 3u);
  ASSERT_TRUE(s.end("s-1", 10, 20, 0, "client disconnected"));
  ASSERT_TRUE(s.end("s-1", 99, 99, 1, "second end is ignored"));
  auto one = s.find("s-1");
  ASSERT_TRUE(one && *one);
  EXPECT_EQ((*one)->bytes_out, 20);
  EXPECT_EQ((*one)->end_reason, "client disconnected");
  auto orphans = s.end_orphans("gw1", 43, "crashed");
  ASSERT_TRUE(orphans);
  EXPECT_EQ(*orphans, std::vector<std::string>{"s-2"});
  auto live = s.list(true);
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0].id, "s-3");
  EXPECT_EQ((*live)[0].node, "gw2");
}

// Each person's last session start, for more people than one statement
// takes at a time (select_in slices the list): nobody is lost at a slice's edge.
TEST_F(RecorderTest, LastStartedIsEachPersonsNewestSessionAcrossSlices) {
  SessionLog s(*db, clock);
  std::vector<std::string> people;
  for (int i = 0; i < 450; ++i) people.push_back("p" + std::to_string(i));
  for (int i = 0; i < 450; i += 3) {
    for (int n = 0; n < 2; ++n) {
      clock.advance(1000);
      const std::string id = "s-" + std::to_string(i) + "-" + std::to_string(n);
      ASSERT_TRUE(s.start({id, people[i], "prod", "root", "1.2.3.4:1", 42, 0, {}, 0, 0, {}, "", "", "gw1"}));
    }
  }
  auto last = s.last_started(people);
  ASSERT_TRUE(last) << last.error().message;
  EXPECT_EQ(last->size(), 150u);
  EXPECT_EQ(last->at("p0"), 1'800'000'000'000'000 + 2000);
  EXPECT_EQ(last->at("p447"), 1'800'000'000'000'000 + 300'000);
  EXPECT_FALSE(last->contains("p1"));
  EXPECT_TRUE(s.last_started({})->empty());
}

}  // namespace
}  // namespace bastion::recorder
