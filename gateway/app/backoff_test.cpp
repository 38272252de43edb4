#include <gtest/gtest.h>

#include "gateway/app/backoff.h"

namespace bastion::gateway {
namespace {

constexpr Micros kS = kMicrosPerSecond;

TEST(Backoff, DoublesFromOneSecondUpToTheMaximumAndSuccessClears) {
  Backoff b(3, 10 * kS);
  Micros t = 1000 * kS;
  b.failure("1.2.3.4", t);
  b.failure("1.2.3.4", t);
  EXPECT_EQ(b.blocked_until("1.2.3.4", t), 0);
  b.failure("1.2.3.4", t);
  EXPECT_EQ(b.blocked_until("1.2.3.4", t), t + 1 * kS);
  EXPECT_EQ(b.blocked_until("1.2.3.4", t + kS), 0);
  b.failure("1.2.3.4", t + kS);
  EXPECT_EQ(b.blocked_until("1.2.3.4", t + kS), t + 3 * kS);
  for (int i = 0; i < 10; ++i) b.failure("1.2.3.4", t + 2 * kS);
  EXPECT_EQ(b.blocked_until("1.2.3.4", t + 2 * kS), t + 12 * kS);  // capped at 10 s
  EXPECT_EQ(b.blocked_until("5.6.7.8", t), 0);
  b.success("1.2.3.4");
  EXPECT_EQ(b.blocked_until("1.2.3.4", t + 2 * kS), 0);
}

TEST(Backoff, ForgetsIdleRecordsAndStaysBounded) {
  Backoff b(1, 60 * kS);
  b.failure("a", 0);
  b.prune(Backoff::kForgetAfter + 1);
  EXPECT_EQ(b.size(), 0u);
  for (size_t i = 0; i < Backoff::kMaxEntries + 10; ++i) b.failure("k" + std::to_string(i), static_cast<Micros>(i));
  EXPECT_EQ(b.size(), Backoff::kMaxEntries);
  Backoff off(0, 60 * kS);
  off.failure("x", 0);
  EXPECT_EQ(off.blocked_until("x", 0), 0);
}

}  // namespace
}  // namespace bastion::gateway
