// Retention must not be a way to erase the audit trail: it removes only what a
// valid signed checkpoint covers, after the chain up to it verifies.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "common/database_sql.h"
#include "recorder/audit_chain.h"
#include "recorder/audit_log.h"
#include "recorder/recorder_sql.h"
#include "recorder/channel_recording.h"
#include "recorder/retention.h"
#include "recorder/session_log.h"
#include "tests/support/audit_store_fixture.h"

namespace bastion::recorder {
namespace {

class RetentionTest : public testing::AuditStoreTest {
 protected:
  void SetUp() override {
    AuditStoreTest::SetUp();
    sessions = std::make_unique<SessionLog>(*db, clock);
  }

  void append(int n) {
    for (int i = 0; i < n; ++i) {
      clock.advance(1000);
      ASSERT_TRUE(log->append({"alice", "test", Outcome::kInfo, "r" + std::to_string(i), "t", "root", "", "", {}}));
    }
  }
  Checkpoint checkpoint() {
    clock.advance(1000);
    auto c = write_checkpoint(*db, *key, clock, "manual");
    EXPECT_TRUE(c && *c);
    return c && *c ? **c : Checkpoint{};
  }
  Result<PurgeReport> purge(Micros cutoff, bool dry_run = false) {
    return purge_older_than(*db, *key, clock, cutoff, dry_run);
  }
  int64_t count(const std::string& query) {
    Statement q(*db, query);
    q.step();
    return q.column(0).int64();
  }
  // A session with one recording file; ended (and its session.end audited) unless `live`.
  std::string session(const std::string& id, bool live = false) {
    clock.advance(1000);
    EXPECT_TRUE(sessions->start({id, "alice", "prod", "root", "1.2.3.4:1", 42, 0, {}, 0, 0, {}, "", ""}));
    AuditEvent tmpl{"alice", "session.start", Outcome::kInfo, "", "prod", "root", "", id, {}};
    auto rec = begin_recording(*db, *log, clock, dir + "/rec", false, tmpl, 1);
    EXPECT_TRUE(rec) << rec.error().message;
    if (!live) {
      clock.advance(1000);
      EXPECT_TRUE(sessions->end(id, 1, 2, 0, "client disconnected"));
      tmpl.action = "session.end";
      EXPECT_TRUE(log->append(tmpl));
    }
    return rec ? rec->path : "";
  }
  // Recomputes every hash from the first record on (chained to `prev`), as an
  // insider who rewrites the unsigned log would.
  void rechain(std::string prev = kGenesisHash) {
    std::vector<StoredRecord> rows;
    Statement q(*db,
                "SELECT seq, ts, actor, action, target, login, source, session_id, outcome, reason, "
                "details FROM audit_log ORDER BY seq");
    while (q.step()) {
      rows.push_back({q.column(0).int64(), q.column(1).int64(), q.column(2).text(), q.column(3).text(),
                      q.column(4).text(), q.column(5).text(), q.column(6).text(), q.column(7).text(),
                      q.column(8).text(), q.column(9).text(), q.column(10).text(), "", ""});
    }
    for (auto& r : rows) {
      r.prev_hash = prev;
      r.hash = chain_hash(prev, r);
      Statement u(*db, "UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?");
      u.bind(1, r.prev_hash);
      u.bind(2, r.hash);
      u.bind(3, r.seq);
      u.run();
      prev = r.hash;
    }
  }

  std::unique_ptr<SessionLog> sessions;
};

TEST_F(RetentionTest, ATamperedTimestampIsRefusedAndAlerted) {
  Micros before_everything = clock.now();
  append(5);
  checkpoint();
  append(5);
  sql("UPDATE audit_log SET ts = 1 WHERE seq = 7");
  // Nothing signed is older than this cutoff: nothing to cut, nothing read.
  auto none = purge(before_everything);
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_EQ(none->audit_records, 0);
  auto p = purge(clock.now() + 1);
  ASSERT_FALSE(p) << "purged " << p->audit_records << " records up to seq " << p->anchor_seq;
  EXPECT_EQ(p.error().message,
            "refusing to purge: the audit log fails verification at seq 7: record 7 was modified (its hash "
            "does not match its contents)");
  EXPECT_EQ(count("SELECT COUNT(*) FROM audit_log WHERE seq <= 10"), 10) << "nothing was removed";
  EXPECT_EQ(count("SELECT COUNT(*) FROM audit_checkpoints WHERE kind = 'purge'"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM audit_log WHERE action = 'audit.alert' AND outcome = 'deny' AND "
                  "reason LIKE 'refusing to purge: %seq 7:%'"),
            1);
  VerifyReport r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 7);
  EXPECT_FALSE(r.purge);
  // A dry run refuses too, but writes nothing.
  EXPECT_FALSE(purge(clock.now() + 1, true));
  EXPECT_EQ(count("SELECT COUNT(*) FROM audit_log WHERE action = 'audit.alert'"), 1);
}

TEST_F(RetentionTest, VerifyReportsATimestampLowerThanItsPredecessor) {
  append(6);
  // Record 4 claims an earlier time than record 3, with a consistent chain.
  sql("UPDATE audit_log SET ts = (SELECT ts - 1 FROM audit_log WHERE seq = 3) WHERE seq = 4");
  rechain();
  VerifyReport r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 4);
  EXPECT_EQ(r.problem, "record 4 is dated before record 3 (timestamps must not decrease)");
  auto c = write_checkpoint(*db, *key, clock, "manual");
  ASSERT_FALSE(c) << "a checkpoint must not sign a log whose time goes backwards";
  EXPECT_EQ(c.error().message,
            "refusing to sign a checkpoint: record 4 is dated before record 3 (timestamps must not decrease)");
}

