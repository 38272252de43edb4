#include "gateway/sshd/maintenance_timers.h"

namespace bastion::gateway {

Micros MaintenanceTimers::period(Job job) {
  switch (job) {
    case Job::kPurge: return 3600 * kMicrosPerSecond;
    case Job::kRevocations: return kMicrosPerSecond / 2;
    case Job::kNodeCheck: return 2 * kMicrosPerSecond;
    case Job::kBackoffPrune: return 60 * kMicrosPerSecond;
    case Job::kCheckpointCheck:
    case Job::kGrantSweep:
    case Job::kBackoffLog:
    case Job::kQueueLog:
    case Job::kHeartbeat:
    case Job::kCount: break;
  }
  return kMicrosPerSecond;
}

bool MaintenanceTimers::due(Job job, Micros now, bool force) {
  Micros& next = next_[static_cast<size_t>(job)];
  if (!force && now < next) return false;
  next = now + period(job);
  return true;
}

}  // namespace bastion::gateway
