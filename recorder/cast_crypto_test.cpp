#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "common/files.h"
#include "recorder/asciicast.h"
#include "recorder/cast_crypto.h"
#include "recorder/review.h"

namespace bastion::recorder {
namespace {

class CryptoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/crypto-test-XXXXXX";
    dir = mkdtemp(tmpl);
    ASSERT_TRUE(generate_reviewer_keys(dir + "/rev"));
    auto pub = load_reviewer_public_key(dir + "/rev.pub");
    ASSERT_TRUE(pub);
    reviewer = *pub;
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::string write_encrypted(const std::string& name) {
    auto sealer = CastSealer::create(reviewer);
    EXPECT_TRUE(sealer);
    CastHeader h;
    h.title = "t";
    auto w = CastWriter::open(dir + "/" + name, h, kMicrosPerSecond, std::move(*sealer));
    EXPECT_TRUE(w);
    EXPECT_TRUE((*w)->output(10, "top-secret-output\r\n"));
    EXPECT_TRUE((*w)->flush());
    EXPECT_TRUE((*w)->output(20, "second frame"));
    EXPECT_TRUE((*w)->close());
    return dir + "/" + name;
  }
  std::string dir;
  std::vector<uint8_t> reviewer;
};

TEST_F(CryptoTest, OnlyTheReviewerKeyReadsARecording) {
  std::string path = write_encrypted("a.cast");
  std::string raw = *read_file(path);
  EXPECT_TRUE(is_encrypted_cast(raw));
  EXPECT_EQ(raw.find("top-secret-output"), std::string::npos) << "plaintext must not reach the disk";
  auto cast = read_cast(path, dir + "/rev.key");
  ASSERT_TRUE(cast) << cast.error().message;
  ASSERT_EQ(cast->events.size(), 2u);
  EXPECT_EQ(cast->events[0].data, "top-secret-output\r\n");
  EXPECT_NE(read_cast(path).error().message.find("is encrypted: pass --key"), std::string::npos);
  ASSERT_TRUE(generate_reviewer_keys(dir + "/other"));
  EXPECT_NE(read_cast(path, dir + "/other.key").error().message.find("different reviewer key"), std::string::npos);
  EXPECT_FALSE(generate_reviewer_keys(dir + "/rev")) << "never overwrites keys";
}

TEST_F(CryptoTest, AlteredFramesFailAndACutOffFrameIsReported) {
  std::string path = write_encrypted("b.cast");
  std::string raw = *read_file(path);
  std::string bad = raw;
  bad[bad.size() - 20] ^= 1;
  ASSERT_TRUE(write_file_atomic(dir + "/bad.cast", bad, 0600, false));
  auto r = read_cast(dir + "/bad.cast", dir + "/rev.key");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("fails authentication"), std::string::npos);
  ASSERT_TRUE(write_file_atomic(dir + "/cut.cast", raw.substr(0, raw.size() - 7), 0600, false));
  auto cut = read_cast(dir + "/cut.cast", dir + "/rev.key");
  ASSERT_TRUE(cut) << cut.error().message;
  EXPECT_TRUE(cut->cut_off);
  EXPECT_EQ(cut->events.size(), 1u);
}

}  // namespace
}  // namespace bastion::recorder
