// The monitor's dispatch table without a socket: what a connection process
// may ask in each state, and what only once. A compromised child that asks
// out of turn is killed; these are the turns.
#include <gtest/gtest.h>

#include <vector>

#include "gateway/sshd/monitor_rules.h"

namespace bastion::gateway {
namespace {

using monitor::Type;

const ChildState kStates[] = {ChildState::kPreauth, ChildState::kStepUp,  ChildState::kProxy,
                              ChildState::kCommand, ChildState::kRefused, ChildState::kKilled};

// The states in which `type` is admitted (asked for the first time).
std::vector<ChildState> admitted_in(Type type) {
  std::vector<ChildState> out;
  for (ChildState s : kStates) {
    AskedOnce fresh;
    if (!admit(type, s, fresh)) out.push_back(s);
  }
  return out;
}

TEST(MonitorRules, BeforeLoginAChildMayOnlyProbeKeysAuthenticateAndEnd) {
  EXPECT_EQ(admitted_in(Type::kKeyProbe), std::vector<ChildState>{ChildState::kPreauth});
  EXPECT_EQ(admitted_in(Type::kAuthenticate), std::vector<ChildState>{ChildState::kPreauth});
  for (Type t : {Type::kSign, Type::kAudit, Type::kCommand, Type::kRecordingOpen, Type::kElevationChanged}) {
    AskedOnce asked;
    auto refused = admit(t, ChildState::kPreauth, asked);
    ASSERT_TRUE(refused) << monitor::type_name(t);
    EXPECT_NE(refused->find("in state pre-auth"), std::string::npos) << *refused;
  }
}

TEST(MonitorRules, OnlyAProxySessionGetsACertificateAndOnlyOnce) {
  EXPECT_EQ(admitted_in(Type::kSign), std::vector<ChildState>{ChildState::kProxy});
  AskedOnce asked;
  EXPECT_FALSE(admit(Type::kSign, ChildState::kProxy, asked));
  auto again = admit(Type::kSign, ChildState::kProxy, asked);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, "repeated one-time request " + std::string(monitor::type_name(Type::kSign)));
}

TEST(MonitorRules, RecordingsBelongToProxySessionsAndRepeatFreely) {
  for (Type t : {Type::kRecordingOpen, Type::kRecordingChunk, Type::kRecordingEnd}) {
    EXPECT_EQ(admitted_in(t), std::vector<ChildState>{ChildState::kProxy}) << monitor::type_name(t);
    AskedOnce asked;
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(admit(t, ChildState::kProxy, asked));
  }
}

TEST(MonitorRules, CommandModeRequestsOnlyInCommandMode) {
  EXPECT_EQ(admitted_in(Type::kCommand), std::vector<ChildState>{ChildState::kCommand});
  EXPECT_EQ(admitted_in(Type::kElevationChanged), std::vector<ChildState>{ChildState::kCommand});
  EXPECT_EQ(admitted_in(Type::kStepUpPoll), (std::vector<ChildState>{ChildState::kStepUp, ChildState::kCommand}));
  EXPECT_EQ(admitted_in(Type::kAudit), (std::vector<ChildState>{ChildState::kProxy, ChildState::kCommand}));
}

TEST(MonitorRules, TheSessionEndIsAcceptedOnceInEveryLiveStateAndNeverFromAKilledChild) {
  EXPECT_EQ(admitted_in(Type::kSessionEnd),
            (std::vector<ChildState>{ChildState::kPreauth, ChildState::kStepUp, ChildState::kProxy,
                                     ChildState::kCommand, ChildState::kRefused}));
  AskedOnce asked;
  EXPECT_FALSE(admit(Type::kSessionEnd, ChildState::kRefused, asked));
  EXPECT_TRUE(admit(Type::kSessionEnd, ChildState::kProxy, asked));
}

TEST(MonitorRules, AOneTimeRequestRefusedForItsStateIsNotUsedUp) {
  AskedOnce asked;
  EXPECT_TRUE(admit(Type::kSign, ChildState::kPreauth, asked));
  EXPECT_EQ(asked.bits, 0u);
}

TEST(MonitorRules, MessagesOnlyTheMonitorOrOtherPeersSendAreNeverAdmittedFromAChild) {
  for (Type t : {Type::kAccepted, Type::kRefused, Type::kCertificate, Type::kKill, Type::kKeyKnown, Type::kStepUpResult,
                 Type::kRecordingOpened, Type::kCommandOutput, Type::kAck, Type::kWebAnswer, Type::kControlDone,
                 Type::kWebCall, Type::kControl, Type::kWatch}) {
    EXPECT_TRUE(admitted_in(t).empty()) << monitor::type_name(t);
  }
}

}  // namespace
}  // namespace bastion::gateway
