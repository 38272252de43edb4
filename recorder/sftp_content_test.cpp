// SftpReplay: files put back together from a recorded SFTP conversation.
#include "recorder/sftp_content.h"

#include <gtest/gtest.h>

#include <random>

namespace bastion::recorder {
namespace {

std::string u32(uint32_t v) {
  std::string s;
  for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((v >> shift) & 0xff);
  return s;
}
std::string u64(uint64_t v) { return u32(static_cast<uint32_t>(v >> 32)) + u32(static_cast<uint32_t>(v)); }
std::string str(std::string_view s) { return u32(static_cast<uint32_t>(s.size())) + std::string(s); }
std::string packet(uint8_t type, uint32_t id, const std::string& body) {
  std::string p = std::string(1, static_cast<char>(type)) + u32(id) + body;
  return u32(static_cast<uint32_t>(p.size())) + p;
}
std::string open_req(uint32_t id, std::string_view path) { return packet(3, id, str(path) + u32(1) + u32(0)); }
std::string handle_ans(uint32_t id, std::string_view h) { return packet(102, id, str(h)); }
std::string write_req(uint32_t id, std::string_view h, uint64_t off, std::string_view data) {
  return packet(6, id, str(h) + u64(off) + str(data));
}
std::string read_req(uint32_t id, std::string_view h, uint64_t off, uint32_t len) {
  return packet(5, id, str(h) + u64(off) + u32(len));
}
std::string data_ans(uint32_t id, std::string_view data) { return packet(103, id, str(data)); }
std::string close_req(uint32_t id, std::string_view h) { return packet(4, id, str(h)); }
const std::string kInit = u32(5) + std::string(1, '\1') + u32(3);
const std::string kVersion = u32(5) + std::string(1, '\2') + u32(3);

// Replays (client, server) pieces in order; returns the content of transfer `want`.
struct Replayed {
  std::string out;
  Status status;
  std::vector<SftpTransfer> transfers;
};
Replayed replay(const std::vector<std::pair<bool, std::string>>& pieces, int want, bool byte_by_byte = false) {
  Replayed r;
  SftpReplay rp(want, [&](std::string_view b) {
    r.out.append(b);
    return Status{};
  });
  for (const auto& [from_client, bytes] : pieces) {
    size_t step = byte_by_byte ? 1 : bytes.size();
    for (size_t i = 0; i < bytes.size() && r.status; i += step) {
      std::string_view b = std::string_view(bytes).substr(i, step);
      r.status = from_client ? rp.client(b) : rp.server(b);
    }
  }
  if (r.status) r.status = rp.finish();
  r.transfers = rp.transfers();
  return r;
}

TEST(SftpReplay, AnUploadIsTheBytesTheClientWrote) {
  std::vector<std::pair<bool, std::string>> conv = {
      {true, kInit},
      {false, kVersion},
      {true, open_req(1, "/tmp/up.bin")},
      {false, handle_ans(1, "h1")},
      {true, write_req(2, "h1", 0, "hello ") + write_req(3, "h1", 6, std::string("w\0rld", 5))},
      {true, close_req(4, "h1")},
  };
  for (bool split : {false, true}) {
    Replayed r = replay(conv, 1, split);
    ASSERT_TRUE(r.status) << r.status.message();
    EXPECT_EQ(r.out, std::string("hello w\0rld", 11));
    ASSERT_EQ(r.transfers.size(), 1u);
    EXPECT_EQ(r.transfers[0].path, "/tmp/up.bin");
    EXPECT_EQ(r.transfers[0].uploaded, 11u);
    EXPECT_EQ(r.transfers[0].downloaded, 0u);
    EXPECT_TRUE(r.transfers[0].closed);
  }
}

TEST(SftpReplay, ADownloadIsPutTogetherByOffsetWhateverTheOrderOfAnswers) {
  Replayed r = replay({{true, open_req(1, "/etc/motd")},
                       {false, handle_ans(1, "h")},
                       {true, read_req(2, "h", 0, 4) + read_req(3, "h", 4, 4) + read_req(4, "h", 8, 4)},
                       {false, data_ans(3, "5678")},
                       {false, data_ans(2, "1234")},
                       {false, packet(101, 4, u32(1) + str("EOF") + str(""))},
                       {true, close_req(5, "h")}},
                      1);
  ASSERT_TRUE(r.status) << r.status.message();
  EXPECT_EQ(r.out, "12345678");
  EXPECT_EQ(r.transfers[0].downloaded, 8u);
}

TEST(SftpReplay, MissingBytesAreAnErrorNotZeros) {
  Replayed r = replay({{true, open_req(1, "/f")},
                       {false, handle_ans(1, "h")},
                       {true, write_req(2, "h", 0, "abcd") + write_req(3, "h", 10, "klmn")}},
                      1);
  EXPECT_FALSE(r.status);
  EXPECT_NE(r.status.message().find("does not hold bytes 4 to 10"), std::string::npos) << r.status.message();
  EXPECT_EQ(r.out, "abcd");
}

TEST(SftpReplay, AHandleUsedAgainAfterCloseIsANewTransfer) {
  std::vector<std::pair<bool, std::string>> conv = {{true, open_req(1, "/a")},
                                                    {false, handle_ans(1, "h")},
                                                    {true, write_req(2, "h", 0, "first")},
                                                    {true, close_req(3, "h")},
                                                    {true, open_req(4, "/b")},
                                                    {false, handle_ans(4, "h")},
                                                    {true, write_req(5, "h", 0, "second")}};
  Replayed second = replay(conv, 2);
  ASSERT_TRUE(second.status) << second.status.message();
  EXPECT_EQ(second.out, "second");
  ASSERT_EQ(second.transfers.size(), 2u);
  EXPECT_EQ(second.transfers[1].path, "/b");
  EXPECT_EQ(replay(conv, 1).out, "first");
  Replayed none = replay(conv, 3);
  EXPECT_FALSE(none.status);
  EXPECT_EQ(none.status.error().code, ErrorCode::kNotFound);
}

TEST(SftpReplay, AFailedOpenMakesNoTransfer) {
  Replayed r =
      replay({{true, open_req(1, "/nope")}, {false, packet(101, 1, u32(2) + str("No such file") + str(""))}}, 1);
  EXPECT_TRUE(r.transfers.empty());
  EXPECT_FALSE(r.status);
}

TEST(SftpReplay, NotSftpOrRandomBytesAreErrorsNeverCrashes) {
  SftpReplay rp;
  EXPECT_FALSE(rp.client(u32(0x7fffffff) + "x"));
  std::mt19937 rng(14);
  for (int round = 0; round < 300; ++round) {
    SftpReplay r(1, [](std::string_view) { return Status{}; });
    std::string bytes(static_cast<size_t>(rng() % 300), '\0');
    for (auto& c : bytes) c = static_cast<char>(rng() % 8 == 0 ? 0 : rng());
    // Plausible small lengths now and then, so that packets are parsed.
    if (bytes.size() > 8 && round % 2 == 0) bytes.replace(0, 4, u32(static_cast<uint32_t>(bytes.size() - 4)));
    (void)r.client(bytes);
    (void)r.server(bytes);
    (void)r.finish();
  }
}

}  // namespace
}  // namespace bastion::recorder
