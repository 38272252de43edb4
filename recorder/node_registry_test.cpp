// Several gateway nodes on one database: heartbeats, nodes declared down
// with their sessions, and claims on work exactly one node does.
#include "recorder/node_registry.h"

#include <gtest/gtest.h>

#include "recorder/session_log.h"
#include "tests/support/audit_store_fixture.h"

namespace bastion::recorder {
namespace {

class NodeRegistryTest : public testing::AuditStoreTest {
 protected:
  void SetUp() override {
    AuditStoreTest::SetUp();
    nodes = std::make_unique<NodeRegistry>(*db, clock);
    for (const char* n : {"a", "b"}) ASSERT_TRUE(nodes->start(n, "127.0.0.1:22", "restarted"));
  }
  Claim claim(const std::string& item, const std::string& self) {
    auto c = nodes->claim(item, self, kNodeTimeout);
    EXPECT_TRUE(c) << c.error().message;
    return c ? *c : Claim{};
  }
  std::unique_ptr<NodeRegistry> nodes;
};

TEST_F(NodeRegistryTest, AClaimIsHeldByOneNodeUntilReleased) {
  Claim a = claim("hr-spool:x.jsonl", "a");
  EXPECT_TRUE(a.mine);
  EXPECT_FALSE(a.taken_over);
  Claim b = claim("hr-spool:x.jsonl", "b");
  EXPECT_FALSE(b.mine);
  EXPECT_EQ(b.holder, "a");
  EXPECT_TRUE(claim("hr-spool:x.jsonl", "a").mine);  // asking again
  EXPECT_TRUE(claim("hr-spool:y.jsonl", "b").mine);  // another item
  // Only the holder releases it.
  ASSERT_TRUE(nodes->release("hr-spool:x.jsonl", "b"));
  EXPECT_FALSE(claim("hr-spool:x.jsonl", "b").mine);
  ASSERT_TRUE(nodes->release("hr-spool:x.jsonl", "a"));
  EXPECT_TRUE(claim("hr-spool:x.jsonl", "b").mine);
}

TEST_F(NodeRegistryTest, TheClaimOfANodeThatStoppedIsTakenOver) {
  ASSERT_TRUE(claim("cluster-lead", "a").mine);
  // b keeps its heartbeat; a's stops.
  clock.advance(kNodeTimeout / 2);
  ASSERT_TRUE(nodes->heartbeat("b"));
  EXPECT_FALSE(claim("cluster-lead", "b").mine);
  clock.advance(kNodeTimeout / 2 + 1);
  ASSERT_TRUE(nodes->heartbeat("b"));
  Claim b = claim("cluster-lead", "b");
  EXPECT_TRUE(b.mine);
  EXPECT_TRUE(b.taken_over);
  EXPECT_EQ(b.holder, "a");
  // a comes back (heartbeat again): the lead stays with b.
  ASSERT_TRUE(nodes->heartbeat("a"));
  Claim a = claim("cluster-lead", "a");
  EXPECT_FALSE(a.mine);
  EXPECT_EQ(a.holder, "b");
}

TEST_F(NodeRegistryTest, ANodeDeclaredDownLosesItsClaimsAndItsLiveSessions) {
  SessionLog sessions(*db, clock);
  SessionRecord s{"S-1", "alice", "prod", "root", "1.2.3.4:1", 42, clock.now(), {}, 0, 0, {}, "", "", "b"};
  ASSERT_TRUE(sessions.start(s));
  ASSERT_TRUE(claim("hr-spool:z.jsonl", "b").mine);
  clock.advance(kNodeTimeout + 1);
  ASSERT_TRUE(nodes->heartbeat("a"));
  auto down = nodes->declare_silent_nodes_down("a", kNodeTimeout);
  ASSERT_TRUE(down) << down.error().message;
  ASSERT_EQ(down->size(), 1u);
  EXPECT_EQ((*down)[0].node.name, "b");
  ASSERT_EQ((*down)[0].sessions.size(), 1u);
  auto row = sessions.find("S-1");
  ASSERT_TRUE(row && *row);
  EXPECT_TRUE((*row)->ended_at.has_value());
  EXPECT_NE((*row)->end_reason.find("ended unclean: gateway node b stopped"), std::string::npos);
  // Declared once: the next check finds nobody new.
  auto again = nodes->declare_silent_nodes_down("a", kNodeTimeout);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty());
  Claim a = claim("hr-spool:z.jsonl", "a");
  EXPECT_TRUE(a.mine);
  EXPECT_TRUE(a.taken_over);
}

}  // namespace
}  // namespace bastion::recorder
