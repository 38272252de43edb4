#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "common/database_sql.h"
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

TEST_F(RecorderTest, TextSearchFindsTheTextInReasonsAndDetailsInAnyCaseLiterallyNewestFirst) {
  AuditLog log(*db, clock);
  auto add = [&](const std::string& reason, nlohmann::json details) {
    AuditEvent e{"alice", "access", Outcome::kDeny, reason, "prod", "root", "", "", std::move(details)};
    auto seq = log.append(e);
    EXPECT_TRUE(seq);
    return seq ? *seq : 0;
  };
  int64_t ticket = add("ticket INC-4711 approved", {});
  int64_t detail = add("", {{"command", "rm -rf /var/lib/Postgres"}});
  int64_t percent = add("disk 50% full", {});
  int64_t quoted = add("said \"no\" twice", {});
  int64_t other = add("nothing here", {{"x", "y_z"}});
  int64_t newer = add("INC-4711 again", {});
  auto seqs = [&](const std::string& text, bool newest_first = false, int limit = 100) {
    AuditFilter f;
    f.text = text;
    f.newest_first = newest_first;
    f.limit = limit;
    auto r = log.query(f);
    EXPECT_TRUE(r) << r.error().message;
    std::vector<int64_t> out;
    if (r) {
      for (const auto& rec : *r) out.push_back(rec.seq);
    }
    return out;
  };
  using V = std::vector<int64_t>;
  EXPECT_EQ(seqs("inc-4711"), (V{ticket, newer}));
  EXPECT_EQ(seqs("INC-4711", true), (V{newer, ticket}));
  EXPECT_EQ(seqs("INC-4711", true, 1), (V{newer}));
  EXPECT_EQ(seqs("postgres"), (V{detail}));
  // LIKE's wildcards and FTS5's quotes are text like any other.
  EXPECT_EQ(seqs("50%"), (V{percent}));
  EXPECT_EQ(seqs("0%"), (V{percent}));
  EXPECT_EQ(seqs("y_z"), (V{other}));
  EXPECT_EQ(seqs("_"), (V{other}));
  EXPECT_EQ(seqs("\"no\""), (V{quoted}));
  EXPECT_EQ(seqs("no\" t"), (V{quoted}));
  EXPECT_TRUE(seqs("INC-4712").empty());
  // Every trigram of the text, but not the text: the index finds it, the
  // check refuses it.
  int64_t scattered = add("xabcx cabx bcax", {});
  EXPECT_TRUE(seqs("abcab").empty());
  EXPECT_EQ(seqs("cabx"), (V{scattered}));
  // Shorter than a trigram: found record by record.
  EXPECT_EQ(seqs("rF"), (V{detail}));
  // With the other filters.
  AuditFilter f;
  f.text = "INC-4711";
  f.since = clock.now() + 1;
  EXPECT_TRUE(log.query(f)->empty());

  // Records cut from the front (retention) leave the index.
  {
    Statement cut(*db, "DELETE FROM audit_log WHERE seq <= ?");
    cut.bind(1, ticket);
    cut.run();
  }
  EXPECT_EQ(seqs("INC-4711"), (V{newer}));
  add("INC-4711 once more", {});
  EXPECT_EQ(seqs("INC-4711").size(), 2u);
  if (!db->postgres()) {
    // FTS5's own check of the index against the log's rows.
    Statement check(*db, "INSERT INTO audit_text(audit_text, rank) VALUES ('integrity-check', 1)");
    EXPECT_NO_THROW(check.run());
  }
}

// A text in most records, with a filter that refuses almost all of them: the
// search gives up walking the text's index and reads what the filter selects.
TEST_F(RecorderTest, ACommonTextWithARareFilterFindsTheFewRecordsBeyondTheIndexWalk) {
  AuditLog log(*db, clock);
  int64_t rare = 0;
  ASSERT_TRUE(with_transaction(*db, [&]() -> Status {
    auto first = log.append({"alice", "grant.revoke", Outcome::kInfo, "common words", "prod", "root", "", "", {}});
    if (!first) return first.error();
    rare = *first;
    for (int i = 0; i < 20050; ++i) {
      auto r = log.append(
          {"bob", "access", Outcome::kAllow, "common words " + std::to_string(i), "prod", "root", "", "", {}});
      if (!r) return r.error();
    }
    return {};
  }));
  for (bool newest_first : {true, false}) {
    AuditFilter f;
    f.text = "COMMON";
    f.action = "grant.revoke";
    f.limit = 200;
    f.newest_first = newest_first;
    auto found = log.query(f);
    ASSERT_TRUE(found) << found.error().message;
    ASSERT_EQ(found->size(), 1u);
    EXPECT_EQ((*found)[0].seq, rare);
    f.action = "access";
    f.actor = "bob";
    EXPECT_EQ(log.query(f)->size(), 200u);
  }
}

// Schema 13 added the text index: records written before it are found too.
TEST_F(RecorderTest, TheTextIndexCoversTheRecordsWrittenBeforeIt) {
  std::string path = bastion::test_support::test_database((dir / "v12.db").string());
  {
    auto old = Database::open(path, Database::Mode::kCreate);
    ASSERT_TRUE(old) << old.error().message;
    ASSERT_EQ(Database::latest_schema_version(), 16);
    auto exec = [&](const std::string& sql) {
      Statement q(*old, sql);
      q.run();
    };
    if (!old->postgres()) {
      for (const char* trigger :
           {"recording_commands_text_insert", "recording_commands_text_delete", "recording_commands_text_update"}) {
        exec(std::string("DROP TRIGGER ") + trigger);
      }
      exec("DROP TABLE recording_commands_text");
    }
    exec("DROP TABLE notify_marks");
    exec("DROP TABLE notifications");
    exec("DROP TABLE scim_group_members");
    exec("DROP TABLE scim_groups");
    exec("DROP TABLE scim_users");
    exec("DROP TABLE scim_clients");
    exec("DROP TABLE recording_commands");
    if (old->postgres()) {
      exec("DROP INDEX audit_log_reason_text");
      exec("DROP INDEX audit_log_details_text");
      exec("UPDATE bastion_schema SET version = 12");
    } else {
      for (const char* trigger : {"audit_text_insert", "audit_text_delete", "audit_text_update"}) {
        exec(std::string("DROP TRIGGER ") + trigger);
      }
      exec("DROP TABLE audit_text");
      exec("PRAGMA user_version = 12");
    }
    AuditLog log(*old, clock);
    ASSERT_TRUE(log.append({"alice", "access", Outcome::kDeny, "ticket CHG-1234 expired", "prod", "root", "", "", {}}));
  }
  auto db12 = Database::open(path, Database::Mode::kOpenExisting);
  ASSERT_TRUE(db12) << db12.error().message;
  EXPECT_EQ(db12->schema_version(), 16);
  AuditLog log(*db12, clock);
  AuditFilter f;
  f.text = "chg-1234";
  auto found = log.query(f);
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].event.reason, "ticket CHG-1234 expired");
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
