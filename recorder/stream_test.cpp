#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "common/ed25519_key.h"
#include "common/encoding.h"
#include "common/files.h"
#include "recorder/stream_reader.h"
#include "recorder/stream_writer.h"

namespace bastion::recorder {
namespace {

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

struct Streams {
  std::string in, out, err;
  Result<StreamScan> scan = make_error("not read");
};

Streams read_streams(const std::string& path, const std::string& key = "") {
  Streams s;
  auto bytes = read_file(path, size_t{1} << 30);
  if (!bytes) return s;
  s.scan = scan_stream(
      *bytes, key,
      [&](const StreamRecord& r) -> Status {
        (r.stream == StreamId::kStdin ? s.in : r.stream == StreamId::kStdout ? s.out : s.err).append(r.bytes);
        return {};
      },
      path);
  return s;
}

class StreamTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/stream-test-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::unique_ptr<StreamWriter> open(const std::string& name, std::unique_ptr<CastSealer> sealer = nullptr) {
    StreamHeader h{"s-1", 1, "cat backup.bin", 5'000'000, ""};
    auto w = StreamWriter::open(dir + "/" + name, h, kMicrosPerSecond, GetParam(), std::move(sealer));
    EXPECT_TRUE(w) << (w ? "" : w.error().message);
    return w ? std::move(*w) : nullptr;
  }
  std::string dir;
};

TEST_P(StreamTest, KeepsEveryByteOfEachStreamApart) {
  auto w = open("a.stream");
  std::string all_values;
  for (int i = 0; i < 256; ++i) all_values += static_cast<char>(i);
  std::string big = random_bytes(1 << 20, 7);  // larger than a block: split into records
  ASSERT_TRUE(w->write(5'000'010, StreamId::kStdout, all_values));
  ASSERT_TRUE(w->write(5'000'020, StreamId::kStderr, "err\xff\xfe\n"));
  ASSERT_TRUE(w->write(5'000'030, StreamId::kStdin, std::string("\0in", 3)));
  ASSERT_TRUE(w->write(5'000'040, StreamId::kStdout, big));
  auto sum = w->close();
  ASSERT_TRUE(sum);
  EXPECT_EQ(sum->digest, kDigestOfChunks);
  EXPECT_EQ(sum->size, static_cast<int64_t>(std::filesystem::file_size(dir + "/a.stream")));
  auto s = read_streams(dir + "/a.stream");
  ASSERT_TRUE(s.scan) << s.scan.error().message;
  EXPECT_FALSE(s.scan->cut_off);
  EXPECT_GT(s.scan->blocks, 1);
  EXPECT_EQ(s.out, all_values + big);
  EXPECT_EQ(s.err, "err\xff\xfe\n");
  EXPECT_EQ(s.in, std::string("\0in", 3));
  EXPECT_EQ(s.scan->header["command"], "cat backup.bin");
  EXPECT_EQ(s.scan->header["session"], "s-1");
  EXPECT_EQ(s.scan->header["compression"], GetParam() ? "zstd" : "none");
}

TEST_P(StreamTest, TimesAreMicrosecondsSinceTheStart) {
  auto w = open("t.stream");
  ASSERT_TRUE(w->write(5'000'000 + 1'234'567, StreamId::kStdout, "x"));
  ASSERT_TRUE(w->close());
  auto bytes = read_file(dir + "/t.stream");
  std::vector<Micros> at;
  ASSERT_TRUE(scan_stream(
      *bytes, "",
      [&](const StreamRecord& r) -> Status {
        at.push_back(r.at);
        return {};
      },
      "t"));
  EXPECT_EQ(at, std::vector<Micros>{1'234'567});
}

TEST_P(StreamTest, FinalDigestIsOverTheChunkDigests) {
  auto w = open("d.stream");
  ASSERT_TRUE(w->write(5'000'001, StreamId::kStdout, random_bytes(5000, 1)));
  ASSERT_TRUE(w->flush());
  CastChunk first = w->take_chunk();
  EXPECT_EQ(w->take_chunk().length, 0) << "nothing new";
  ASSERT_TRUE(w->write(5'000'002, StreamId::kStdout, random_bytes(5000, 2)));
  auto sum = w->close();
  ASSERT_TRUE(sum);
  CastChunk last = w->take_chunk();
  EXPECT_EQ(first.offset, 0);
  EXPECT_EQ(last.offset, first.length);
  EXPECT_EQ(last.offset + last.length, sum->size);
  auto file = *read_file(dir + "/d.stream");
  std::string raw;
  for (const auto& c : {first, last}) {
    auto d = sha256(as_bytes(std::string_view(file).substr(c.offset, c.length)));
    EXPECT_EQ(hex_encode(d), c.sha256);
    raw.append(reinterpret_cast<const char*>(d.data()), d.size());
  }
  EXPECT_EQ(hex_encode(sha256(as_bytes(raw))), sum->sha256);
  EXPECT_EQ(digest_of_chunks({first.sha256, last.sha256}), sum->sha256) << "what the monitor re-derives";
  EXPECT_EQ(digest_of_chunks({"not hex"}), "");
  ChunkDigests running;
  EXPECT_TRUE(running.add(first.sha256));
  EXPECT_NE(running.final(), sum->sha256) << "one chunk short";
  EXPECT_TRUE(running.add(last.sha256));
  EXPECT_EQ(running.final(), sum->sha256);
  EXPECT_FALSE(running.add(std::string(64, 'A'))) << "upper case is not how the log writes it";
  EXPECT_EQ(running.final(), "");
}

TEST_P(StreamTest, ACutOffLastBlockIsReportedNotFatal) {
  auto w = open("c.stream");
  ASSERT_TRUE(w->write(5'000'001, StreamId::kStdout, "first block"));
  ASSERT_TRUE(w->flush());
  ASSERT_TRUE(w->write(5'000'002, StreamId::kStdout, random_bytes(4000, 3)));
  ASSERT_TRUE(w->close());
  auto file = *read_file(dir + "/c.stream");
  for (size_t cut : {size_t{1}, size_t{7}, size_t{3000}}) {
    ASSERT_TRUE(write_file_atomic(dir + "/cut.stream", file.substr(0, file.size() - cut), 0600, true));
    auto s = read_streams(dir + "/cut.stream");
    ASSERT_TRUE(s.scan) << s.scan.error().message;
    EXPECT_TRUE(s.scan->cut_off);
    EXPECT_EQ(s.out, "first block");
  }
}

TEST_P(StreamTest, AlteredBlocksAreErrorsThatNameTheBlock) {
  auto w = open("x.stream");
  ASSERT_TRUE(w->write(5'000'001, StreamId::kStdout, "first block"));
  ASSERT_TRUE(w->flush());
  ASSERT_TRUE(w->write(5'000'002, StreamId::kStdout, "second block, a little longer"));
  ASSERT_TRUE(w->close());
  auto file = *read_file(dir + "/x.stream");
  std::string bad = file;
  bad[bad.size() - 25] ^= 0x5a;  // inside the second block's records or its zstd frame
  ASSERT_TRUE(write_file_atomic(dir + "/bad.stream", bad, 0600, true));
  auto s = read_streams(dir + "/bad.stream");
  if (GetParam()) {
    ASSERT_FALSE(s.scan);
    EXPECT_NE(s.scan.error().message.find("block 1"), std::string::npos) << s.scan.error().message;
  }
  std::string huge = file.substr(0, file.find('\n') + 1) + std::string("\x7f\xff\xff\xff", 4) + "x";
  ASSERT_TRUE(write_file_atomic(dir + "/huge.stream", huge, 0600, true));
  auto h = read_streams(dir + "/huge.stream");
  ASSERT_FALSE(h.scan);
  EXPECT_NE(h.scan.error().message.find("block 0"), std::string::npos);
}

TEST_P(StreamTest, EncryptedStreamsNeedTheReviewerKey) {
  ASSERT_TRUE(generate_reviewer_keys(dir + "/rev"));
  auto pub = load_reviewer_public_key(dir + "/rev.pub");
  auto sealer = CastSealer::create(*pub);
  ASSERT_TRUE(sealer);
  auto w = open("e.stream", std::move(*sealer));
  std::string secret = "top-secret " + random_bytes(100000, 4);
  ASSERT_TRUE(w->write(5'000'001, StreamId::kStdout, secret));
  ASSERT_TRUE(w->flush());
  ASSERT_TRUE(w->write(5'000'002, StreamId::kStderr, "second frame"));
  ASSERT_TRUE(w->close());
  EXPECT_EQ(read_file(dir + "/e.stream")->find("top-secret"), std::string::npos);
  EXPECT_EQ(read_file(dir + "/e.stream")->find("backup.bin"), std::string::npos) << "the command line is sealed too";
  auto header = parse_stream_header(*read_file(dir + "/e.stream"), "e");
  ASSERT_TRUE(header);
  EXPECT_FALSE(stream_command(*header, ""));
  EXPECT_EQ(*stream_command(*header, dir + "/rev.key"), "cat backup.bin");
  auto no_key = read_streams(dir + "/e.stream");
  ASSERT_FALSE(no_key.scan);
  EXPECT_NE(no_key.scan.error().message.find("is encrypted: pass --key"), std::string::npos);
  auto s = read_streams(dir + "/e.stream", dir + "/rev.key");
  ASSERT_TRUE(s.scan) << s.scan.error().message;
  EXPECT_EQ(s.out, secret);
  EXPECT_EQ(s.err, "second frame");
  EXPECT_EQ(s.scan->header["command"], "cat backup.bin");
}

TEST_P(StreamTest, SummaryCountsEachStream) {
  auto w = open("s.stream");
  ASSERT_TRUE(w->write(5'000'100, StreamId::kStdout, "hello "));
  ASSERT_TRUE(w->write(5'000'200, StreamId::kStdout, "world"));
  ASSERT_TRUE(w->close());
  auto sum = summarize_stream(*read_file(dir + "/s.stream"), "", "s");
  ASSERT_TRUE(sum);
  const auto& out = sum->streams[1];
  EXPECT_EQ(out.bytes, 11);
  EXPECT_EQ(out.records, 2);
  EXPECT_EQ(out.first_at, 100);
  EXPECT_EQ(out.last_at, 200);
  EXPECT_EQ(out.head, "hello world");
  EXPECT_EQ(sum->streams[0].records, 0);
}

INSTANTIATE_TEST_SUITE_P(Compression, StreamTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "Zstd" : "Plain"; });

