// HrIntake: the HR spool as the supervisor's event loop sees it. Files
// dropped into incoming/ (inotify) are read and parsed on an HrSpoolWorker
// thread, applied a few events per step on the loop (so a large file never
// holds up other work), then filed away (processed/, rejected/, held/) by
// the worker. Due scheduled events (future leavers) are applied once a second
// by the cluster's lead (set_lead; a single node always leads).
//
// Several gateway nodes may share one spool (a network file system): each
// file is claimed in the database before it is read (recorder::NodeRegistry
// claim "hr-spool:NAME"), so exactly one node applies it; the others leave
// it alone. The claim is released once the file is filed away; a node that
// dies holding one loses it when it is declared down, and the next node to
// list incoming/ (every 5 s, on the worker: inotify does not see other
// hosts' files) takes the file over (applied events are skipped).
//
// Contract: not thread-safe; one owner's loop calls everything. `on_change`
// runs for every person whose access an event changed (the supervisor ends
// or re-checks their sessions). A database error leaves the file in
// incoming/ and retries 5 s later (applied events are skipped on retry).
// SECURITY/fork: a child forked without exec calls abandon_after_fork(): the
// worker thread did not cross fork (never join it), and the parent's SQLite
// connection must not be closed by the child.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "common/clock.h"
#include "common/config.h"
#include "common/unique_fd.h"
#include "gateway/app/hr_service.h"
#include "gateway/app/hr_spool_worker.h"
#include "gateway/app/services.h"

namespace bastion::gateway {

class HrIntake {
 public:
  // `before_read` (tests): runs on the worker's thread before each file is read.
  HrIntake(const Config& cfg, const Clock& clock, HrAccessChange on_change,
           std::function<void(const std::string&)> before_read = {});
  HrIntake(const HrIntake&) = delete;
  HrIntake& operator=(const HrIntake&) = delete;

  // Creates the spool's folders, watches incoming/, queues the files that
  // arrived while we were down, and starts the worker.
  Status start();
  // Readable when files arrive (call on_notify) / when the worker has results (on_worker).
  [[nodiscard]] int notify_fd() const { return inotify_fd_.get(); }
  [[nodiscard]] int worker_fd() const { return worker_->wake_fd(); }
  void on_notify();
  void on_worker();
  // Applies due scheduled events (once a second) and one step of the file
  // being applied; hands the next queued file to the worker.
  void step();
  // Whether there is work to do now (the loop should not sleep).
  [[nodiscard]] bool busy() const;
  // Files queued or being applied (tests, logs).
  [[nodiscard]] size_t pending() const { return queue_.size() + (batch_ ? 1 : 0); }
  void abandon_after_fork();
  // Events of the files this node applied, by outcome (applied, duplicate,
  // rejected, ...), since it started (metrics).
  [[nodiscard]] const std::map<std::string, int64_t>& outcome_counts() const { return outcome_counts_; }
  // Whether this node applies due scheduled events (the cluster's lead).
  void set_lead(bool lead) { lead_ = lead; }
  // The database connection the file being applied uses (null between
  // files): `on_change` runs inside its transaction, so reads there must use it.
  [[nodiscard]] Services* services() const { return services_.get(); }

 private:
  void file_away(const std::string& path, const std::string& dir, const nlohmann::json& report);
  void retry_later(const std::string& path, bool front);
  void finish_batch();
  // Claims `path` for this node; false when another node holds it or the database is unavailable (retry).
  bool claim(const std::string& path);
  void release(const std::string& path);
  void queue(std::vector<std::string> paths);

  const Config& cfg_;
  const Clock& clock_;
  HrAccessChange on_change_;
  std::function<void(const std::string&)> before_read_;
  HrSpool spool_;
  UniqueFd inotify_fd_;
  std::unique_ptr<HrSpoolWorker> worker_;
  std::deque<std::string> queue_;
  std::optional<HrBatch> batch_;
  std::unique_ptr<Services> services_;  // open while a batch is applied
  Micros next_due_ = 0;
  Micros next_list_ = 0;  // when incoming/ is listed again
  bool listing_ = false;  // a kList job is with the worker
  bool lead_ = true;      // apply due scheduled events
  std::map<std::string, int64_t> outcome_counts_;
  std::set<std::string> claimed_;           // paths this node holds the claim of
  std::set<std::string> elsewhere_logged_;  // paths another node holds (logged once)
  Micros retry_at_ = 0;                     // after a database error, wait before trying the spool again
};

}  // namespace bastion::gateway
