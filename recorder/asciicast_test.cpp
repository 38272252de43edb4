#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "common/ed25519_key.h"
#include "common/encoding.h"
#include "common/files.h"
#include "recorder/asciicast.h"
#include "recorder/stream_writer.h"
#include "recorder/review.h"

namespace bastion::recorder {
namespace {

class CastTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cast-test-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::string dir;
};

TEST_F(CastTest, WritesValidAsciicastEvenWhenUtf8IsSplit) {
  CastHeader h;
  h.started_at = 1'000'000;
  h.title = "alice: root@db";
  auto w = CastWriter::open(dir + "/a.cast", h, kMicrosPerSecond);
  ASSERT_TRUE(w) << w.error().message;
  std::string euro = "\xe2\x82\xac";  // U+20AC in three bytes
  ASSERT_TRUE((*w)->output(1'500'000, "price: " + euro.substr(0, 1)));
  ASSERT_TRUE((*w)->output(1'600'000, euro.substr(1) + "5\r\n"));
  ASSERT_TRUE((*w)->input(1'700'000, "ls\r"));
  ASSERT_TRUE((*w)->resize(1'800'000, 120, 40));
  auto sum = (*w)->close();
  ASSERT_TRUE(sum);
  auto cast = read_cast(dir + "/a.cast");
  ASSERT_TRUE(cast) << cast.error().message;
  EXPECT_EQ(cast->header["title"], "alice: root@db");
  ASSERT_EQ(cast->events.size(), 4u);
  EXPECT_EQ(cast->events[0].data + cast->events[1].data, "price: " + euro + "5\r\n");
  EXPECT_DOUBLE_EQ(cast->events[0].t, 0.5);
  EXPECT_EQ(cast->events[2].kind, "i");
  EXPECT_EQ(cast->events[3].data, "120x40");
  auto bytes = read_file(dir + "/a.cast");
  EXPECT_EQ(sum->size, static_cast<int64_t>(bytes->size()));
  // Each byte is hashed once, into its chunk; the final digest is over the chunks.
  EXPECT_EQ(sum->digest, kDigestOfChunks);
  CastChunk last = (*w)->take_chunk();
  EXPECT_EQ(last.offset, 0);
  EXPECT_EQ(last.length, static_cast<int64_t>(bytes->size()));
  EXPECT_EQ(last.sha256, hex_encode(sha256(as_bytes(*bytes))));
  EXPECT_EQ(sum->sha256, digest_of_chunks({last.sha256}));
}

TEST_F(CastTest, FlushesWithinTheIntervalAndChunksCoverTheFile) {
  CastHeader h;
  auto w = CastWriter::open(dir + "/b.cast", h, kMicrosPerSecond);
  ASSERT_TRUE(w);
  ASSERT_TRUE((*w)->output(100, "first"));
  EXPECT_EQ(read_file(dir + "/b.cast")->find("first"), std::string::npos) << "buffered, not yet due";
  ASSERT_TRUE((*w)->tick(kMicrosPerSecond + 200));
  EXPECT_NE(read_file(dir + "/b.cast")->find("first"), std::string::npos) << "flushed after a second";
  CastChunk c1 = (*w)->take_chunk();
  ASSERT_TRUE((*w)->output(2 * kMicrosPerSecond, "second"));
  ASSERT_TRUE((*w)->flush());
  CastChunk c2 = (*w)->take_chunk();
  EXPECT_EQ(c1.offset, 0);
  EXPECT_EQ(c2.offset, c1.length);
  auto bytes = read_file(dir + "/b.cast");
  EXPECT_EQ(c2.sha256, hex_encode(sha256(as_bytes(std::string_view(*bytes).substr(c1.length)))));
  ASSERT_TRUE((*w)->output(3 * kMicrosPerSecond, "third"));
  auto sum = (*w)->close();
  ASSERT_TRUE(sum);
  CastChunk c3 = (*w)->take_chunk();
  EXPECT_EQ(c3.offset, c1.length + c2.length);
  EXPECT_EQ(sum->size, c3.offset + c3.length);
  EXPECT_EQ(sum->sha256, digest_of_chunks({c1.sha256, c2.sha256, c3.sha256}));
}

TEST_F(CastTest, RefusesToOverwriteAndReportsWriteFailures) {
  ASSERT_TRUE(CastWriter::open(dir + "/c.cast", {}, kMicrosPerSecond));
  EXPECT_FALSE(CastWriter::open(dir + "/c.cast", {}, kMicrosPerSecond));
  ASSERT_TRUE(write_file_atomic(dir + "/plain", "x", 0600, false));
  auto w = CastWriter::open(dir + "/plain/x.cast", {}, kMicrosPerSecond);  // parent is a file
  EXPECT_FALSE(w);
}

TEST_F(CastTest, ReaderToleratesACutOffLastLineButNotGarbage) {
  (void)write_file_atomic(dir + "/d.cast",
                          "{\"version\": 2, \"width\": 80, \"height\": 24}\n[0.1, \"o\", \"hi\"]\n[0.2, \"o\", \"th",
                          0600, false);
  auto cast = read_cast(dir + "/d.cast");
  ASSERT_TRUE(cast);
  EXPECT_TRUE(cast->cut_off);
  EXPECT_EQ(cast->events.size(), 1u);
  (void)write_file_atomic(dir + "/e.cast", "{\"version\": 1}\n", 0600, false);
  EXPECT_FALSE(read_cast(dir + "/e.cast"));
  (void)write_file_atomic(dir + "/f.cast", "{\"version\": 2}\n[1, 2]\n", 0600, false);
  EXPECT_FALSE(read_cast(dir + "/f.cast"));
  // Found by fuzz_cast: a version that is not an integer threw (string) or was
  // undefined behaviour (1e300) instead of being refused.
  for (std::string header :
       {"{\"version\": \"2\"}", "{\"version\": 1e300}", "{\"version\": 2.5}", "{\"version\": null}"}) {
    (void)std::remove((dir + "/g.cast").c_str());
    (void)write_file_atomic(dir + "/g.cast", header + "\n", 0600, false);
    auto bad = read_cast(dir + "/g.cast");
    EXPECT_FALSE(bad) << header;
  }
}

TEST_F(CastTest, SearchIgnoresEscapeSequencesAndReportsTheOffset) {
  CastFile cast;
  cast.events = {{0.5, "o", "$ \x1b[1mse"}, {2.25, "o", "cret\x1b[0m-token\r\n"}};
  auto hits = search_cast(cast, "secret-token");
  ASSERT_EQ(hits.size(), 1u);
  // When the line was last written, so it shows whole (it was 0.5, the first
  // byte of the match, before search looked at the rendered screen).
  EXPECT_DOUBLE_EQ(hits[0].offset, 2.25);
  EXPECT_NE(hits[0].snippet.find("secret-token"), std::string::npos);
  EXPECT_TRUE(search_cast(cast, "absent").empty());
  EXPECT_TRUE(search_cast(cast, "").empty());  // found by fuzz_cast: read past the end
}

}  // namespace
}  // namespace bastion::recorder

namespace bastion::recorder {
namespace {
TEST(JsonString, MatchesAStrictJsonParserOnHostileBytes) {
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    std::string s;
    size_t len = rng() % 40;
    for (size_t i = 0; i < len; ++i) s += static_cast<char>(rng() % 256);
    if (round % 3 == 0) s += "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \"q\" \\ \x01";
    std::string out;
    append_json_string(out, s);
    auto j = nlohmann::json::parse(out, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << out;
    ASSERT_TRUE(j.is_string());
    // Valid input comes back unchanged.
    std::string valid = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \"q\" \\ \x01\n\t";
    std::string v;
    append_json_string(v, valid);
    ASSERT_EQ(nlohmann::json::parse(v).get<std::string>(), valid);
  }
  std::string bad;
  append_json_string(bad, "\xed\xa0\x80");  // a UTF-16 surrogate: not valid UTF-8
  EXPECT_EQ(nlohmann::json::parse(bad).get<std::string>(), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}
}  // namespace
}  // namespace bastion::recorder
