// The audit chain: every record carries SHA-256(prev_hash "\n" canonical
// encoding of its own fields); signed checkpoints anchor the chain so that a
// copy outside the database (a SIEM, the daemon's log) can prove what was.
//
// Contract: verify_chain() reads the whole log and reports the FIRST problem
// with its sequence number and what it is (modified, missing, reordered or
// inserted, truncated after a checkpoint, bad checkpoint signature). It never
// trusts a key stored in the database: the caller passes the public key.
#pragma once

#include <limits>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/audit_format.h"
#include "common/clock.h"
#include "common/database.h"
#include "common/ed25519_key.h"
#include "common/result.h"

namespace bastion::recorder {

// The record and checkpoint formats, the chain hash and the checkpoint
// message live in common/audit_format.h (the offline verifier uses them too).
using bastion::chain_hash;
using bastion::Checkpoint;
using bastion::checkpoint_message;
using bastion::kGenesisHash;
using bastion::StoredRecord;

// Where a retention purge cut the log: records up to `seq` were removed.
struct PurgeAnchor {
  int64_t seq = 0;
  Micros purged_at = 0;  // the time the purge checkpoint signs
  // The signed checkpoint the purge stopped at, as its audit.purge record
  // names it (verified); nullopt for a purge by a version that wrote none.
  std::optional<Checkpoint> cut_at;
};

struct VerifyReport {
  bool ok = false;
  int64_t records = 0;
  int64_t checkpoints = 0;
  // Key rotations followed from the trusted key on; checkpoints signed by
  // keys before it (when the trusted key is a rotated-to one): the chain and
  // the later signatures vouch for what they cover, their own signatures are
  // not checked. `signing_key`: base64 of the key that signs now.
  int64_t rotations = 0;
  int64_t earlier_key_checkpoints = 0;
  std::string signing_key;
  int64_t last_seq = 0;
  int64_t bad_seq = 0;               // 0 when ok
  std::string problem;               // one line, empty when ok
  std::optional<PurgeAnchor> purge;  // the newest purge anchor, if any
};

// How the newest part of the chain stands, cheaply (for a page, not an
// audit): the newest checkpoint, whether `public_key` signed it, and whether
// the records after it chain onto it. `bastionctl audit verify` checks all.
struct TailStatus {
  std::optional<Checkpoint> newest;  // nullopt: nothing signed yet
  bool newest_signed = false;        // by the key given
  int64_t after = 0;                 // records appended since the newest checkpoint
  std::string problem;               // the first record after it that does not chain; empty when all do
};

// The signed audit chain of the state database, for the process that holds
// it. Not thread-safe (one per process, like Database).
class AuditChain {
 public:
  AuditChain(Database& db, const Clock& clock) : db_(db), clock_(clock) {}

  // Signs the newest record if it is newer than the newest checkpoint, after
  // verifying every record since that checkpoint (or since the purge anchor,
  // or the first record): it never signs over a broken tail (the error names
  // the first bad record; ErrorCode::kTampered). Returns nullopt when there
  // is nothing new to sign.
  // A node whose key is not the one in force (the newest checkpoint names
  // another next key, or was signed by another key) is refused: its
  // signature would break the chain of keys.
  Result<std::optional<Checkpoint>> write_checkpoint(const Ed25519Key& key, const std::string& kind);
  // Rotates the signing key from `old_key` to `new_key`: a checkpoint signed
  // by `old_key` over everything so far (the caller has appended the
  // audit.key_rotate record) that names `new_key`. Refused over a broken tail.
  Result<Checkpoint> write_rotation_checkpoint(const Ed25519Key& old_key, const Ed25519Key& new_key);
  // Records appended since the newest checkpoint, and that checkpoint's time.
  Result<std::pair<int64_t, Micros>> unsigned_tail();
  Result<TailStatus> tail_status(std::span<const uint8_t> public_key);
  // `through`: verify only the records and checkpoints up to that seq (a
  // retention purge verifies what it is about to cut, not the whole log).
  Result<VerifyReport> verify(std::span<const uint8_t> public_key,
                              int64_t through = std::numeric_limits<int64_t>::max());

  // For an evidence export (gateway/ctl/ctl_evidence.cpp), read-only:
  // the records with seq in [from, to] in order, as stored, read in pages
  // (constant memory); the checkpoints with seq in [from, to]; the first
  // record at or after a time and the last one before it; the newest purge
  // anchor's checkpoint.
  Status for_each_record(int64_t from, int64_t to, const std::function<Status(const StoredRecord&)>& fn);
  Result<std::vector<Checkpoint>> checkpoints(int64_t from, int64_t to);
  Result<std::optional<int64_t>> first_seq_from(Micros ts);
  Result<std::optional<int64_t>> last_seq_before(Micros ts);
  Result<std::optional<Checkpoint>> newest_purge_checkpoint();

 private:
  Database& db_;
  const Clock& clock_;
};

using bastion::audit_public_key_line;
using bastion::checkpoint_log_line;
using bastion::parse_audit_public_key;

}  // namespace bastion::recorder
