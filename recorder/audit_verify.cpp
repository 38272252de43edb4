// verify_chain(): walks the audit log once, in sequence order.
#include <map>

#include "common/encoding.h"
#include "recorder/audit_chain.h"

namespace bastion::recorder {
namespace {

// The columns read_record() reads, in its order.
const std::string kRecordColumns =
    "SELECT seq, ts, actor, action, target, login, source, session_id, outcome, reason, details, prev_hash, hash";

StoredRecord read_record(SQLite::Statement& q) {
  StoredRecord s;
  s.seq = q.getColumn(0).getInt64();
  s.ts = q.getColumn(1).getInt64();
  s.actor = q.getColumn(2).getString();
  s.action = q.getColumn(3).getString();
  s.target = q.getColumn(4).getString();
  s.login = q.getColumn(5).getString();
  s.source = q.getColumn(6).getString();
  s.session_id = q.getColumn(7).getString();
  s.outcome = q.getColumn(8).getString();
  s.reason = q.getColumn(9).getString();
  s.details = q.getColumn(10).getString();
  s.prev_hash = q.getColumn(11).getString();
  s.hash = q.getColumn(12).getString();
  return s;
}

void fail(VerifyReport& r, int64_t seq, std::string problem) {
  if (!r.problem.empty() && r.bad_seq <= seq) return;  // keep the first problem
  r.ok = false;
  r.bad_seq = seq;
  r.problem = std::move(problem);
}

std::map<int64_t, Checkpoint> load_checkpoints(Database& db) {
  std::map<int64_t, Checkpoint> out;
  SQLite::Statement q(db.sql(), "SELECT seq, hash, ts, kind, signature FROM audit_checkpoints ORDER BY seq");
  while (q.executeStep()) {
    Checkpoint c{q.getColumn(0).getInt64(), q.getColumn(1).getString(), q.getColumn(2).getInt64(),
                 q.getColumn(3).getString(), q.getColumn(4).getString()};
    out.emplace(c.seq, c);
  }
  return out;
}

void check_signatures(VerifyReport& r, const std::map<int64_t, Checkpoint>& cps,
                      std::span<const uint8_t> public_key) {
  for (const auto& [seq, c] : cps) {
    auto sig = base64_decode(c.signature);
    if (!sig || !ed25519_verify(public_key, as_bytes(checkpoint_message(c)), *sig)) {
      fail(r, seq, "checkpoint at seq " + std::to_string(seq) + " has a bad signature (forged or altered)");
    }
  }
}

}  // namespace

Status verify_unsigned_tail(Database& db) {
  try {
    SQLite::Statement cp(db.sql(), "SELECT seq, hash FROM audit_checkpoints ORDER BY seq DESC LIMIT 1");
    int64_t expected = 1;
    std::string prev = kGenesisHash;
    if (cp.executeStep()) {
      expected = cp.getColumn(0).getInt64() + 1;
      prev = cp.getColumn(1).getString();
    }
    SQLite::Statement q(db.sql(),
                        kRecordColumns + " FROM audit_log WHERE seq >= ? ORDER BY seq");
    q.bind(1, expected);
    while (q.executeStep()) {
      StoredRecord s = read_record(q);
      std::string n = std::to_string(s.seq);
      if (s.seq != expected) return make_error("record " + std::to_string(expected) + " is missing (deleted)");
      if (s.prev_hash != prev) return make_error("record " + n + " does not follow the record before it");
      if (chain_hash(s.prev_hash, s) != s.hash) return make_error("record " + n + " was modified");
      prev = s.hash;
      expected = s.seq + 1;
    }
    return {};
  } catch (const SQLite::Exception& e) {
    return make_error(std::string("audit log: ") + e.what());
  }
}

Result<VerifyReport> verify_chain(Database& db, std::span<const uint8_t> public_key) {
  try {
    VerifyReport r;
    r.ok = true;
    auto cps = load_checkpoints(db);
    r.checkpoints = static_cast<int64_t>(cps.size());
    check_signatures(r, cps, public_key);
    SQLite::Statement q(db.sql(),
                        kRecordColumns + " FROM audit_log ORDER BY seq");
    // After a retention purge, the chain starts at the newest signed purge
    // anchor: the record it names was removed, its hash vouches for the rest.
    int64_t expected = 1;
    std::string prev = kGenesisHash;
    for (const auto& [seq, c] : cps) {
      if (c.kind == "purge" && seq + 1 > expected) {
        expected = seq + 1;
        prev = c.hash;
      }
    }
    const int64_t anchor = expected - 1;
    while (q.executeStep()) {
      StoredRecord s = read_record(q);
      if (s.seq <= anchor) continue;  // older than the anchor: not part of the chain any more
      ++r.records;
      r.last_seq = s.seq;
      std::string n = std::to_string(s.seq);
      if (s.seq != expected) {
        fail(r, expected, "record " + std::to_string(expected) + " is missing (deleted)");
      } else if (s.prev_hash != prev) {
        fail(r, s.seq, "record " + n + " does not follow record " + std::to_string(s.seq - 1) +
                           " (records reordered or inserted)");
      } else if (chain_hash(s.prev_hash, s) != s.hash) {
        fail(r, s.seq, "record " + n + " was modified (its hash does not match its contents)");
      }
      if (auto it = cps.find(s.seq); it != cps.end() && it->second.kind != "purge" && it->second.hash != s.hash) {
        fail(r, s.seq, "record " + n + " does not match the signed checkpoint at seq " + n);
      }
      prev = s.hash;
      expected = s.seq + 1;
    }
    if (r.records == 0) r.last_seq = anchor;
    if (!cps.empty() && cps.rbegin()->first > r.last_seq) {
      int64_t cp = cps.rbegin()->first;
      fail(r, r.last_seq + 1, "log truncated: a checkpoint signs seq " + std::to_string(cp) +
                                  " but the log ends at seq " + std::to_string(r.last_seq));
    }
    return r;
  } catch (const SQLite::Exception& e) {
    return make_error(std::string("audit log: ") + e.what());
  }
}

}  // namespace bastion::recorder
