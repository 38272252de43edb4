// verify_chain(): walks the audit log once, in sequence order.
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/database_sql.h"
#include "common/encoding.h"
#include "recorder/audit_chain.h"
#include "recorder/recorder_sql.h"

namespace bastion::recorder {
namespace {

StoredRecord read_record_row(Statement& q) {
  StoredRecord s;
  s.seq = q.column(0).int64();
  s.ts = q.column(1).int64();
  s.actor = q.column(2).text();
  s.action = q.column(3).text();
  s.target = q.column(4).text();
  s.login = q.column(5).text();
  s.source = q.column(6).text();
  s.session_id = q.column(7).text();
  s.outcome = q.column(8).text();
  s.reason = q.column(9).text();
  s.details = q.column(10).text();
  s.prev_hash = q.column(11).text();
  s.hash = q.column(12).text();
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
  Statement q(db, std::string(kCheckpointColumns) + " FROM audit_checkpoints ORDER BY seq");
  while (q.step()) {
    Checkpoint c = read_checkpoint(q);
    out.emplace(c.seq, c);
  }
  return out;
}

bool signature_ok(const Checkpoint& c, std::span<const uint8_t> public_key) {
  return checkpoint_signed_by(c, public_key);
}

// Each checkpoint must be signed by the key in force at it: the trusted key,
// then each key a rotation checkpoint names. When the trusted key is one a
// rotation named, the checkpoints up to that rotation were signed by earlier
// keys: counted, not checked (the chain binds what they cover to the later,
// checked ones).
// The keys in force: `first` from the start (or, when `unknown_through` is
// set, after that seq), each rotation's key after its checkpoint.
struct KeyChain {
  std::optional<int64_t> unknown_through;
  std::vector<uint8_t> first;
  std::vector<std::pair<int64_t, std::vector<uint8_t>>> rotations;  // (seq of the rotation checkpoint, next key)

