#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "common/database_sql.h"
#include "common/encoding.h"
#include "recorder/audit_chain.h"
#include "recorder/audit_log.h"
#include "recorder/recorder_sql.h"
#include "recorder/retention.h"
#include "tests/support/audit_store_fixture.h"
#include "tests/support/test_database.h"

namespace bastion::recorder {
namespace {

class ChainTest : public testing::AuditStoreTest {
 protected:
  void append(int n) {
    for (int i = 0; i < n; ++i) {
      clock.advance(1000);
      ASSERT_TRUE(
          log->append({"alice", "test", Outcome::kInfo, "r" + std::to_string(i), "t", "root", "", "s-1", {{"i", i}}}));
    }
  }
  void checkpoint() { ASSERT_TRUE(write_checkpoint(*db, *key, clock, "manual")); }
  void appenders_keep_a_valid_chain(int procs, int batches, int each);
};

TEST_F(ChainTest, IntactChainVerifies) {
  append(10);
  checkpoint();
  append(3);
  VerifyReport r = verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.records, 13);
  EXPECT_EQ(r.checkpoints, 1);
}

TEST_F(ChainTest, TailStatusNamesTheNewestCheckpointItsSignerAndABrokenTail) {
  AuditChain chain(*db, clock);
  auto none = chain.tail_status(key->public_key());
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->newest);
  append(4);
  checkpoint();
  append(3);
  auto t = chain.tail_status(key->public_key());
  ASSERT_TRUE(t);
  ASSERT_TRUE(t->newest);
  EXPECT_EQ(t->newest->seq, 4);
  EXPECT_TRUE(t->newest_signed);
  EXPECT_EQ(t->after, 3);
  EXPECT_EQ(t->problem, "");
  auto other = Ed25519Key::create(dir + "/other");
  ASSERT_TRUE(other);
  EXPECT_FALSE(chain.tail_status(other->public_key())->newest_signed);
  sql("UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 6");
  EXPECT_NE(chain.tail_status(key->public_key())->problem.find("record 6 was modified"), std::string::npos);
}

TEST_F(ChainTest, NeverSignsOverATamperedTail) {
  append(5);
  checkpoint();
  append(5);
  sql("UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 8");
  auto c = write_checkpoint(*db, *key, clock, "manual");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("refusing to sign a checkpoint: record 8 was modified"), std::string::npos)
      << c.error().message;
  EXPECT_EQ(c.error().code, ErrorCode::kTampered);
  Statement q(*db, "SELECT MAX(seq) FROM audit_checkpoints");
  ASSERT_TRUE(q.step());
  EXPECT_EQ(q.column(0).int64(), 5);
}

TEST_F(ChainTest, NeverSignsOverADeletedTailRecord) {
  append(6);
  sql("DELETE FROM audit_log WHERE seq = 3");
  auto c = write_checkpoint(*db, *key, clock, "manual");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("record 3 is missing"), std::string::npos) << c.error().message;
}

TEST_F(ChainTest, DetectsAChangedField) {
  append(10);
  sql("UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 4");
  VerifyReport r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 4);
  EXPECT_EQ(r.problem, "record 4 was modified (its hash does not match its contents)");
}

TEST_F(ChainTest, DetectsADeletedRecord) {
  append(10);
  sql("DELETE FROM audit_log WHERE seq = 6");
  VerifyReport r = verify();
  EXPECT_EQ(r.bad_seq, 6);
  EXPECT_EQ(r.problem, "record 6 is missing (deleted)");
}

TEST_F(ChainTest, DetectsSwappedRecords) {
  append(10);
  // Swap the contents of 3 and 4, keeping each row's own hash consistent.
  sql("UPDATE audit_log SET seq = -3 WHERE seq = 3");
  sql("UPDATE audit_log SET seq = 3 WHERE seq = 4");
  sql("UPDATE audit_log SET seq = 4 WHERE seq = -3");
  VerifyReport r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 3);
  EXPECT_NE(r.problem.find("reordered or inserted"), std::string::npos) << r.problem;
}

TEST_F(ChainTest, DetectsAnInsertedRecordEvenWithAFreshHash) {
  append(5);
  // An insider appends a fake record with a correctly computed hash but a
  // wrong link, then another one that links correctly to a forged base.
  sql("UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 3");
  sql("UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1000");
  StoredRecord fake;
  fake.seq = 3;
  fake.ts = 1;
  fake.actor = "mallory";
  fake.action = "test";
  fake.outcome = "info";
  fake.details = "{}";
  fake.prev_hash = std::string(64, 'a');
  fake.hash = chain_hash(fake.prev_hash, fake);
  sql("INSERT INTO audit_log(seq, ts, actor, action, outcome, details, prev_hash, hash) VALUES (3, 1, "
      "'mallory', 'test', 'info', '{}', '" +
      fake.prev_hash + "', '" + fake.hash + "')");
  VerifyReport r = verify();
  EXPECT_EQ(r.bad_seq, 3);
  EXPECT_NE(r.problem.find("reordered or inserted"), std::string::npos) << r.problem;
}

