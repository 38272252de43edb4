#include <gtest/gtest.h>

#include "gateway/sshd/maintenance_timers.h"

namespace bastion::gateway {
namespace {

constexpr Micros kStart = 1'800'000'000 * kMicrosPerSecond;

TEST(MaintenanceTimers, EveryJobIsDueAtItsFirstCheck) {
  MaintenanceTimers timers;
  for (Job job :
       {Job::kCheckpointCheck, Job::kPurge, Job::kGrantSweep, Job::kBackoffPrune, Job::kBackoffLog, Job::kQueueLog}) {
    EXPECT_TRUE(timers.due(job, kStart)) << static_cast<size_t>(job);
  }
}

TEST(MaintenanceTimers, ADueCheckClaimsTheJobForOnePeriod) {
  FakeClock clock{kStart};
  MaintenanceTimers timers;
  ASSERT_TRUE(timers.due(Job::kGrantSweep, clock.now()));
  EXPECT_FALSE(timers.due(Job::kGrantSweep, clock.now()));
  clock.advance(kMicrosPerSecond - 1);
  EXPECT_FALSE(timers.due(Job::kGrantSweep, clock.now()));
  clock.advance(1);
  EXPECT_TRUE(timers.due(Job::kGrantSweep, clock.now()));
  EXPECT_FALSE(timers.due(Job::kGrantSweep, clock.now()));
}

TEST(MaintenanceTimers, PeriodsAreTheSupervisorsSchedule) {
  EXPECT_EQ(MaintenanceTimers::period(Job::kCheckpointCheck), kMicrosPerSecond);
  EXPECT_EQ(MaintenanceTimers::period(Job::kPurge), 3600 * kMicrosPerSecond);
  EXPECT_EQ(MaintenanceTimers::period(Job::kGrantSweep), kMicrosPerSecond);
  EXPECT_EQ(MaintenanceTimers::period(Job::kBackoffPrune), 60 * kMicrosPerSecond);
  EXPECT_EQ(MaintenanceTimers::period(Job::kBackoffLog), kMicrosPerSecond);
  EXPECT_EQ(MaintenanceTimers::period(Job::kQueueLog), kMicrosPerSecond);
}

TEST(MaintenanceTimers, ThePurgeRunsHourly) {
  FakeClock clock{kStart};
  MaintenanceTimers timers;
  ASSERT_TRUE(timers.due(Job::kPurge, clock.now()));
  clock.advance(3599 * kMicrosPerSecond);
  EXPECT_FALSE(timers.due(Job::kPurge, clock.now()));
  clock.advance(kMicrosPerSecond);
  EXPECT_TRUE(timers.due(Job::kPurge, clock.now()));
}

TEST(MaintenanceTimers, AForcedCheckRunsAtOnceAndRestartsThePeriod) {
  FakeClock clock{kStart};
  MaintenanceTimers timers;
  ASSERT_TRUE(timers.due(Job::kCheckpointCheck, clock.now()));
  clock.advance(kMicrosPerSecond / 2);
  EXPECT_TRUE(timers.due(Job::kCheckpointCheck, clock.now(), true));
  // The next period counts from the forced run, not from the first one.
  clock.advance(kMicrosPerSecond / 2);
  EXPECT_FALSE(timers.due(Job::kCheckpointCheck, clock.now()));
  clock.advance(kMicrosPerSecond / 2);
  EXPECT_TRUE(timers.due(Job::kCheckpointCheck, clock.now()));
}

TEST(MaintenanceTimers, JobsKeepTheirOwnDeadlines) {
  FakeClock clock{kStart};
  MaintenanceTimers timers;
  ASSERT_TRUE(timers.due(Job::kBackoffLog, clock.now()));
  // Claiming one job leaves the others due.
  EXPECT_TRUE(timers.due(Job::kQueueLog, clock.now()));
  EXPECT_TRUE(timers.due(Job::kBackoffPrune, clock.now()));
  clock.advance(kMicrosPerSecond);
  EXPECT_TRUE(timers.due(Job::kBackoffLog, clock.now()));
  EXPECT_TRUE(timers.due(Job::kQueueLog, clock.now()));
  EXPECT_FALSE(timers.due(Job::kBackoffPrune, clock.now()));
}

TEST(MaintenanceTimers, AClockThatWentBackDelaysTheJob) {
  // Deadlines are absolute: a job claimed at t is not due before t + period,
  // even if a later check passes an earlier time.
  MaintenanceTimers timers;
  ASSERT_TRUE(timers.due(Job::kGrantSweep, kStart));
  EXPECT_FALSE(timers.due(Job::kGrantSweep, kStart - 10 * kMicrosPerSecond));
}

}  // namespace
}  // namespace bastion::gateway
