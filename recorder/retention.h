// Retention: removes recordings and audit records older than the retention
// period, and leaves a signed "purge" checkpoint at the last removed record so
// that `audit verify` can still prove the chain of what remains.
//
// Contract: a purge cuts at the newest signed checkpoint whose record is
// older than the cutoff and lies after the current purge anchor: never past
// the last checkpoint, never backwards. It first verifies the chain before
// the cutoff (every record and checkpoint signature up to the first
// checkpoint after the cut, or to the end; audit_chain.h) and refuses if it
// does not verify, recording an `audit.alert` (a dry run refuses without
// writing). With no such checkpoint nothing is read,
// verified or removed (the usual case: the bastiond checks hourly). Records up to that seq are removed in
// one transaction with the new purge checkpoint and an `audit.purge` record
// naming the checkpoint; sessions whose `session.end` record was among them
// lose their rows and then their recording files. A purge with nothing to
// remove changes nothing. Stored times and sessions.ended_at are never trusted
// on their own.
#pragma once

#include <optional>
#include <string>

#include "common/clock.h"
#include "common/database.h"
#include "common/ed25519_key.h"
#include "common/result.h"
#include "recorder/audit_chain.h"

namespace bastion::recorder {

struct PurgeReport {
  int64_t audit_records = 0;
  int64_t recordings = 0;
  int64_t anchor_seq = 0;            // seq signed by the purge checkpoint (0: none written)
  int64_t previous_anchor = 0;       // the purge anchor before this purge (0: none)
  std::optional<Checkpoint> cut_at;  // the signed checkpoint the purge (or dry run) cuts at; nullopt: none
};

// Retention of the state database's audit log and the sessions it ends.
// Not thread-safe (one per process, like Database).
class Retention {
 public:
  Retention(Database& db, const Clock& clock) : db_(db), clock_(clock) {}

  // `actor` goes into the audit.purge record ("system" for the daemon's timer).
  Result<PurgeReport> purge_older_than(const Ed25519Key& key, Micros cutoff, bool dry_run,
                                       const std::string& actor = "system");

 private:
  Database& db_;
  const Clock& clock_;
};

}  // namespace bastion::recorder
