// AuditChain's read-only queries for an evidence export (audit_chain.h).
#include "common/database_sql.h"
#include "recorder/audit_chain.h"
#include "recorder/recorder_sql.h"

namespace bastion::recorder {

Status AuditChain::for_each_record(int64_t from, int64_t to, const std::function<Status(const StoredRecord&)>& fn) {
  constexpr int kPage = 10000;
  int64_t next = from;
  while (next <= to) {
    std::vector<StoredRecord> page;
    auto st = guarded(
        [&]() -> Status {
          Statement q(db_, std::string(kRecordColumns) +
                               " FROM audit_log WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT " +
                               std::to_string(kPage));
          q.bind(1, next);
          q.bind(2, to);
          while (q.step()) page.push_back(read_record(q));
          return {};
        },
        "audit log: ");
    if (!st) return st;
    if (page.empty()) break;
    for (const auto& r : page) {
      if (auto s = fn(r); !s) return s;
    }
    next = page.back().seq + 1;
  }
  return {};
}

Result<std::vector<Checkpoint>> AuditChain::checkpoints(int64_t from, int64_t to) {
  return guarded(
      [&]() -> Result<std::vector<Checkpoint>> {
        std::vector<Checkpoint> out;
        Statement q(
            db_, std::string(kCheckpointColumns) + " FROM audit_checkpoints WHERE seq >= ? AND seq <= ? ORDER BY seq");
        q.bind(1, from);
        q.bind(2, to);
        while (q.step()) out.push_back(read_checkpoint(q));
        return out;
      },
      "audit log: ");
}

namespace {
Result<std::optional<int64_t>> one_seq(Database& db, const char* sql, Micros ts) {
  return guarded(
      [&]() -> Result<std::optional<int64_t>> {
        Statement q(db, sql);
        q.bind(1, static_cast<int64_t>(ts));
        if (!q.step() || q.column(0).is_null()) return std::optional<int64_t>{};
        return std::optional<int64_t>(q.column(0).int64());
      },
      "audit log: ");
}
}  // namespace

Result<std::optional<int64_t>> AuditChain::first_seq_from(Micros ts) {
  return one_seq(db_, "SELECT MIN(seq) FROM audit_log WHERE ts >= ?", ts);
}

Result<std::optional<int64_t>> AuditChain::last_seq_before(Micros ts) {
  return one_seq(db_, "SELECT MAX(seq) FROM audit_log WHERE ts < ?", ts);
}

Result<std::optional<Checkpoint>> AuditChain::newest_purge_checkpoint() {
  return guarded(
      [&]() -> Result<std::optional<Checkpoint>> {
        Statement q(db_, std::string(kCheckpointColumns) +
                             " FROM audit_checkpoints WHERE kind = 'purge' ORDER BY seq DESC LIMIT 1");
        if (!q.step()) return std::optional<Checkpoint>{};
        return std::optional<Checkpoint>(read_checkpoint(q));
      },
      "audit log: ");
}

}  // namespace bastion::recorder
