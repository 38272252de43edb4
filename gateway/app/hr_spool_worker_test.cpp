#include "gateway/app/hr_spool_worker.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/files.h"

namespace bastion::gateway {
namespace {

class HrSpoolWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root = (std::filesystem::temp_directory_path() / ("hr-worker-" + std::to_string(getpid()))).string();
    std::filesystem::remove_all(root);
    spool.root = root;
    ASSERT_TRUE(spool.ensure());
  }
  void TearDown() override { std::filesystem::remove_all(root); }

  // Waits (up to 10 s) for `n` results.
  std::vector<HrSpoolResult> wait_for(HrSpoolWorker& w, size_t n) {
    std::vector<HrSpoolResult> all;
    for (int i = 0; i < 100 && all.size() < n; ++i) {
      pollfd p{w.wake_fd(), POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) {
        for (auto& r : w.take()) all.push_back(std::move(r));
      }
    }
    return all;
  }

  std::string root;
  HrSpool spool;
};

TEST_F(HrSpoolWorkerTest, ReadsAndParsesOffTheCallersThreadAndFilesAway) {
  std::string path = spool.incoming() + "/leavers.jsonl";
  std::ofstream(path) << "{\"event_id\":\"e-1\",\"type\":\"leaver\",\"employee_id\":\"E1\"}\n";
  HrSpoolWorker w(spool, 1 << 20);
  w.submit({HrSpoolJob::Kind::kRead, path, "", {}});
  w.submit({HrSpoolJob::Kind::kFileAway, path, spool.processed(), {{"ok", true}}});
  EXPECT_EQ(w.outstanding(), 2u);
  auto got = wait_for(w, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(w.outstanding(), 0u);
  ASSERT_EQ(got[0].kind, HrSpoolJob::Kind::kRead);
  EXPECT_FALSE(got[0].file.gone);
  ASSERT_TRUE(got[0].file.readable) << got[0].file.readable.message();
  ASSERT_EQ(got[0].file.parsed.events.size(), 1u);
  EXPECT_EQ(got[0].file.parsed.events[0].employee_id, "E1");
  ASSERT_EQ(got[1].kind, HrSpoolJob::Kind::kFileAway);
  ASSERT_TRUE(got[1].moved) << got[1].moved.error().message;
  EXPECT_EQ(*got[1].moved, spool.processed() + "/leavers.jsonl");
  EXPECT_FALSE(file_exists(path));
  EXPECT_TRUE(file_exists(spool.processed() + "/leavers.jsonl.report.json"));
}

TEST_F(HrSpoolWorkerTest, AFifoOrALinkIsRefusedWithoutBlockingAndAMissingFileIsGone) {
  std::string fifo = spool.incoming() + "/stuck.jsonl";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string link = spool.incoming() + "/link.jsonl";
  ASSERT_EQ(::symlink("/etc/passwd", link.c_str()), 0);
  HrSpoolWorker w(spool, 1 << 20);
  w.submit({HrSpoolJob::Kind::kRead, fifo, "", {}});
  w.submit({HrSpoolJob::Kind::kRead, link, "", {}});
  w.submit({HrSpoolJob::Kind::kRead, spool.incoming() + "/never-there.jsonl", "", {}});
  auto got = wait_for(w, 3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_FALSE(got[0].file.readable);
  EXPECT_NE(got[0].file.readable.message().find("not a regular file"), std::string::npos);
  EXPECT_FALSE(got[1].file.readable);
  EXPECT_NE(got[1].file.readable.message().find("symbolic link"), std::string::npos);
  EXPECT_TRUE(got[2].file.gone);
}

TEST_F(HrSpoolWorkerTest, AnOversizedFileIsRefusedUnread) {
  std::string path = spool.incoming() + "/big.jsonl";
  std::ofstream(path) << std::string(4096, '\n');
  HrSpoolWorker w(spool, 1024);
  w.submit({HrSpoolJob::Kind::kRead, path, "", {}});
  auto got = wait_for(w, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].file.readable);
  EXPECT_NE(got[0].file.readable.message().find("larger than 1024"), std::string::npos);
}

}  // namespace
}  // namespace bastion::gateway
