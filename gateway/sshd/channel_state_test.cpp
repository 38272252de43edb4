#include "gateway/sshd/channel_state.h"

#include <gtest/gtest.h>

namespace bastion::gateway {
namespace {

TEST(ChannelState, ClientEofIsForwardedUpstreamOnce) {
  ChannelState s;
  s.from_client.on_eof();
  EXPECT_EQ(s.from_client.half_close(), HalfClose::kEofReceived);
  EXPECT_TRUE(s.from_client.needs_eof_forwarded());
  s.from_client.eof_forwarded();
  EXPECT_EQ(s.from_client.half_close(), HalfClose::kEofForwarded);
  EXPECT_FALSE(s.from_client.needs_eof_forwarded());
  s.from_client.on_eof();  // a second EOF from a misbehaving client
  EXPECT_EQ(s.from_client.half_close(), HalfClose::kEofForwarded);
  EXPECT_FALSE(s.from_client.needs_eof_forwarded());
}

TEST(ChannelState, ForwardingAnEofNeverReceivedChangesNothing) {
  ChannelState s;
  s.from_client.eof_forwarded();
  EXPECT_EQ(s.from_client.half_close(), HalfClose::kOpen);
  EXPECT_TRUE(s.forwards_to_target());
}

TEST(ChannelState, ClientDataGoesUpstreamUntilItsEofHas) {
  ChannelState s;
  EXPECT_TRUE(s.forwards_to_target());
  s.from_client.on_eof();
  EXPECT_TRUE(s.forwards_to_target());  // what the client sent before its EOF still drains
  s.from_client.eof_forwarded();
  EXPECT_FALSE(s.forwards_to_target());  // anything after it stays unread
}

TEST(ChannelState, TargetDataReachesTheClientUntilThePairIsFinished) {
  ChannelState s;
  s.run();
  s.from_target.on_eof();
  s.from_target.eof_forwarded();
  EXPECT_TRUE(s.forwards_to_client());  // the target's EOF does not stop this direction
  s.finish();
  EXPECT_FALSE(s.forwards_to_client());
}

TEST(ChannelState, TargetEofThenExitStatusThenCloseFinishesOnCloseOnly) {
  ChannelState s;
  s.run();
  s.from_target.on_eof();
  EXPECT_TRUE(s.from_target.needs_eof_forwarded());
  EXPECT_FALSE(s.ends_when_drained());  // the exit status is still to come
  s.from_target.eof_forwarded();
  EXPECT_FALSE(s.ends_when_drained());
  s.from_target.on_close();
  EXPECT_TRUE(s.ends_when_drained());
  EXPECT_FALSE(s.finished());  // the loop finishes it, once drained
  s.finish();
  EXPECT_TRUE(s.finished());
  EXPECT_FALSE(s.ends_when_drained());
}

TEST(ChannelState, TargetEofAndCloseTogetherStillForwardTheEof) {
  // Both in one read: the EOF goes to the client before the exit status and CLOSE.
  ChannelState s;
  s.run();
  s.from_target.on_eof();
  s.from_target.on_close();
  EXPECT_TRUE(s.from_target.needs_eof_forwarded());
  EXPECT_TRUE(s.ends_when_drained());
}

TEST(ChannelState, TargetCloseBeforeEof) {
  ChannelState s;
  s.run();
  s.from_target.on_close();
  EXPECT_FALSE(s.from_target.needs_eof_forwarded());  // closing the client's channel sends its EOF
  EXPECT_TRUE(s.ends_when_drained());
  EXPECT_FALSE(s.abandoned_by_client());
}

TEST(ChannelState, ClientCloseBeforeEofAbandonsThePair) {
  ChannelState s;
  s.run();
  s.from_client.on_close();
  EXPECT_FALSE(s.from_client.needs_eof_forwarded());
  EXPECT_TRUE(s.abandoned_by_client());
  EXPECT_FALSE(s.ends_when_drained());
  s.finish();
  EXPECT_FALSE(s.abandoned_by_client());
}

TEST(ChannelState, ClientEofAndCloseTogetherStillForwardTheEof) {
  ChannelState s;
  s.run();
  s.from_client.on_eof();
  s.from_client.on_close();
  EXPECT_TRUE(s.from_client.needs_eof_forwarded());
  EXPECT_TRUE(s.abandoned_by_client());
}

TEST(ChannelState, ClientCloseBeforeTheRequestAbandonsANewPair) {
  ChannelState s;
  s.from_client.on_close();
  EXPECT_FALSE(s.started());
  EXPECT_TRUE(s.abandoned_by_client());
}

TEST(ChannelState, NoPeerEventFinishesThePairByItself) {
  ChannelState s;
  s.run();
  for (Direction* d : {&s.from_client, &s.from_target}) {
    d->on_eof();
    d->eof_forwarded();
    d->on_close();
  }
  EXPECT_FALSE(s.finished());
  EXPECT_TRUE(s.ends_when_drained());
  EXPECT_TRUE(s.abandoned_by_client());
}

TEST(ChannelState, ClientEndedByEofOrClose) {
  Direction eof, close;
  EXPECT_FALSE(eof.ended());
  eof.on_eof();
  EXPECT_TRUE(eof.ended());
  close.on_close();
  EXPECT_TRUE(close.ended());
}

TEST(ChannelState, StagesRunForward) {
  ChannelState s;
  EXPECT_EQ(s.stage(), Stage::kNew);
  EXPECT_FALSE(s.started());
  s.start();
  EXPECT_EQ(s.stage(), Stage::kStarting);
  EXPECT_TRUE(s.started());
  EXPECT_FALSE(s.running());
  s.run();
  EXPECT_EQ(s.stage(), Stage::kRunning);
  s.start();  // never back
  EXPECT_EQ(s.stage(), Stage::kRunning);
}

TEST(ChannelState, ARefusedPairIsFinishedWithoutRunning) {
  ChannelState s;
  s.start();
  s.finish();
  EXPECT_TRUE(s.started());
  EXPECT_FALSE(s.running());
  EXPECT_TRUE(s.finished());
}

TEST(ChannelState, AFinishedPairThatRanIsStillRunningUntilFreed) {
  ChannelState s;
  s.start();
  s.run();
  s.finish();
  s.finish();
  EXPECT_TRUE(s.running());
  EXPECT_TRUE(s.finished());
}

}  // namespace
}  // namespace bastion::gateway
