// HrSpoolWorker: the HR spool's file I/O on a thread of its own.
//
// Contract: the supervisor's event loop ends sessions, answers the monitor
// channels and signs checkpoints; a slow or stuck file system under the
// spool (a network mount, a 64 MiB file to read and parse) must not hold any
// of that up. The worker reads and parses dropped files (read_hr_file) and
// files them away (HrSpool::file_away), and lists incoming/ (HrSpool::waiting:
// a spool shared between gateway nodes over NFS gets no inotify events for
// files other hosts drop); the database work stays with the
// caller. SECURITY/fork: the supervisor forks connection processes without
// exec while this thread runs, so the thread touches nothing whose locks a
// child needs (no OpenSSL, no SQLite, no stdio): only malloc (fork-safe in
// glibc), the file system and JSON. Jobs run one at a time, in the order submitted; `wake_fd()` becomes
// readable when results are waiting and `take()` collects them (non-blocking).
// Thread-safety: submit/take/wake_fd from one thread (the owner's).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "gateway/app/hr_service.h"

namespace bastion::gateway {

struct HrSpoolJob {
  enum class Kind { kRead, kFileAway, kList } kind = Kind::kRead;
  std::string path;
  std::string dir;  // kFileAway: where to
  nlohmann::json report;
};

struct HrSpoolResult {
  HrSpoolJob::Kind kind = HrSpoolJob::Kind::kRead;
  HrDroppedFile file;                         // kRead
  Result<std::string> moved = std::string();  // kFileAway: the new path, or why not
  std::string path;                           // the job's path
  std::vector<std::string> waiting;           // kList: HrSpool::waiting()
};

class HrSpoolWorker {
 public:
  // `before_read` (tests): runs on the worker's thread before each file is read.
  HrSpoolWorker(HrSpool spool, size_t max_file_size, std::function<void(const std::string&)> before_read = {});
  ~HrSpoolWorker();  // finishes the job in progress, drops the rest
  HrSpoolWorker(const HrSpoolWorker&) = delete;
  HrSpoolWorker& operator=(const HrSpoolWorker&) = delete;

  void submit(HrSpoolJob job);
  std::vector<HrSpoolResult> take();
  [[nodiscard]] int wake_fd() const { return wake_.get(); }
  // Jobs submitted whose results have not been taken yet.
  [[nodiscard]] size_t outstanding() const { return outstanding_; }

 private:
  void run();

  HrSpool spool_;
  size_t max_file_size_;
  std::function<void(const std::string&)> before_read_;
  UniqueFd wake_;  // eventfd
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<HrSpoolJob> jobs_;
  std::vector<HrSpoolResult> done_;
  bool stop_ = false;
  size_t outstanding_ = 0;  // owner thread only
  std::thread thread_;
};

}  // namespace bastion::gateway
