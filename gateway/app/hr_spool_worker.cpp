#include "gateway/app/hr_spool_worker.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <stdexcept>

namespace bastion::gateway {

HrSpoolWorker::HrSpoolWorker(HrSpool spool, size_t max_file_size, std::function<void(const std::string&)> before_read)
    : spool_(std::move(spool)),
      max_file_size_(max_file_size),
      before_read_(std::move(before_read)),
      wake_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!wake_) throw std::runtime_error("HR spool worker: cannot create an eventfd");
  // Signals are the owner's (the supervisor reads them from a signalfd): a
  // SIGTERM or SIGCHLD delivered to this thread would kill the process or be
  // lost. The thread starts with every signal blocked (the mask is inherited).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  thread_ = std::thread([this] { run(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

HrSpoolWorker::~HrSpoolWorker() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void HrSpoolWorker::submit(HrSpoolJob job) {
  {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(job));
  }
  ++outstanding_;
  cv_.notify_one();
}

std::vector<HrSpoolResult> HrSpoolWorker::take() {
  uint64_t n = 0;
  if (::read(wake_.get(), &n, sizeof n) < 0) n = 0;  // nothing waiting: EAGAIN
  std::vector<HrSpoolResult> out;
  {
    std::lock_guard lock(mu_);
    out.swap(done_);
  }
  outstanding_ -= out.size();
  return out;
}

void HrSpoolWorker::run() {
  for (;;) {
    HrSpoolJob job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
      if (stop_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    HrSpoolResult r;
    r.kind = job.kind;
    r.path = job.path;
    if (job.kind == HrSpoolJob::Kind::kRead) {
      if (before_read_) before_read_(job.path);
      r.file = read_hr_file(job.path, max_file_size_);
    } else if (job.kind == HrSpoolJob::Kind::kList) {
      r.waiting = spool_.waiting();
    } else {
      r.moved = spool_.file_away(job.path, job.dir, job.report);
    }
    {
      std::lock_guard lock(mu_);
      done_.push_back(std::move(r));
    }
    uint64_t one = 1;
    if (::write(wake_.get(), &one, sizeof one) < 0) continue;  // cannot overflow: the counter is read often
  }
}

}  // namespace bastion::gateway