TEST_F(ChainTest, DetectsTruncationAfterACheckpoint) {
  append(10);
  checkpoint();
  sql("DELETE FROM audit_log WHERE seq >= 8");
  VerifyReport r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.problem, "log truncated: a checkpoint signs seq 10 but the log ends at seq 7");
}

TEST_F(ChainTest, DetectsARewrittenChainThroughTheCheckpoint) {
  append(6);
  checkpoint();
  // Rewrite record 2 and recompute every hash after it: only the signed
  // checkpoint can tell.
  sql("UPDATE audit_log SET reason = 'rewritten' WHERE seq = 2");
  std::string prev = kGenesisHash;
  Statement q(*db, "SELECT seq FROM audit_log ORDER BY seq");
  std::vector<int64_t> seqs;
  while (q.step()) seqs.push_back(q.column(0).int64());
  for (int64_t s : seqs) {
    Statement row(*db,
                  "SELECT seq, ts, actor, action, target, login, source, session_id, outcome, reason, "
                  "details FROM audit_log WHERE seq = ?");
    row.bind(1, s);
    row.step();
    StoredRecord r{row.column(0).int64(),
                   row.column(1).int64(),
                   row.column(2).text(),
                   row.column(3).text(),
                   row.column(4).text(),
                   row.column(5).text(),
                   row.column(6).text(),
                   row.column(7).text(),
                   row.column(8).text(),
                   row.column(9).text(),
                   row.column(10).text(),
                   prev,
                   ""};
    r.hash = chain_hash(prev, r);
    Statement u(*db, "UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?");
    u.bind(1, prev);
    u.bind(2, r.hash);
    u.bind(3, s);
    u.run();
    prev = r.hash;
  }
  VerifyReport r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.problem, "record 6 does not match the signed checkpoint at seq 6");
}

TEST_F(ChainTest, DetectsAForgedCheckpoint) {
  append(5);
  checkpoint();
  sql("UPDATE audit_checkpoints SET ts = ts + 1");
  VerifyReport r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.problem, "checkpoint at seq 5 has a bad signature (forged or altered)");
  // A checkpoint signed by another key is just as bad.
  auto other = Ed25519Key::create(dir + "/other");
  ASSERT_TRUE(other);
  auto mine = verify_chain(*db, other->public_key());
  EXPECT_FALSE(mine->ok);
}

TEST_F(ChainTest, CheckpointsOnlyWhenThereIsSomethingNew) {
  append(2);
  auto a = write_checkpoint(*db, *key, clock, "periodic");
  ASSERT_TRUE(a && *a);
  EXPECT_EQ((*a)->seq, 2);
  auto b = write_checkpoint(*db, *key, clock, "periodic");
  ASSERT_TRUE(b);
  EXPECT_FALSE(*b);
  EXPECT_EQ(unsigned_tail(*db)->first, 0);
  append(3);
  EXPECT_EQ(unsigned_tail(*db)->first, 3);
}

TEST_F(ChainTest, PurgeLeavesAVerifiableChain) {
  append(5);
  checkpoint();
  Micros cutoff = clock.now() + 1;
  clock.advance(kMicrosPerSecond);
  append(4);
  auto dry = purge_older_than(*db, *key, clock, cutoff, true);
  ASSERT_TRUE(dry);
  EXPECT_EQ(dry->audit_records, 5);
  EXPECT_EQ(verify().records, 9) << "a dry run changes nothing";
  auto p = purge_older_than(*db, *key, clock, cutoff, false);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->anchor_seq, 5);
  VerifyReport r = verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.records, 5) << "the 4 newer records and the audit.purge record";
  append(2);
  EXPECT_TRUE(verify().ok);
  // Removing more than the purge allowed still shows.
  sql("DELETE FROM audit_log WHERE seq = 6");
  EXPECT_EQ(verify().problem, "record 6 is missing (deleted)");
}