TEST_F(RetentionTest, AppendNeverDatesARecordBeforeItsPredecessor) {
  append(2);
  clock.advance(-10 * kMicrosPerSecond);  // the wall clock was stepped back
  append(1);
  VerifyReport r = verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(count("SELECT ts FROM audit_log WHERE seq = 3"), count("SELECT ts FROM audit_log WHERE seq = 2"));
}

TEST_F(RetentionTest, PurgeNeverGoesPastTheNewestCheckpoint) {
  append(5);
  checkpoint();
  append(3);  // older than the cutoff, but not signed yet
  Micros cutoff = clock.now() + 1;
  clock.advance(kMicrosPerSecond);
  auto p = purge(cutoff);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->anchor_seq, 5);
  EXPECT_EQ(p->audit_records, 5);
  EXPECT_EQ(count("SELECT MIN(seq) FROM audit_log"), 6);
  EXPECT_EQ(count("SELECT COUNT(*) FROM audit_log WHERE seq BETWEEN 6 AND 8"), 3);
  VerifyReport r = verify();
  EXPECT_TRUE(r.ok) << r.problem;
  // Nothing signed beyond the anchor: a second purge removes nothing.
  auto again = purge(clock.now() + 1);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->audit_records, 0);
  EXPECT_EQ(again->anchor_seq, 0);
  EXPECT_EQ(count("SELECT MIN(seq) FROM audit_log"), 6);
}

// The commands of a plaintext recording's index are stored at the
// recording's end for the console's search by command (case-insensitive);
// a sealed index's are not (the gateway cannot read them); a purge that
// takes the session takes its commands.
TEST_F(RetentionTest, ARecordingsCommandsAreSearchableFromItsEndUntilItIsPurged) {
  auto end_with = [&](const std::string& id, const std::string& content) {
    AuditEvent tmpl{"alice", "session.start", Outcome::kInfo, "", "prod", "root", "", id, {}};
    IndexDigest d{"/rec/x.cmdidx", static_cast<int64_t>(content.size()), std::string(64, '0'), content};
    CastSummary sum{0, std::string(64, '0')};
    EXPECT_TRUE(end_recording(*db, *log, clock, tmpl, 1, "/rec/x.cast", sum, &d));
  };
  auto index = [](std::vector<CommandEntry> entries) {
    return format_command_index(CommandIndex{CommandIndexHeader{"x.cast", 0, 80, 24, false}, std::move(entries)});
  };
  session("s-1");
  end_with("s-1", index({{1'500'000, "systemctl restart nginx"}, {2'000'000, "ls -la /etc"}}));
  session("s-2");
  end_with("s-2", index({{3'000'000, "SYSTEMCTL status"}}));
  session("s-3");
  end_with("s-3", "bastion-encrypted-cast v1 AAAA BBBB\n" + index({{1, "systemctl stop sealed"}}));
  session("s-4");
  end_with("s-4", "not an index\n");
  auto found = [&](const std::string& text) {
    SessionFilter f;
    f.command = text;
    auto r = sessions->list(f);
    EXPECT_TRUE(r) << r.error().message;
    std::vector<std::string> ids;
    if (r) {
      for (const auto& s : *r) ids.push_back(s.id);
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(found("systemctl"), (V{"s-1", "s-2"}));
  EXPECT_EQ(found("restart NGINX"), (V{"s-1"}));
  EXPECT_EQ(found("ls"), (V{"s-1"}));  // shorter than a trigram: row by row
  EXPECT_EQ(found("sealed"), V{});
  EXPECT_EQ(found("rm -rf"), V{});
  RecordingCatalog catalog(*db, *log, clock);
  auto hits = catalog.commands_containing("s-1", "SystemCTL", 3);
  ASSERT_TRUE(hits) << hits.error().message;
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].channel, 1);
  EXPECT_EQ((*hits)[0].offset, 1'500'000);
  EXPECT_EQ((*hits)[0].command, "systemctl restart nginx");
  EXPECT_EQ(count("SELECT COUNT(*) FROM recording_commands"), 3);

  checkpoint();
  Micros cutoff = clock.now() + 1;
  clock.advance(kMicrosPerSecond);
  ASSERT_TRUE(purge(cutoff));
  EXPECT_EQ(count("SELECT COUNT(*) FROM recording_commands"), 0);
  EXPECT_EQ(found("systemctl"), V{});
}

TEST_F(RetentionTest, WithoutACheckpointNothingIsPurged) {
  append(5);
  auto p = purge(clock.now() + 1);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->audit_records, 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM audit_log"), 5);
}

