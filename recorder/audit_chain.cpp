#include "recorder/audit_chain.h"

#include <nlohmann/json.hpp>

#include "common/database_sql.h"
#include "common/encoding.h"
#include "recorder/recorder_sql.h"

namespace bastion::recorder {
namespace {

std::optional<Checkpoint> newest_checkpoint(Database& db) {
  Statement q(db, std::string(kCheckpointColumns) + " FROM audit_checkpoints ORDER BY seq DESC LIMIT 1");
  if (!q.step()) return std::nullopt;
  return read_checkpoint(q);
}

}  // namespace

// SECURITY: only the key in force signs: the one the newest checkpoint
// names as next, or else the one that signed it. Another (an old key a node
// kept after a rotation elsewhere) would break the chain of keys.
Status check_key_in_force(Database& db, const Ed25519Key& key) {
  auto prev = newest_checkpoint(db);
  if (!prev) return {};
  const std::string mine = base64_encode(key.public_key());
  if (!prev->next_key.empty()) {
    if (prev->next_key == mine) return {};
    return make_error("the audit signing key was rotated to " + prev->next_key + " at seq " +
                      std::to_string(prev->seq) + "; this node holds another (copy the new key here, then SIGHUP)");
  }
  if (checkpoint_signed_by(*prev, key.public_key())) return {};
  return make_error("the newest checkpoint (seq " + std::to_string(prev->seq) +
                    ") was signed by another audit key than this node's; refusing to sign with a key not in force");
}

Checkpoint read_checkpoint(Statement& q) {
  return Checkpoint{q.column(0).int64(), q.column(1).text(), q.column(2).int64(),
                    q.column(3).text(),  q.column(4).text(), q.column(5).text()};
}

Status store_signed_checkpoint(Database& db, const Ed25519Key& key, Checkpoint& c) {
  auto sig = key.sign(as_bytes(checkpoint_message(c)));
  if (!sig) return sig.error();
  c.signature = base64_encode(*sig);
  Statement ins(db, "INSERT INTO audit_checkpoints(seq, hash, ts, kind, signature, next_key) VALUES (?,?,?,?,?,?)");
  ins.bind(1, c.seq);
  ins.bind(2, c.hash);
  ins.bind(3, static_cast<int64_t>(c.ts));
  ins.bind(4, c.kind);
  ins.bind(5, c.signature);
  ins.bind(6, c.next_key);
  ins.run();
  return {};
}

Result<std::pair<int64_t, Micros>> unsigned_tail(Database& db) {
  return guarded(
      [&]() -> Result<std::pair<int64_t, Micros>> {
        auto cp = newest_checkpoint(db);
        int64_t after = cp ? cp->seq : 0;
        Statement q(db, "SELECT COUNT(*) FROM audit_log WHERE seq > ?");
        q.bind(1, after);
        q.step();
        return std::make_pair(q.column(0).int64(), cp ? cp->ts : Micros{0});
      },
      "audit log: ");
}

Result<std::optional<Checkpoint>> write_checkpoint(Database& db, const Ed25519Key& key, const Clock& clock,
                                                   const std::string& kind, const std::string& next_key) {
  return guarded(
      [&]() -> Result<std::optional<Checkpoint>> {
        Transaction tx(db);
        Statement last(db, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
        if (!last.step()) return std::optional<Checkpoint>{};
        Checkpoint c{last.column(0).int64(), last.column(1).text(), clock.now(), kind, "", next_key};
        auto prev = newest_checkpoint(db);
        if (prev && prev->seq >= c.seq) return std::optional<Checkpoint>{};
        if (auto st = check_key_in_force(db, key); !st) {
          return make_error("refusing to sign a checkpoint: " + st.message());
        }
        // SECURITY: a signature over a tampered tail would make it look legitimate.
        if (auto st = verify_unsigned_tail(db); !st) {
          return make_error(ErrorCode::kTampered, "refusing to sign a checkpoint: " + st.message());
        }
        if (auto st = store_signed_checkpoint(db, key, c); !st) return st.error();
        tx.commit();
        return std::optional<Checkpoint>(c);
      },
      "audit log: ");
}

Result<std::optional<Checkpoint>> AuditChain::write_checkpoint(const Ed25519Key& key, const std::string& kind) {
  return recorder::write_checkpoint(db_, key, clock_, kind);
}

Result<Checkpoint> AuditChain::write_rotation_checkpoint(const Ed25519Key& old_key, const Ed25519Key& new_key) {
  auto c = recorder::write_checkpoint(db_, old_key, clock_, "rotate", base64_encode(new_key.public_key()));
  if (!c) return c.error();
  if (!*c) return make_error("nothing to sign: append the audit.key_rotate record first");
  return **c;
}

Result<std::pair<int64_t, Micros>> AuditChain::unsigned_tail() { return recorder::unsigned_tail(db_); }

Result<TailStatus> AuditChain::tail_status(std::span<const uint8_t> public_key) {
  auto tail = recorder::unsigned_tail(db_);
  if (!tail) return tail.error();
  TailStatus t;
  t.after = tail->first;
  auto newest = guarded([&]() -> Result<std::optional<Checkpoint>> { return newest_checkpoint(db_); }, "audit log: ");
  if (!newest) return newest.error();
  t.newest = *newest;
  t.newest_signed = t.newest && checkpoint_signed_by(*t.newest, public_key);
  if (auto st = verify_unsigned_tail(db_); !st) t.problem = st.message();
  return t;
}

Result<VerifyReport> AuditChain::verify(std::span<const uint8_t> public_key, int64_t through) {
  return verify_chain(db_, public_key, through);
}

}  // namespace bastion::recorder
