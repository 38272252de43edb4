// MaintenanceTimers: when each of the supervisor's periodic jobs is next
// due. The jobs themselves stay with their owners; this only says "now".
//
// Contract: every job is due at its first check; a check that finds it due
// (or is forced) claims it, and the job is next due one period after that
// `now`. A forced check always claims. Times are whatever the caller's clock
// says (no clock is read here). Not thread-safe (the supervisor's loop).
#pragma once

#include <array>
#include <cstddef>

#include "common/clock.h"

namespace bastion::gateway {

// The supervisor's periodic jobs, each with its period (maintenance_timers.cpp).
enum class Job : size_t {
  kCheckpointCheck,  // 1 s: forward to syslog, checkpoint the audit log when due
  kPurge,            // 1 h: the retention purge
  kGrantSweep,       // 1 s: expire grants, end sessions whose grant ended
  kBackoffPrune,     // 60 s: forget idle back-off records
  kBackoffLog,       // 1 s: at most one "back-off" refusal logged per period
  kQueueLog,         // 1 s: at most one "queue full" refusal logged per period
  kRevocations,      // 0.5 s: act on revocations other gateway nodes published (when no wake-up came)
  kHeartbeat,        // 1 s: this node's heartbeat (several nodes on PostgreSQL)
  kNodeCheck,        // 2 s: declare nodes whose heartbeat stopped down, ending their sessions
  kCount,
};

class MaintenanceTimers {
 public:
  // Whether `job` is to run at `now` (or `force`d); if so, claims it.
  [[nodiscard]] bool due(Job job, Micros now, bool force = false);
  // How often `job` runs.
  [[nodiscard]] static Micros period(Job job);

 private:
  std::array<Micros, static_cast<size_t>(Job::kCount)> next_{};  // 0: due at the first check
};

}  // namespace bastion::gateway
