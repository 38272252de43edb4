// HrIntake without a daemon or a socket: a spool in a temporary folder, a
// database, a fake clock, and the loop driven by hand.
#include "gateway/app/hr_intake.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "common/database.h"
#include "common/database_sql.h"
#include "common/files.h"
#include "policy/sqlite_repository.h"
#include "recorder/node_registry.h"
#include "tests/support/test_database.h"

namespace bastion::gateway {
namespace {

class HrIntakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() / ("hr-intake-" + std::to_string(getpid()) + "-" +
                                                    ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    cfg.database = bastion::test_support::test_database((dir / "bastion.db").string());
    cfg.hr_spool = (dir / "hr").string();
    cfg.max_leaver_share = 1.0;
    auto db = Database::open(cfg.database, Database::Mode::kCreate);
    ASSERT_TRUE(db) << db.error().message;
    add_people(*db, 0, 3);
  }
  // Active people pFIRST..pLAST-1 with employee ids EFIRST...
  void add_people(Database& db, int first, int last) {
    policy::SqlitePolicyRepository repo(db, clock);
    for (int i = first; i < last; ++i) {
      policy::Person p;
      p.name = "p" + std::to_string(i);
      p.employee_id = "E" + std::to_string(i);
      p.state = policy::PersonState::kActive;
      ASSERT_TRUE(repo.add_person(p));
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  std::unique_ptr<HrIntake> intake() {
    return std::make_unique<HrIntake>(
        cfg, clock, [this](const std::string& user, const std::string&, bool left) { changes[user] = left; });
  }
  void drop(const std::string& name, const std::string& employee) {
    std::string text =
        "{\"event_id\":\"ev-" + employee + "\",\"type\":\"leaver\",\"employee_id\":\"" + employee + "\"}\n";
    ASSERT_TRUE(write_file_atomic(cfg.hr_spool + "/incoming/" + name, text, 0600, true));
  }
  // Runs the loop as the supervisor does, until `done` or `rounds` rounds (10 ms each when idle).
  template <typename Done>
  bool run(HrIntake& in, Done done, int rounds = 1000) {
    for (int i = 0; i < rounds && !done(); ++i) {
      pollfd fds[2] = {{in.notify_fd(), POLLIN, 0}, {in.worker_fd(), POLLIN, 0}};
      ::poll(fds, 2, in.busy() ? 0 : 10);
      if (fds[0].revents & POLLIN) in.on_notify();
      if (fds[1].revents & POLLIN) in.on_worker();
      in.step();
    }
    return done();
  }
  bool processed(const std::string& name) { return std::filesystem::exists(cfg.hr_spool + "/processed/" + name); }

  std::filesystem::path dir;
  FakeClock clock{1'800'000'000LL * kMicrosPerSecond};
  Config cfg;
  std::map<std::string, bool> changes;
};

TEST_F(HrIntakeTest, AFileDroppedIntoIncomingIsAppliedAndFiledAway) {
  auto in = intake();
  ASSERT_TRUE(in->start());
  drop("feed-1.jsonl", "E1");
  ASSERT_TRUE(run(*in, [&] { return processed("feed-1.jsonl") && in->pending() == 0; }));
  EXPECT_EQ(changes, (std::map<std::string, bool>{{"p1", true}}));
  EXPECT_TRUE(std::filesystem::exists(cfg.hr_spool + "/processed/feed-1.jsonl.report.json"));
  EXPECT_FALSE(std::filesystem::exists(cfg.hr_spool + "/incoming/feed-1.jsonl"));
}

TEST_F(HrIntakeTest, FilesThatArrivedWhileDownAreQueuedAtStart) {
  {
    auto first = intake();
    ASSERT_TRUE(first->start());  // creates the folders
  }
  drop("a.jsonl", "E0");
  drop("b.jsonl", "E2");
  auto in = intake();
  ASSERT_TRUE(in->start());
  EXPECT_EQ(in->pending(), 2u);
  ASSERT_TRUE(run(*in, [&] { return processed("a.jsonl") && processed("b.jsonl"); }));
  EXPECT_EQ(changes, (std::map<std::string, bool>{{"p0", true}, {"p2", true}}));
}

TEST_F(HrIntakeTest, AnUnavailableDatabaseLeavesTheFileAndRetriesLater) {
  if (bastion::test_support::under_postgres()) GTEST_SKIP() << "takes the SQLite file away";
  auto in = intake();
  ASSERT_TRUE(in->start());
  std::filesystem::rename(cfg.database, cfg.database + ".away");
  drop("feed.jsonl", "E1");
  // Read by the worker, then the database cannot be opened: back in the queue.
  ASSERT_TRUE(run(*in, [&] { return !in->busy() && in->pending() == 1; }));
  EXPECT_TRUE(std::filesystem::exists(cfg.hr_spool + "/incoming/feed.jsonl"));
  EXPECT_TRUE(changes.empty());
  std::filesystem::rename(cfg.database + ".away", cfg.database);
  // Nothing happens before the retry time, however long the loop runs.
  EXPECT_FALSE(run(
      *in, [&] { return processed("feed.jsonl"); }, 50));
  clock.advance(6 * kMicrosPerSecond);
  ASSERT_TRUE(run(*in, [&] { return processed("feed.jsonl"); }));
  EXPECT_EQ(changes, (std::map<std::string, bool>{{"p1", true}}));
}

// Two gateway nodes sharing one spool folder (and one database): both see
// every file; each file is claimed, so it is applied and filed away once.
TEST_F(HrIntakeTest, TwoNodesSharingASpoolApplyEachFileOnce) {
  cfg.node_name = "a";
  Config other = cfg;
  other.node_name = "b";
  {
    auto db = Database::open(cfg.database, Database::Mode::kOpenExisting);
    ASSERT_TRUE(db);
    recorder::NodeRegistry nodes(*db, clock);
    ASSERT_TRUE(nodes.start("a", "127.0.0.1:1", "restarted"));
    ASSERT_TRUE(nodes.start("b", "127.0.0.1:2", "restarted"));
    add_people(*db, 3, 12);
  }
  auto a = intake();
  auto b = std::make_unique<HrIntake>(
      other, clock, [this](const std::string& user, const std::string&, bool left) { changes[user] = left; });
  ASSERT_TRUE(a->start());
  ASSERT_TRUE(b->start());
  for (int i = 0; i < 12; ++i) drop("feed-" + std::to_string(i) + ".jsonl", "E" + std::to_string(i));
  auto db = Database::open(cfg.database, Database::Mode::kOpenExisting);
  ASSERT_TRUE(db);
  auto count = [&](const std::string& sql) {
    auto n = guarded([&]() -> Result<int64_t> { return query_int64(*db, sql); });
    return n ? *n : -1;
  };
  // Done: every file filed away, and its claim released (after the filing).
  auto all_done = [&] {
    for (int i = 0; i < 12; ++i) {
      if (!processed("feed-" + std::to_string(i) + ".jsonl")) return false;
    }
    return a->pending() == 0 && b->pending() == 0 && count("SELECT COUNT(*) FROM claims") == 0;
  };
  // Both loops in turn, as two processes would run them.
  for (int round = 0; round < 2000 && !all_done(); ++round) {
    for (HrIntake* in : {a.get(), b.get()}) {
      pollfd fds[2] = {{in->notify_fd(), POLLIN, 0}, {in->worker_fd(), POLLIN, 0}};
      ::poll(fds, 2, 1);
      if (fds[0].revents & POLLIN) in->on_notify();
      if (fds[1].revents & POLLIN) in->on_worker();
      in->step();
    }
  }
  ASSERT_TRUE(all_done());
  EXPECT_EQ(count("SELECT COUNT(*) FROM hr_batches"), 12);
  size_t reports = 0;
  for (const auto& e : std::filesystem::directory_iterator(cfg.hr_spool + "/processed")) {
    reports += e.path().string().ends_with(".report.json");
  }
  EXPECT_EQ(reports, 12u);  // filed away once each (a second filing would rename: feed-1.1.jsonl...)
  EXPECT_EQ(changes.size(), 12u);
}

TEST_F(HrIntakeTest, ASpoolThatCannotBeCreatedIsAnError) {
  ASSERT_TRUE(write_file_atomic((dir / "file").string(), "x", 0600, true));
  cfg.hr_spool = (dir / "file" / "hr").string();
  auto in = intake();
  auto st = in->start();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.message().rfind("spool: ", 0), 0u) << st.message();
}

}  // namespace
}  // namespace bastion::gateway
