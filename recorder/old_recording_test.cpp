// Recordings made before byte-exact streams existed (every channel was
// asciicast v2, and recording.end had no "digest" field) must stay readable,
// searchable and verifiable. The bytes and records below are frozen: they are
// an exec channel's recording and its audit records exactly as the gateway of
// 2026-12-01 wrote them (scripts/demo.sh, `ssh ... uptime`).
#include <gtest/gtest.h>

#include <filesystem>

#include "common/files.h"
#include "recorder/command_index.h"
#include "recorder/review.h"
#include "recorder/stream_reader.h"
#include "tests/support/audit_store_fixture.h"

namespace bastion::recorder {
namespace {

constexpr std::string_view kSession = "s-3528d5d6ae3f5bfc";
constexpr std::string_view kV1ExecCast =
    R"({"command":"uptime","env":{"SHELL":"/bin/sh","TERM":"xterm"},"height":24,"timestamp":1796149907,"title":"demo: root@demo-target","version":2,"width":80})"
    "\n"
    R"([0.466720, "o", " 18:31:48 up  8:13,  0 user,  load average: 2.97, 2.87, 2.75\n"])"
    "\n";
constexpr std::string_view kV1Sha256 = "edbec6bdba97a510a74dbfbc37cb482f82235e299944015ec7aeca6864509919";

class OldRecording : public testing::AuditStoreTest {
 protected:
  void SetUp() override {
    AuditStoreTest::SetUp();
    path = dir + "/s-3528d5d6ae3f5bfc-1.cast";
    ASSERT_TRUE(write_file_atomic(path, kV1ExecCast, 0600, false));
    AuditEvent chunk{"demo",
                     "recording.chunk",
                     Outcome::kInfo,
                     "",
                     "demo-target",
                     "root",
                     "",
                     std::string(kSession),
                     {{"channel", 1}, {"length", 235}, {"offset", 0}, {"sha256", std::string(kV1Sha256)}}};
    ASSERT_TRUE(log->append(chunk));
    AuditEvent end = chunk;
    end.action = "recording.end";
    end.details = {{"channel", 1}, {"path", path}, {"sha256", std::string(kV1Sha256)}, {"size", 235}};
    ASSERT_TRUE(log->append(end));
  }
  std::string path;
};

TEST_F(OldRecording, AnExecChannelRecordedAsAsciicastStillVerifies) {
  ASSERT_EQ(kV1ExecCast.size(), 235u);
  auto c = verify_recording(*log, std::string(kSession), 1, path);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->ok) << c->problem;
  EXPECT_TRUE(c->complete);
  EXPECT_EQ(c->verified_bytes, 235);
  EXPECT_TRUE(c->index_path.empty()) << "no command index was written then, and none is asked for";

  std::string changed(kV1ExecCast);
  changed[changed.find("2.97")] = '9';
  ASSERT_TRUE(write_file_atomic(path, changed, 0600, true));
  auto bad = verify_recording(*log, std::string(kSession), 1, path);
  ASSERT_TRUE(bad);
  EXPECT_FALSE(bad->ok);
}

TEST_F(OldRecording, AnExecChannelRecordedAsAsciicastStillReplaysAndSearches) {
  auto header = stream_header_of_file(path);
  ASSERT_TRUE(header) << header.error().message;
  EXPECT_FALSE(header->has_value()) << "not taken for a byte-exact stream";
  auto cast = read_cast(path);
  ASSERT_TRUE(cast) << cast.error().message;
  ASSERT_EQ(cast->events.size(), 1u);
  EXPECT_EQ(cast->header["command"], "uptime");
  auto hits = search_cast(*cast, "load average");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_NEAR(hits[0].offset, 0.46672, 1e-6);
  CommandIndex index = index_from_cast(*cast, "s-3528d5d6ae3f5bfc-1.cast");
  EXPECT_TRUE(index.entries.empty()) << "nothing was typed";
  EXPECT_EQ(index.header.started_at, int64_t{1796149907} * 1'000'000);
}

}  // namespace
}  // namespace bastion::recorder