  // The key that signs a checkpoint at `seq`; nullopt for an earlier key than the trusted one.
  std::optional<std::vector<uint8_t>> at(int64_t seq) const {
    const std::vector<uint8_t>* k = &first;
    for (const auto& [rot, key] : rotations) {
      if (rot < seq) k = &key;
    }
    if (k == &first && unknown_through && seq <= *unknown_through) return std::nullopt;
    return *k;
  }
};

KeyChain check_signatures(VerifyReport& r, const std::map<int64_t, Checkpoint>& cps,
                          std::span<const uint8_t> public_key) {
  KeyChain chain;
  chain.first.assign(public_key.begin(), public_key.end());
  const std::string trusted = base64_encode(public_key);
  std::optional<int64_t> rotated_to_trusted;
  for (const auto& [seq, c] : cps) {
    if (c.next_key == trusted) {
      rotated_to_trusted = seq;
      break;
    }
  }
  chain.unknown_through = rotated_to_trusted;
  std::vector<uint8_t> in_force(public_key.begin(), public_key.end());
  for (const auto& [seq, c] : cps) {
    if (rotated_to_trusted && seq <= *rotated_to_trusted) {
      ++r.earlier_key_checkpoints;
      continue;
    }
    if (!signature_ok(c, in_force)) {
      fail(r, seq,
           "checkpoint at seq " + std::to_string(seq) + " has a bad signature (forged or altered" +
               (r.rotations > 0 ? ", or not signed by the key the rotation before it named" : "") + ")");
      break;
    }
    if (!c.next_key.empty()) {
      auto next = base64_decode(c.next_key);
      if (!next || next->size() != 32) {
        fail(r, seq, "checkpoint at seq " + std::to_string(seq) + " names a malformed next key");
        break;
      }
      in_force = *next;
      chain.rotations.emplace_back(seq, *next);
      ++r.rotations;
    }
  }
  r.signing_key = base64_encode(in_force);
  return chain;
}

// Where the chain stands: the record that must come next, the hash it must
// name, and the time it must not precede (none at the start of the log or
// right after a purge anchor, whose record is gone).
struct Link {
  int64_t next_seq = 1;
  std::string hash = kGenesisHash;
  std::optional<Micros> ts;
};

struct Problem {
  int64_t seq = 0;
  std::string what;
};

// The first problem of `s` as the record after `at`, if any; moves `at` past `s`.
std::optional<Problem> follow(Link& at, const StoredRecord& s) {
  std::string n = std::to_string(s.seq), before = std::to_string(s.seq - 1);
  std::optional<Problem> p;
  if (s.seq != at.next_seq) {
    p = Problem{at.next_seq, "record " + std::to_string(at.next_seq) + " is missing (deleted)"};
  } else if (s.prev_hash != at.hash) {
    p = Problem{s.seq, "record " + n + " does not follow record " + before + " (records reordered or inserted)"};
  } else if (chain_hash(s.prev_hash, s) != s.hash) {
    p = Problem{s.seq, "record " + n + " was modified (its hash does not match its contents)"};
  } else if (at.ts && s.ts < *at.ts) {
    // SECURITY: retention trusts the times of verified records; a record
    // dated before its predecessor would let a purge reach past it.
    p = Problem{s.seq, "record " + n + " is dated before record " + before + " (timestamps must not decrease)"};
  }
  at = Link{s.seq + 1, s.hash, s.ts};
  return p;
}

// The checkpoint an audit.purge record's details name; nullopt when malformed.
std::optional<Checkpoint> named_checkpoint(const nlohmann::json& details) {
  try {
    const auto& j = details.at("checkpoint");
    return Checkpoint{
        j.at("seq").get<int64_t>(),      j.at("hash").get<std::string>(),      j.at("ts").get<Micros>(),
        j.at("kind").get<std::string>(), j.at("signature").get<std::string>(), j.value("next_key", std::string())};
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

// An audit.purge record names the signed checkpoint its purge stopped at;
// the one for the current anchor goes into the report.
void note_purge_record(VerifyReport& r, const StoredRecord& s, const Checkpoint& anchor, const KeyChain& keys) {
  auto d = nlohmann::json::parse(s.details, nullptr, false);
  if (!d.is_object() || !d.contains("anchor_seq") || d["anchor_seq"] != anchor.seq) return;
  auto c = named_checkpoint(d);
  // Signed by the key in force at its seq (unchecked when that is a key
  // before the trusted one: the chain binds it).
  auto key = c ? keys.at(c->seq) : std::nullopt;
  if (!c || c->seq != anchor.seq || c->hash != anchor.hash || (key && !signature_ok(*c, *key))) {
    fail(r, s.seq,
         "record " + std::to_string(s.seq) +
             " (audit.purge) does not name a valid checkpoint at the "
             "purge anchor, seq " +
             std::to_string(anchor.seq));
    return;
  }
  r.purge->cut_at = c;
}

}  // namespace

StoredRecord read_record(Statement& q) { return read_record_row(q); }

Status verify_unsigned_tail(Database& db) {
  try {
    Link at;
    Statement cp(db, "SELECT seq, hash FROM audit_checkpoints ORDER BY seq DESC LIMIT 1");
    if (cp.step()) {
      at.next_seq = cp.column(0).int64() + 1;
      at.hash = cp.column(1).text();
      Statement signed_ts(db, "SELECT ts FROM audit_log WHERE seq = ?");
      signed_ts.bind(1, at.next_seq - 1);
      if (signed_ts.step()) at.ts = signed_ts.column(0).int64();  // gone after a purge
    }
    Statement q(db, std::string(kRecordColumns) + " FROM audit_log WHERE seq >= ? ORDER BY seq");
    q.bind(1, at.next_seq);
    while (q.step()) {
      if (auto p = follow(at, read_record(q))) return make_error(p->what);
    }
    return {};
  } catch (const DatabaseError& e) {
    return database_error("audit log: ", e);
  }
}

Result<VerifyReport> verify_chain(Database& db, std::span<const uint8_t> public_key, int64_t through) {
  try {
    VerifyReport r;
    r.ok = true;
    auto cps = load_checkpoints(db);
    cps.erase(cps.upper_bound(through), cps.end());
    r.checkpoints = static_cast<int64_t>(cps.size());
    const KeyChain keys = check_signatures(r, cps, public_key);
    Statement q(db, std::string(kRecordColumns) + " FROM audit_log WHERE seq <= ? ORDER BY seq");
    q.bind(1, through);
    // After a retention purge, the chain starts at the newest signed purge
    // anchor: the record it names was removed, its hash vouches for the rest.
    Link at;
    std::optional<Checkpoint> purge;
    for (const auto& [seq, c] : cps) {
      if (c.kind == "purge") purge = c;  // cps is ordered by seq: the last one is the newest
    }
    if (purge) {
      at.next_seq = purge->seq + 1;
      at.hash = purge->hash;
      r.purge = PurgeAnchor{purge->seq, purge->ts, std::nullopt};
    }
    const int64_t anchor = at.next_seq - 1;
    while (q.step()) {
      StoredRecord s = read_record(q);
      if (s.seq <= anchor) continue;  // older than the anchor: not part of the chain any more
      ++r.records;
      r.last_seq = s.seq;
      std::string n = std::to_string(s.seq);
      if (auto p = follow(at, s)) {
        fail(r, p->seq, p->what);
      } else if (purge && s.action == "audit.purge") {
        note_purge_record(r, s, *purge, keys);
      }
      if (auto it = cps.find(s.seq); it != cps.end() && it->second.kind != "purge" && it->second.hash != s.hash) {
        fail(r, s.seq, "record " + n + " does not match the signed checkpoint at seq " + n);
      }
    }
    if (r.records == 0) r.last_seq = anchor;
    if (!cps.empty() && cps.rbegin()->first > r.last_seq) {
      int64_t cp = cps.rbegin()->first;
      fail(r, r.last_seq + 1,
           "log truncated: a checkpoint signs seq " + std::to_string(cp) + " but the log ends at seq " +
               std::to_string(r.last_seq));
    }
    return r;
  } catch (const DatabaseError& e) {
    return database_error("audit log: ", e);
  }
}

}  // namespace bastion::recorder