TEST_F(ChainTest, AForgedPurgeAnchorIsRejected) {
  append(6);
  sql("DELETE FROM audit_log WHERE seq <= 3");
  sql("INSERT INTO audit_checkpoints(seq, hash, ts, kind, signature) SELECT 3, prev_hash, 0, 'purge', 'AAAA' "
      "FROM audit_log WHERE seq = 4");
  VerifyReport r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.problem, "checkpoint at seq 3 has a bad signature (forged or altered)");
}

// Runs `batches` group commits of `each` appends (one commit per append
// when `each` is 0) in each of `procs` processes at once, each with its own
// connection; then the chain must verify with every record in it.
void ChainTest::appenders_keep_a_valid_chain(int procs, int batches, int each) {
  for (int i = 0; i < procs; ++i) {
    if (fork() == 0) {
      auto d = Database::open(bastion::test_support::test_database(dir + "/a.db"), Database::Mode::kOpenExisting);
      if (!d) _exit(2);
      AuditLog l(*d, SystemClock::instance());
      for (int b = 0; b < batches; ++b) {
        if (each > 0 && !d->begin()) _exit(3);
        for (int j = 0; j < std::max(each, 1); ++j) {
          if (!l.append({"p" + std::to_string(i), "test", Outcome::kInfo, "", "", "", "", "", {{"j", j}}})) _exit(4);
        }
        if (each > 0 && !d->commit()) _exit(5);
      }
      _exit(0);
    }
  }
  for (int i = 0; i < procs; ++i) {
    int status = 0;
    wait(&status);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  VerifyReport r = verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.records, procs * batches * std::max(each, 1));
}

TEST_F(ChainTest, ConcurrentAppendersKeepAValidChain) { appenders_keep_a_valid_chain(6, 40, 0); }

// The monitor's group commit: several appends in one transaction (the
// chain's head read once, then kept for the transaction), from several
// processes at once, with commits in between that let the others append.
TEST_F(ChainTest, GroupCommitsFromSeveralProcessesKeepAValidChain) { appenders_keep_a_valid_chain(4, 10, 6); }

// A record undone with its savepoint (a change that failed after writing its
// audit record) is not the head the next append chains onto.
TEST_F(ChainTest, ARecordRolledBackWithItsSavepointIsNotChainedOnto) {
  ASSERT_TRUE(db->begin());
  ASSERT_TRUE(log->append({"alice", "first", Outcome::kInfo, "", "", "", "", "", {}}));
  Status failed = with_transaction(*db, [&]() -> Status {
    if (!log->append({"alice", "undone", Outcome::kInfo, "", "", "", "", "", {}})) return make_error("append");
    return make_error("the change failed after its record");
  });
  EXPECT_FALSE(failed);
  ASSERT_TRUE(log->append({"alice", "second", Outcome::kInfo, "", "", "", "", "", {}}));
  ASSERT_TRUE(db->commit());
  // And after the commit, a write made by another connection is seen.
  {
    auto other = Database::open(bastion::test_support::test_database(dir + "/a.db"), Database::Mode::kOpenExisting);
    ASSERT_TRUE(other) << other.error().message;
    AuditLog l(*other, clock);
    ASSERT_TRUE(l.append({"bob", "elsewhere", Outcome::kInfo, "", "", "", "", "", {}}));
  }
  ASSERT_TRUE(db->begin());
  ASSERT_TRUE(log->append({"alice", "third", Outcome::kInfo, "", "", "", "", "", {}}));
  ASSERT_TRUE(db->commit());
  VerifyReport r = verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.records, 4);
  auto all = log->query({});
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 4U);
  EXPECT_EQ((*all)[1].event.action, "second");
  EXPECT_EQ((*all)[1].seq, 2);
}

}  // namespace
}  // namespace bastion::recorder