TEST_F(RetentionTest, AnEarlierCutoffNeverMovesTheAnchorBackwards) {
  append(3);
  checkpoint();
  Micros early = clock.now() + 1;
  clock.advance(kMicrosPerSecond);
  append(3);
  checkpoint();
  Micros late = clock.now() + 1;
  clock.advance(kMicrosPerSecond);
  append(2);
  Statement saved(*db, "SELECT seq, hash, ts, kind, signature FROM audit_checkpoints WHERE seq = 3");
  ASSERT_TRUE(saved.step());
  Checkpoint old{saved.column(0).int64(), saved.column(1).text(), saved.column(2).int64(), saved.column(3).text(),
                 saved.column(4).text()};
  saved.reset();
  auto p = purge(late);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->anchor_seq, 6);
  // A copy of the older, validly signed checkpoint is put back.
  Statement ins(*db, "INSERT INTO audit_checkpoints(seq, hash, ts, kind, signature) VALUES (?,?,?,?,?)");
  ins.bind(1, old.seq);
  ins.bind(2, old.hash);
  ins.bind(3, static_cast<int64_t>(old.ts));
  ins.bind(4, old.kind);
  ins.bind(5, old.signature);
  ins.run();
  auto back = purge(early);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->anchor_seq, 0);
  EXPECT_EQ(back->audit_records, 0);
  EXPECT_EQ(count("SELECT MAX(seq) FROM audit_checkpoints WHERE kind = 'purge'"), 6);
  VerifyReport r = verify();
  EXPECT_TRUE(r.ok) << r.problem;
  ASSERT_TRUE(r.purge);
  EXPECT_EQ(r.purge->seq, 6);
  EXPECT_EQ(count("SELECT MIN(seq) FROM audit_log"), 7);
}

TEST_F(RetentionTest, VerifyNamesThePurgeAnchorAndTheCheckpointItWasCutAt) {
  append(5);
  Checkpoint cp = checkpoint();  // at the newest record: everything is older than the cutoff
  Micros cutoff = clock.now() + 1;
  clock.advance(kMicrosPerSecond);
  Micros purged_at = clock.now();
  auto p = purge(cutoff);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->anchor_seq, 5);
  ASSERT_TRUE(p->cut_at);
  EXPECT_EQ(p->cut_at->ts, cp.ts);
  VerifyReport r = verify();
  EXPECT_TRUE(r.ok) << r.problem;
  ASSERT_TRUE(r.purge);
  EXPECT_EQ(r.purge->seq, 5);
  EXPECT_EQ(r.purge->purged_at, purged_at);
  ASSERT_TRUE(r.purge->cut_at);
  EXPECT_EQ(r.purge->cut_at->seq, 5);
  EXPECT_EQ(r.purge->cut_at->ts, cp.ts);
  EXPECT_EQ(r.purge->cut_at->kind, "manual");
  EXPECT_EQ(r.records, 1) << "the audit.purge record itself";
  EXPECT_EQ(count("SELECT seq FROM audit_log WHERE action = 'audit.purge'"), 6) << "the sequence goes on";
  append(2);
  r = verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.records, 3);
  // The record that names the checkpoint is part of the chain, and what it
  // names must be a checkpoint the key signed, even in a rewritten tail.
  sql("UPDATE audit_log SET details = replace(details, '\"kind\":\"manual\"', '\"kind\":\"periodic\"') "
      "WHERE action = 'audit.purge'");
  EXPECT_EQ(verify().problem, "record 6 was modified (its hash does not match its contents)");
  rechain(cp.hash);
  r = verify();
  EXPECT_EQ(r.bad_seq, 6);
  EXPECT_EQ(r.problem, "record 6 (audit.purge) does not name a valid checkpoint at the purge anchor, seq 5");
}

TEST_F(RetentionTest, ATamperedEndTimeDoesNotGetARecordingDeleted) {
  std::string old_path = session("s-old");
  checkpoint();
  Micros cutoff = clock.now() + 1;
  clock.advance(kMicrosPerSecond);
  std::string ended_path = session("s-ended");
  std::string live_path = session("s-live", true);
  checkpoint();
  ASSERT_TRUE(std::filesystem::exists(old_path) && std::filesystem::exists(ended_path) &&
              std::filesystem::exists(live_path));
  sql("UPDATE sessions SET ended_at = 1 WHERE id IN ('s-ended', 's-live')");
  auto dry = purge(cutoff, true);
  ASSERT_TRUE(dry) << dry.error().message;
  EXPECT_EQ(dry->recordings, 1);
  auto p = purge(cutoff);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->recordings, 1);
  EXPECT_FALSE(std::filesystem::exists(old_path));
  EXPECT_TRUE(std::filesystem::exists(ended_path));
  EXPECT_TRUE(std::filesystem::exists(live_path));
  EXPECT_EQ(count("SELECT COUNT(*) FROM recordings"), 2);
  EXPECT_EQ(count("SELECT COUNT(*) FROM sessions WHERE id = 's-old'"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM sessions WHERE id IN ('s-ended', 's-live')"), 2);
}

}  // namespace
}  // namespace bastion::recorder