TEST(StreamFormat, VarintsRoundTripAndRejectOverlong) {
  for (uint64_t v : {uint64_t{0}, uint64_t{127}, uint64_t{128}, uint64_t{1} << 35, ~uint64_t{0}}) {
    std::string s;
    append_uvarint(s, v);
    size_t pos = 0;
    uint64_t back = 1;
    ASSERT_TRUE(read_uvarint(s, pos, back));
    EXPECT_EQ(back, v);
    EXPECT_EQ(pos, s.size());
  }
  size_t pos = 0;
  uint64_t v = 0;
  EXPECT_FALSE(read_uvarint(std::string(11, '\xff'), pos, v));
  pos = 0;
  EXPECT_FALSE(read_uvarint("\x80", pos, v)) << "cut off";
}

TEST(StreamFormat, NotAStreamRecording) {
  EXPECT_FALSE(is_stream_recording("{\"version\": 2, \"width\": 80}\n"));
  EXPECT_FALSE(parse_stream_header("{\"format\":\"bastion-stream\",\"version\":2}\n", "f"));
  EXPECT_FALSE(scan_stream(
      "garbage", "", [](const StreamRecord&) { return Status{}; }, "f"));
  StreamId id;
  EXPECT_TRUE(parse_stream_name("stderr", id));
  EXPECT_EQ(id, StreamId::kStderr);
  EXPECT_FALSE(parse_stream_name("stdlog", id));
}

}  // namespace
}  // namespace bastion::recorder