namespace bastion::recorder {
namespace {

// Key rotation: the old key's last checkpoint names the next key; verify
// follows it from the first key, or starts at it from the new one.
class KeyRotationTest : public ChainTest {
 protected:
  void SetUp() override {
    ChainTest::SetUp();
    auto k = Ed25519Key::create(dir + "/next");
    ASSERT_TRUE(k);
    next = std::make_unique<Ed25519Key>(std::move(*k));
    append(4);
    checkpoint();
    append(2);
    auto c = AuditChain(*db, clock).write_rotation_checkpoint(*key, *next);
    ASSERT_TRUE(c) << c.error().message;
    rotate_seq = c->seq;
    append(3);
    auto after = write_checkpoint(*db, *next, clock, "rotated");
    ASSERT_TRUE(after && *after) << (after ? "nothing signed" : after.error().message);
  }
  Result<VerifyReport> verify_with(const Ed25519Key& k) { return verify_chain(*db, k.public_key()); }
  std::unique_ptr<Ed25519Key> next;
  int64_t rotate_seq = 0;
};

TEST_F(KeyRotationTest, VerifyFollowsTheRotationFromTheFirstKeyAndStartsAtItFromTheNewOne) {
  auto from_first = verify_with(*key);
  ASSERT_TRUE(from_first);
  EXPECT_TRUE(from_first->ok) << from_first->problem;
  EXPECT_EQ(from_first->rotations, 1);
  EXPECT_EQ(from_first->earlier_key_checkpoints, 0);
  EXPECT_EQ(from_first->signing_key, base64_encode(next->public_key()));
  auto from_new = verify_with(*next);
  ASSERT_TRUE(from_new);
  EXPECT_TRUE(from_new->ok) << from_new->problem;
  EXPECT_EQ(from_new->earlier_key_checkpoints, 2);  // the first checkpoint and the rotation
  EXPECT_EQ(from_new->records, 9);
  auto other = Ed25519Key::create(dir + "/other");
  ASSERT_TRUE(other);
  auto from_other = verify_with(*other);
  ASSERT_TRUE(from_other);
  EXPECT_FALSE(from_other->ok);
  EXPECT_EQ(from_other->bad_seq, 4);
}

TEST_F(KeyRotationTest, TheOldKeyCannotSignAfterTheRotation) {
  append(1);
  auto c = write_checkpoint(*db, *key, clock, "periodic");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("signed by another audit key than this node's"), std::string::npos)
      << c.error().message;
  // Behind the gateway's back: a checkpoint the old key signs after the
  // rotation (what a thief of the old key would add) fails verification.
  Statement last(*db, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
  ASSERT_TRUE(last.step());
  Checkpoint forged{last.column(0).int64(), last.column(1).text(), clock.now(), "periodic", ""};
  ASSERT_TRUE(store_signed_checkpoint(*db, *key, forged));
  auto r = verify_with(*key);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->bad_seq, forged.seq);
  EXPECT_NE(r->problem.find("not signed by the key the rotation before it named"), std::string::npos) << r->problem;
}

TEST_F(KeyRotationTest, ARotationWrittenRightAfterTheOldOneIsRefused) {
  // A node that still holds the old key meets the rotation's checkpoint.
  append(1);
  sql("DELETE FROM audit_checkpoints WHERE kind = 'rotated'");
  auto c = write_checkpoint(*db, *key, clock, "periodic");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("the audit signing key was rotated to " + base64_encode(next->public_key())),
            std::string::npos)
      << c.error().message;
  EXPECT_TRUE(write_checkpoint(*db, *next, clock, "periodic"));
}

TEST_F(KeyRotationTest, AChangedNextKeyBreaksTheOldKeysSignature) {
  auto other = Ed25519Key::create(dir + "/other");
  ASSERT_TRUE(other);
  sql("UPDATE audit_checkpoints SET next_key = '" + base64_encode(other->public_key()) +
      "' WHERE seq = " + std::to_string(rotate_seq));
  auto r = verify_with(*key);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->bad_seq, rotate_seq);
}

TEST_F(KeyRotationTest, ARetentionPurgeKeepsTheRotationSoTheFirstKeyStillVerifies) {
  clock.advance(400LL * 86400 * kMicrosPerSecond);
  append(2);
  ASSERT_TRUE(write_checkpoint(*db, *next, clock, "periodic"));
  auto p = purge_older_than(*db, *next, clock, clock.now() - 30LL * 86400 * kMicrosPerSecond, false);
  ASSERT_TRUE(p) << p.error().message;
  ASSERT_TRUE(p->cut_at);
  EXPECT_NE(p->cut_at->seq, rotate_seq);
  auto from_first = verify_with(*key);
  ASSERT_TRUE(from_first);
  EXPECT_TRUE(from_first->ok) << from_first->problem;
  EXPECT_EQ(from_first->rotations, 1);
  auto from_new = verify_with(*next);
  ASSERT_TRUE(from_new);
  EXPECT_TRUE(from_new->ok) << from_new->problem;
  // The old key cannot purge any more.
  append(1);
  ASSERT_TRUE(write_checkpoint(*db, *next, clock, "periodic"));
  clock.advance(400LL * 86400 * kMicrosPerSecond);
  append(1);
  ASSERT_TRUE(write_checkpoint(*db, *next, clock, "periodic"));
  auto refused = purge_older_than(*db, *key, clock, clock.now() - 30LL * 86400 * kMicrosPerSecond, false);
  EXPECT_FALSE(refused);
}

}  // namespace
}  // namespace bastion::recorder
