#include "recorder/retention.h"

#include <filesystem>
#include <vector>

#include "recorder/audit_chain.h"

namespace bastion::recorder {

Result<PurgeReport> purge_older_than(Database& db, const Ed25519Key& key, const Clock& clock, Micros cutoff,
                                     bool dry_run) {
  PurgeReport report;
  std::vector<std::string> files;
  try {
    SQLite::Transaction tx(db.sql(), SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement last(db.sql(), "SELECT MAX(seq) FROM audit_log WHERE ts < ?");
    last.bind(1, static_cast<int64_t>(cutoff));
    last.executeStep();
    int64_t anchor = last.getColumn(0).isNull() ? 0 : last.getColumn(0).getInt64();
    SQLite::Statement recs(db.sql(),
                           "SELECT r.path FROM recordings r JOIN sessions s ON s.id = r.session_id "
                           "WHERE s.ended_at IS NOT NULL AND s.ended_at < ?");
    recs.bind(1, static_cast<int64_t>(cutoff));
    while (recs.executeStep()) files.push_back(recs.getColumn(0).getString());
    report.recordings = static_cast<int64_t>(files.size());
    if (anchor > 0) {
      SQLite::Statement count(db.sql(), "SELECT COUNT(*), (SELECT hash FROM audit_log WHERE seq = ?) FROM audit_log WHERE seq <= ?");
      count.bind(1, anchor);
      count.bind(2, anchor);
      count.executeStep();
      report.audit_records = count.getColumn(0).getInt64();
      std::string anchor_hash = count.getColumn(1).getString();
      if (!dry_run) {
        Checkpoint c{anchor, anchor_hash, clock.now(), "purge", ""};
        SQLite::Statement del(db.sql(), "DELETE FROM audit_log WHERE seq <= ?");
        del.bind(1, anchor);
        del.exec();
        SQLite::Statement delcp(db.sql(), "DELETE FROM audit_checkpoints WHERE seq <= ?");
        delcp.bind(1, anchor);
        delcp.exec();
        if (auto st = store_signed_checkpoint(db, key, c); !st) return st.error();
        report.anchor_seq = anchor;
      }
    }
    if (!dry_run) {
      SQLite::Statement delr(db.sql(),
                             "DELETE FROM recordings WHERE session_id IN (SELECT id FROM sessions WHERE "
                             "ended_at IS NOT NULL AND ended_at < ?)");
      delr.bind(1, static_cast<int64_t>(cutoff));
      delr.exec();
      SQLite::Statement dels(db.sql(), "DELETE FROM sessions WHERE ended_at IS NOT NULL AND ended_at < ?");
      dels.bind(1, static_cast<int64_t>(cutoff));
      dels.exec();
    }
    tx.commit();
  } catch (const SQLite::Exception& e) {
    return make_error(std::string("purge: ") + e.what());
  }
  if (!dry_run) {
    for (const auto& f : files) {
      std::error_code ec;
      std::filesystem::remove(f, ec);  // already gone is fine
    }
  }
  return report;
}

}  // namespace bastion::recorder
