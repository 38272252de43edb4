#include "gateway/app/monitor_protocol.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include "common/unique_fd.h"

namespace bastion::gateway::monitor {
namespace {

std::vector<Message> samples() {
  Authenticate a{"SHA256:abc", "sk-ssh-ed25519@openssh.com", "root@prod-db-1"};
  Accepted acc;
  acc.person = "alice";
  acc.target = "prod-db-1";
  acc.host = "10.0.0.5";
  acc.port = 2222;
  acc.host_key = "ssh-ed25519 AAAA";
  acc.recording = "strict";
  acc.principals = "login@target";
  acc.login = "root";
  acc.role = "dba";
  acc.grant_id = "GRT-0B4N8W1C";
  acc.request_id = "REQ-1";
  acc.break_glass = true;
  acc.port_forwarding = true;
  acc.grant_ends_at = 1'700'000'000'000'000;
  acc.step_up_url = "https://gw.example/mfa/K7Q2-9XHD";
  acc.step_up_timeout = 120'000'000;
  Accepted cmd;
  cmd.person = "alice";
  cmd.command_mode = true;
  SessionEnd end{"client disconnected", 1ULL << 40, 12, true, 130, "[]"};
  return {KeyProbe{"SHA256:xyz", "ssh-ed25519"},
          a,
          Sign{{0, 1, 2, 255}, "127.0.0.1"},
          ElevationChanged{},
          StepUpPoll{},
          Audit{"channel.exec", "allow", "", R"({"command":"id"})"},
          end,
          RecordingOpen{3, true},
          RecordingChunk{3, 4096, 512, std::string(64, 'a')},
          RecordingEnd{3, 4608, std::string(64, 'b')},
          Command{"approve REQ-1"},
          acc,
          cmd,
          Refused{"no role allows root on prod-db-1"},
          Certificate{{9, 8, 7}, "bastion person=alice session=s-1"},
          Kill{"grant GRT-1 has ended"},
          KeyKnown{true, false},
          KeyKnown{false, true},
          RecordingOpened{"/var/lib/bastion/recordings/2026-12-01/s-1-3.cast"},
          CommandOutput{std::string(60 * 1024, 'x'), 2, true, "https://gw/mfa/A", 5},
          Ack{},
          WebCall{WebCall::kStepUpAssert, "K7Q2-9XHD", R"({"id":"AAEC","type":"public-key","response":{}})"},
          WebAnswer{410, R"({"error":"this step-up has expired"})"},
          Control{Control::kEndUser, "alice", "access revoked: alice left"},
          ControlDone{true, "", 3},
          StepUpResult{StepUpResult::kFailed, "timed out"},
          Watch{"carol is watching this session from the web console"},
          Watch{}};
}

TEST(MonitorProtocol, EveryMessageRoundTrips) {
  for (const auto& m : samples()) {
    auto bytes = encode(m);
    auto back = decode(bytes);
    ASSERT_TRUE(back) << type_name(type_of(m)) << ": " << back.error().message;
    EXPECT_EQ(type_of(*back), type_of(m));
    EXPECT_EQ(encode(*back), bytes) << type_name(type_of(m));
  }
  auto back = decode(encode(samples()[1]));
  const auto& a = std::get<Authenticate>(*back);
  EXPECT_EQ(a.fingerprint, "SHA256:abc");
  EXPECT_EQ(a.user_name, "root@prod-db-1");
  const auto acc = std::get<Accepted>(*decode(encode(samples()[11])));
  EXPECT_EQ(acc.grant_ends_at, 1'700'000'000'000'000);
  EXPECT_EQ(acc.port, 2222u);
  EXPECT_TRUE(acc.break_glass);
  EXPECT_FALSE(acc.command_mode);
  EXPECT_EQ(acc.step_up_url, "https://gw.example/mfa/K7Q2-9XHD");
  const auto end = std::get<SessionEnd>(*decode(encode(samples()[6])));
  EXPECT_EQ(end.bytes_in, 1ULL << 40);
  EXPECT_EQ(end.exit_status, 130u);
  const auto all = samples();
  EXPECT_EQ(std::get<StepUpResult>(*decode(encode(all[all.size() - 3]))).state, StepUpResult::kFailed);
  EXPECT_EQ(std::get<Watch>(*decode(encode(all[all.size() - 2]))).notice,
            "carol is watching this session from the web console");
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
  EXPECT_FALSE(decode(std::vector<uint8_t>{8}));
  EXPECT_FALSE(decode(std::vector<uint8_t>{200}));
  // ElevationChanged has no fields; Sign's blob limit is 8 KiB.
  EXPECT_TRUE(decode(std::vector<uint8_t>{4}));
  Accepted a;
  auto bytes = encode(a);
  bytes[1 + 4] = 2;  // command_mode, after the empty person: only 0 or 1
  EXPECT_FALSE(decode(bytes));
  // Audit details may be larger than a name, within their own limit.
  EXPECT_TRUE(decode(encode(Audit{"file.write", "allow", "", std::string(12 * 1024, 'x')})));
  EXPECT_FALSE(decode(encode(Audit{"file.write", "allow", "", std::string(12 * 1024 + 1, 'x')})));
  auto big = encode(Sign{std::vector<uint8_t>(8 * 1024 + 1, 1), ""});
  EXPECT_FALSE(decode(big));
  auto long_name = encode(Refused{std::string(1025, 'x')});
  EXPECT_FALSE(decode(long_name));
  EXPECT_TRUE(decode(encode(Refused{std::string(1024, 'x')})));
  // A web call's credential (attestation certificates included) has the web channel's limit.
  EXPECT_TRUE(decode(encode(WebCall{WebCall::kInviteRegister, "t", std::string(kMaxWebBody, 'x')})));
  EXPECT_FALSE(decode(encode(WebCall{WebCall::kInviteRegister, "t", std::string(kMaxWebBody + 1, 'x')})));
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

TEST(MonitorProtocol, ADescriptorTravelsOnlyToAReaderThatAcceptsOne) {
  int sv[2], pipefd[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
  ASSERT_EQ(::pipe(pipefd), 0);
  UniqueFd a(sv[0]), b(sv[1]), rd(pipefd[0]), wr(pipefd[1]);
  ASSERT_TRUE(send_message(a.get(), RecordingOpened{"/x.cast"}, 0, wr.get()));
  auto r = recv_message(b.get(), 0, true);
  ASSERT_EQ(r.kind, Received::Kind::kMessage);
  EXPECT_EQ(std::get<RecordingOpened>(r.message).path, "/x.cast");
  ASSERT_TRUE(r.fd);
  EXPECT_NE(r.fd.get(), wr.get());
  ASSERT_EQ(::write(r.fd.get(), "k", 1), 1);
  char c = 0;
  ASSERT_EQ(::read(rd.get(), &c, 1), 1);
  EXPECT_EQ(c, 'k');
  // The monitor's side never installs a descriptor a child attaches.
  ASSERT_TRUE(send_message(a.get(), ElevationChanged{}, 0, wr.get()));
  auto plain = recv_message(b.get());
  ASSERT_EQ(plain.kind, Received::Kind::kMessage);
  EXPECT_FALSE(plain.fd);
}

}  // namespace
}  // namespace bastion::gateway::monitor
