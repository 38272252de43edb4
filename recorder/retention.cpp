#include "recorder/retention.h"

#include <filesystem>
#include <limits>
#include <vector>

#include "common/database_sql.h"
#include "recorder/audit_log.h"
#include "recorder/channel_recording.h"
#include "recorder/recorder_sql.h"

namespace bastion::recorder {
namespace {

// The newest signed checkpoint after the purge anchor whose record is older
// than the cutoff (a key rotation's excepted: it is kept): the furthest a purge may cut. Only called on a verified
// chain, so its times do not decrease and the checkpoint signs its record.
std::optional<Checkpoint> purge_point(Database& db, int64_t anchor, Micros cutoff) {
  Statement q(
      db,
      "SELECT c.seq, c.hash, c.ts, c.kind, c.signature, c.next_key FROM audit_checkpoints c "
      "JOIN audit_log l ON l.seq = c.seq WHERE c.kind <> 'purge' AND c.next_key = '' AND c.seq > ? AND l.ts < ? "
      "ORDER BY c.seq DESC LIMIT 1");
  q.bind(1, anchor);
  q.bind(2, static_cast<int64_t>(cutoff));
  if (!q.step()) return std::nullopt;
  return read_checkpoint(q);
}

// SECURITY: sessions.ended_at is a plain column anyone with the database can
// rewrite; a session's recordings go only when its session.end record lies in
// the verified, signed prefix being purged (so it ended before the cutoff).
const std::string kEndedSessions =
    "SELECT session_id FROM audit_log WHERE action = 'session.end' AND session_id <> '' AND seq <= ?";

std::vector<std::string> recording_files(Database& db, int64_t through) {
  std::vector<std::string> files;
  Statement q(db, "SELECT path FROM recordings WHERE session_id IN (" + kEndedSessions + ")");
  q.bind(1, through);
  while (q.step()) files.push_back(q.column(0).text());
  return files;
}

void exec_through(Database& db, const std::string& statement, int64_t through) {
  Statement q(db, statement);
  q.bind(1, through);
  q.run();
}

// Removes the prefix up to `cut` and leaves the signed purge anchor there.
// The audit.purge record comes first: it names the checkpoint (for `audit
// verify`) and keeps the sequence going when the cut is at the newest record.
Status remove_prefix(Database& db, const Ed25519Key& key, const Clock& clock, const Checkpoint& cut,
                     const std::string& actor, const PurgeReport& report) {
  AuditEvent e;
  e.actor = actor;
  e.action = "audit.purge";
  e.reason = "retention: records up to seq " + std::to_string(cut.seq) + " removed";
  e.details = {{"anchor_seq", cut.seq},
               {"previous_anchor", report.previous_anchor},
               {"checkpoint",
                {{"seq", cut.seq},
                 {"hash", cut.hash},
                 {"ts", cut.ts},
                 {"kind", cut.kind},
                 {"signature", cut.signature},
                 {"next_key", cut.next_key}}},
               {"audit_records", report.audit_records},
               {"recordings", report.recordings}};
  if (auto r = AuditLog(db, clock).append_in_transaction(e); !r) return r.error();
  exec_through(db, "DELETE FROM recording_commands WHERE session_id IN (" + kEndedSessions + ")", cut.seq);
  exec_through(db, "DELETE FROM recordings WHERE session_id IN (" + kEndedSessions + ")", cut.seq);
  exec_through(db, "DELETE FROM sessions WHERE id IN (" + kEndedSessions + ")", cut.seq);
  exec_through(db, "DELETE FROM audit_log WHERE seq <= ?", cut.seq);
  // Key rotations stay: `audit verify` follows the keys from the first one on.
  exec_through(db, "DELETE FROM audit_checkpoints WHERE seq <= ? AND next_key = ''", cut.seq);
  Checkpoint anchor{cut.seq, cut.hash, clock.now(), "purge", "", ""};
  return store_signed_checkpoint(db, key, anchor);
}

// The refusal, audited as an alert unless this is a dry run (which writes nothing).
Error refuse(Database& db, const Clock& clock, const std::string& why, bool dry_run) {
  if (!dry_run) {
    AuditEvent e;
    e.actor = "system";
    e.action = "audit.alert";
    e.outcome = Outcome::kDeny;
    e.reason = why;
    if (auto r = AuditLog(db, clock).append(e); !r) {
      return make_error(why + " (and the alert was not recorded: " + r.error().message + ")");
    }
  }
  return make_error(why);
}

}  // namespace

Result<PurgeReport> purge_older_than(Database& db, const Ed25519Key& key, const Clock& clock, Micros cutoff,
                                     bool dry_run, const std::string& actor) {
  PurgeReport report;
  std::vector<std::string> files;
  std::string refusal;
  try {
    Transaction tx(db);
    // Where a purge would cut, if the chain up to there verifies. Usually
    // nothing (the cutoff is far back): then nothing is read or verified.
    Statement last_anchor(db, "SELECT COALESCE(MAX(seq), 0) FROM audit_checkpoints WHERE kind = 'purge'");
    last_anchor.step();
    auto candidate = purge_point(db, last_anchor.column(0).int64(), cutoff);
    if (!candidate) return report;
    // SECURITY: the times that place the cutoff are evidence only in a chain
    // that verifies; a broken one is an incident to investigate, not to purge.
    // Verified: every record and checkpoint before the cutoff, that is up to
    // the first checkpoint after the cut (its record is not older than the
    // cutoff, and times do not decrease), or to the end. The rest stays, and
    // `audit verify` reports any problem in it.
    Statement next(db, "SELECT MIN(seq) FROM audit_checkpoints WHERE seq > ? AND kind <> 'purge'");
    next.bind(1, candidate->seq);
    next.step();
    const int64_t through = next.column(0).is_null() ? std::numeric_limits<int64_t>::max() : next.column(0).int64();
    auto chain = verify_chain(db, key.public_key(), through);
    if (!chain) return chain.error();
    if (!chain->ok) {
      refusal = "refusing to purge: the audit log fails verification at seq " + std::to_string(chain->bad_seq) + ": " +
                chain->problem;
    } else {
      report.previous_anchor = chain->purge ? chain->purge->seq : 0;
      report.cut_at = purge_point(db, report.previous_anchor, cutoff);
      if (!report.cut_at) return report;  // nothing signed and old enough beyond the anchor
      files = recording_files(db, report.cut_at->seq);
      report.recordings = static_cast<int64_t>(files.size());
      Statement count(db, "SELECT COUNT(*) FROM audit_log WHERE seq <= ?");
      count.bind(1, report.cut_at->seq);
      count.step();
      report.audit_records = count.column(0).int64();
      if (dry_run) return report;
      if (auto st = check_key_in_force(db, key); !st) return st.error().prefixed("refusing to purge: ");
      if (auto st = remove_prefix(db, key, clock, *report.cut_at, actor, report); !st) return st.error();
      report.anchor_seq = report.cut_at->seq;
      tx.commit();
    }
  } catch (const DatabaseError& e) {
    return database_error("purge: ", e);
  }
  if (!refusal.empty()) return refuse(db, clock, refusal, dry_run);
  for (const auto& f : files) {
    std::error_code ec;
    std::filesystem::remove(f, ec);                  // already gone is fine
    std::filesystem::remove(index_path_for(f), ec);  // a terminal's command index (none for streams)
  }
  return report;
}

Result<PurgeReport> Retention::purge_older_than(const Ed25519Key& key, Micros cutoff, bool dry_run,
                                                const std::string& actor) {
  return recorder::purge_older_than(db_, key, clock_, cutoff, dry_run, actor);
}

}  // namespace bastion::recorder
