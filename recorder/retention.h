// Retention: removes recordings and audit records older than the retention
// period, and leaves a signed "purge" checkpoint at the last removed record so
// that `audit verify` can still prove the chain of what remains.
//
// Contract: audit records are removed as a prefix (seq <= N) in one
// transaction together with the new purge checkpoint; recordings of sessions
// that ended before the cutoff are deleted after their rows. A purge with
// nothing to remove changes nothing.
#pragma once

#include <string>

#include "common/clock.h"
#include "common/database.h"
#include "common/ed25519_key.h"
#include "common/result.h"

namespace bastion::recorder {

struct PurgeReport {
  int64_t audit_records = 0;
  int64_t recordings = 0;
  int64_t anchor_seq = 0;  // seq signed by the purge checkpoint (0: none written)
};

Result<PurgeReport> purge_older_than(Database& db, const Ed25519Key& key, const Clock& clock, Micros cutoff,
                                     bool dry_run);

}  // namespace bastion::recorder
