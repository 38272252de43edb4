#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gateway/sshd/child_table.h"

namespace bastion::gateway {
namespace {

constexpr Micros kStart = 1'800'000'000 * kMicrosPerSecond;

// A table with small caps, and helpers to fill it; no process, no socket.
class ChildTableTest : public ::testing::Test {
 protected:
  ChildTableTest() {
    cfg_.max_unauthenticated = 3;
    cfg_.max_unauthenticated_per_source = 2;
    cfg_.max_queued = 4;
    cfg_.max_queued_per_source = 2;
    cfg_.login_grace_time = 30 * kMicrosPerSecond;
  }

  void add_child(int pid, const std::string& group, bool authenticated = false) {
    ChildInfo c;
    c.pid = pid;
    c.source_group = group;
    c.authenticated = authenticated;
    table_.add(std::move(c));
  }

  bool wait(const std::string& ip, const std::string& port) {
    return table_.wait({UniqueFd(), ip, ip, port, clock_.now()});
  }

  // Serves what may be served now; returns "ip:port" of each, in order.
  std::vector<std::string> serve(bool stopping = false) {
    std::vector<std::string> served;
    table_.serve_waiting(stopping, [&](Waiting w) { served.push_back(w.ip + ":" + w.port); });
    return served;
  }

  Config cfg_;
  FakeClock clock_{kStart};
  ChildTable table_{cfg_, clock_};
};

TEST_F(ChildTableTest, FindsAddsAndErasesByPid) {
  add_child(100, "192.0.2.1");
  add_child(101, "192.0.2.2");
  ASSERT_NE(table_.find(101), nullptr);
  EXPECT_EQ(table_.find(101)->source_group, "192.0.2.2");
  EXPECT_EQ(table_.find(102), nullptr);
  EXPECT_EQ(table_.size(), 2u);
  table_.erase(100);
  EXPECT_EQ(table_.find(100), nullptr);
  EXPECT_EQ(table_.size(), 1u);
  int visited = 0;
  for (auto& [pid, c] : table_) visited += pid == c.pid;
  EXPECT_EQ(visited, 1);
}

TEST_F(ChildTableTest, CapsUnauthenticatedConnectionsOverall) {
  add_child(1, "192.0.2.1");
  add_child(2, "192.0.2.2");
  EXPECT_TRUE(table_.room_to_serve("192.0.2.3"));
  add_child(3, "192.0.2.3");
  EXPECT_FALSE(table_.room_to_serve("192.0.2.4"));
  // Authenticated sessions do not count against the cap.
  table_.find(2)->authenticated = true;
  EXPECT_TRUE(table_.room_to_serve("192.0.2.4"));
}

TEST_F(ChildTableTest, CapsUnauthenticatedConnectionsPerSource) {
  add_child(1, "2001:db8:1::/64");
  add_child(2, "2001:db8:1::/64");
  EXPECT_FALSE(table_.room_to_serve("2001:db8:1::/64"));
  EXPECT_TRUE(table_.room_to_serve("2001:db8:2::/64"));
  add_child(3, "2001:db8:1::/64", true);  // authenticated: not counted
  table_.find(1)->authenticated = true;
  EXPECT_TRUE(table_.room_to_serve("2001:db8:1::/64"));
}

TEST_F(ChildTableTest, QueueIsBoundedOverallAndPerSource) {
  EXPECT_TRUE(wait("192.0.2.1", "1"));
  EXPECT_TRUE(wait("192.0.2.1", "2"));
  EXPECT_FALSE(wait("192.0.2.1", "3"));  // max_queued_per_source
  EXPECT_EQ(table_.waiting_from("192.0.2.1"), 2u);
  EXPECT_TRUE(wait("192.0.2.2", "1"));
  EXPECT_TRUE(wait("192.0.2.3", "1"));
  EXPECT_FALSE(wait("192.0.2.4", "1"));  // max_queued
  EXPECT_EQ(table_.waiting(), 4u);
  EXPECT_EQ(table_.waiting_from("192.0.2.4"), 0u);
}

TEST_F(ChildTableTest, NothingIsServedWhileTheCapsAreReached) {
  add_child(1, "192.0.2.1");
  add_child(2, "192.0.2.2");
  add_child(3, "192.0.2.3");
  ASSERT_TRUE(wait("192.0.2.9", "1"));
  EXPECT_TRUE(serve().empty());
  EXPECT_EQ(table_.waiting(), 1u);
  table_.erase(2);  // a slot frees
  EXPECT_EQ(serve(), std::vector<std::string>{"192.0.2.9:1"});
  EXPECT_EQ(table_.waiting(), 0u);
}

TEST_F(ChildTableTest, ServesOldestFirstAndASourceAtItsCapDoesNotHoldUpOthers) {
  add_child(1, "192.0.2.1");
  add_child(2, "192.0.2.1");  // 192.0.2.1 is at its per-source cap
  ASSERT_TRUE(wait("192.0.2.1", "10"));
  ASSERT_TRUE(wait("192.0.2.2", "20"));
  ASSERT_TRUE(wait("192.0.2.3", "30"));
  // One overall slot is left (cap 3): the oldest that may be served gets it.
  std::vector<std::string> served;
  table_.serve_waiting(false, [&](Waiting w) {
    served.push_back(w.ip + ":" + w.port);
    ChildInfo c;
    c.pid = 100 + static_cast<int>(served.size());
    c.source_group = w.group;
    table_.add(std::move(c));  // as spawn() does
  });
  EXPECT_EQ(served, std::vector<std::string>{"192.0.2.2:20"});
  EXPECT_EQ(table_.waiting(), 2u);
  // Two sessions authenticate: the rest are served in order.
  table_.find(1)->authenticated = true;
  table_.find(2)->authenticated = true;
  EXPECT_EQ(serve(), (std::vector<std::string>{"192.0.2.1:10", "192.0.2.3:30"}));
}

TEST_F(ChildTableTest, WaitersPastLoginGraceTimeAreClosed) {
  add_child(1, "192.0.2.1");
  add_child(2, "192.0.2.2");
  add_child(3, "192.0.2.3");
  ASSERT_TRUE(wait("192.0.2.9", "1"));
  clock_.advance(10 * kMicrosPerSecond);
  ASSERT_TRUE(wait("192.0.2.9", "2"));
  clock_.advance(20 * kMicrosPerSecond - 1);
  EXPECT_TRUE(serve().empty());
  EXPECT_EQ(table_.waiting(), 2u);
  clock_.advance(1);  // the first has waited login_grace_time
  EXPECT_TRUE(serve().empty());
  EXPECT_EQ(table_.waiting(), 1u);
  // A slot frees: the one still within its grace time is served.
  table_.erase(1);
  EXPECT_EQ(serve(), std::vector<std::string>{"192.0.2.9:2"});
}

TEST_F(ChildTableTest, StoppingClosesEveryWaiter) {
  ASSERT_TRUE(wait("192.0.2.1", "1"));
  ASSERT_TRUE(wait("192.0.2.2", "1"));
  EXPECT_TRUE(serve(true).empty());
  EXPECT_EQ(table_.waiting(), 0u);
}

TEST_F(ChildTableTest, AbandonAfterForkForgetsWaitersAndChannels) {
  add_child(1, "192.0.2.1");
  table_.find(1)->channel = UniqueFd(::dup(2));
  ASSERT_TRUE(table_.find(1)->channel);
  ASSERT_TRUE(wait("192.0.2.1", "1"));
  table_.abandon_after_fork();
  EXPECT_FALSE(table_.find(1)->channel);
  EXPECT_EQ(table_.waiting(), 0u);
}

}  // namespace
}  // namespace bastion::gateway
