#include "gateway/sshd/monitor_protocol.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include "common/unique_fd.h"

namespace bastion::gateway::monitor {
namespace {

std::vector<Message> samples() {
  Authenticate a;
  a.session_id = "s-0011223344556677";
  a.fingerprint = "SHA256:abc";
  a.user_name = "root@prod-db-1";
  a.person = "alice";
  a.target = "prod-db-1";
  a.login = "root";
  a.grant_id = "GRT-0B4N8W1C";
  a.port_forwarding = true;
  Authenticate cmd;
  cmd.command_mode = true;
  cmd.user_name = "alice";
  Accepted acc;
  acc.person = "alice";
  acc.port_forwarding = true;
  acc.grant_ends_at = 1'700'000'000'000'000;
  return {AuthFailed{"SHA256:xyz"},
          AuthFailed{},
          a,
          cmd,
          Sign{{0, 1, 2, 255}, "127.0.0.1"},
          ElevationChanged{},
          acc,
          Refused{"no role allows root on prod-db-1"},
          Certificate{{9, 8, 7}, "bastion person=alice session=s-1"},
          Kill{"grant GRT-1 has ended"}};
}

TEST(MonitorProtocol, EveryMessageRoundTrips) {
  for (const auto& m : samples()) {
    auto bytes = encode(m);
    auto back = decode(bytes);
    ASSERT_TRUE(back) << type_name(type_of(m)) << ": " << back.error().message;
    EXPECT_EQ(type_of(*back), type_of(m));
    EXPECT_EQ(encode(*back), bytes) << type_name(type_of(m));
  }
  auto back = decode(encode(samples()[2]));
  const auto& a = std::get<Authenticate>(*back);
  EXPECT_EQ(a.person, "alice");
  EXPECT_EQ(a.login, "root");
  EXPECT_EQ(a.grant_id, "GRT-0B4N8W1C");
  EXPECT_TRUE(a.port_forwarding);
  EXPECT_FALSE(a.command_mode);
  EXPECT_EQ(std::get<Accepted>(*decode(encode(samples()[6]))).grant_ends_at, 1'700'000'000'000'000);
}

TEST(MonitorProtocol, EveryTruncationAndTrailingByteIsRefused) {
  for (const auto& m : samples()) {
    auto bytes = encode(m);
    for (size_t n = 0; n < bytes.size(); ++n) {
      EXPECT_FALSE(decode(std::span<const uint8_t>(bytes.data(), n))) << type_name(type_of(m)) << " cut at " << n;
    }
    bytes.push_back(0);
    EXPECT_FALSE(decode(bytes)) << type_name(type_of(m)) << " with a trailing byte";
  }
}

TEST(MonitorProtocol, UnknownTypesBadFlagsAndHugeFieldsAreRefused) {
  EXPECT_FALSE(decode(std::vector<uint8_t>{0}));
  EXPECT_FALSE(decode(std::vector<uint8_t>{5}));
  EXPECT_FALSE(decode(std::vector<uint8_t>{200}));
  // ElevationChanged has no fields; Sign's blob limit is 8 KiB.
  EXPECT_TRUE(decode(std::vector<uint8_t>{4}));
  Authenticate a;
  auto bytes = encode(a);
  bytes[1 + 3 * 4] = 2;  // command_mode, after three empty strings: only 0 or 1
  EXPECT_FALSE(decode(bytes));
  auto big = encode(Sign{std::vector<uint8_t>(8 * 1024 + 1, 1), ""});
  EXPECT_FALSE(decode(big));
  auto long_name = encode(Refused{std::string(1025, 'x')});
  EXPECT_FALSE(decode(long_name));
  EXPECT_TRUE(decode(encode(Refused{std::string(1024, 'x')})));
}

TEST(MonitorProtocol, OnePacketPerMessageOverSeqpacket) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  ASSERT_TRUE(send_message(a.get(), Kill{"bye"}));
  ASSERT_TRUE(send_message(a.get(), ElevationChanged{}));
  auto r1 = recv_message(b.get());
  ASSERT_EQ(r1.kind, Received::Kind::kMessage);
  EXPECT_EQ(std::get<Kill>(r1.message).reason, "bye");
  auto r2 = recv_message(b.get());
  ASSERT_EQ(r2.kind, Received::Kind::kMessage);
  EXPECT_EQ(type_of(r2.message), Type::kElevationChanged);
  EXPECT_EQ(recv_message(b.get(), MSG_DONTWAIT).kind, Received::Kind::kNothing);
  // A packet that is not a message, and one too large, are malformed, not fatal to the reader.
  ASSERT_EQ(::send(a.get(), "{\"type\":\"auth\"}", 15, 0), 15);
  auto r3 = recv_message(b.get());
  EXPECT_EQ(r3.kind, Received::Kind::kMalformed);
  std::vector<uint8_t> huge(kMaxMessage + 10, 3);
  ASSERT_EQ(::send(a.get(), huge.data(), huge.size(), 0), static_cast<ssize_t>(huge.size()));
  auto r4 = recv_message(b.get());
  EXPECT_EQ(r4.kind, Received::Kind::kMalformed);
  EXPECT_NE(r4.error.find("too large"), std::string::npos);
  a.reset();
  EXPECT_EQ(recv_message(b.get()).kind, Received::Kind::kClosed);
}

}  // namespace
}  // namespace bastion::gateway::monitor
