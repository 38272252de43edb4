#include "gateway/app/hr_intake.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "gateway/app/daemon_log.h"

namespace bastion::gateway {
namespace {

constexpr size_t kEventsPerStep = 64;
constexpr Micros kRetryAfter = 5 * kMicrosPerSecond;
constexpr Micros kListEvery = 5 * kMicrosPerSecond;

std::string claim_name(const std::string& path) {
  size_t slash = path.rfind('/');
  return "hr-spool:" + (slash == std::string::npos ? path : path.substr(slash + 1));
}

}  // namespace

HrIntake::HrIntake(const Config& cfg, const Clock& clock, HrAccessChange on_change,
                   std::function<void(const std::string&)> before_read)
    : cfg_(cfg), clock_(clock), on_change_(std::move(on_change)), before_read_(std::move(before_read)) {}

Status HrIntake::start() {
  spool_.root = cfg_.hr_spool;
  if (auto st = spool_.ensure(); !st) return st.error().prefixed("spool: ");
  inotify_fd_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify_fd_ ||
      ::inotify_add_watch(inotify_fd_.get(), spool_.incoming().c_str(), IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
    return make_error("cannot watch " + spool_.incoming() + ": " + std::strerror(errno));
  }
  // Files that arrived while we were down (or were half applied when we died).
  queue(spool_.waiting());
  next_list_ = clock_.now() + kListEvery;
  worker_ = std::make_unique<HrSpoolWorker>(spool_, cfg_.hr_max_file_size, before_read_);
  return {};
}

void HrIntake::on_notify() {
  alignas(inotify_event) char buf[8192];
  for (;;) {
    ssize_t n = ::read(inotify_fd_.get(), buf, sizeof buf);
    if (n <= 0) return;
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + ev->len;
      if (ev->len == 0) continue;
      std::string name = ev->name;
      if (name.empty() || name[0] == '.' || name.ends_with(".tmp")) continue;
      queue({spool_.incoming() + "/" + name});
    }
  }
}

void HrIntake::queue(std::vector<std::string> paths) {
  for (auto& path : paths) {
    bool current = batch_ && batch_->path == path;
    if (!current && std::find(queue_.begin(), queue_.end(), path) == queue_.end()) queue_.push_back(std::move(path));
  }
}

bool HrIntake::claim(const std::string& path) {
  auto s = Services::open(cfg_, clock_);
  auto c = s ? (*s)->nodes().claim(claim_name(path), cfg_.node_name, recorder::kNodeTimeout)
             : Result<recorder::Claim>(s.error());
  if (!c) {
    daemon_log("hr", path + ": cannot claim it: " + c.error().message + "; will retry in 5s");
    retry_later(path, true);
    return false;
  }
  if (!c->mine) {
    if (elsewhere_logged_.insert(path).second) {
      daemon_log("hr", path + ": gateway node " + c->holder + " is applying it (shared spool); left to it");
    }
    return false;
  }
  if (c->taken_over) {
    daemon_log("hr", path + ": taken over from gateway node " + c->holder + ", which stopped while applying it");
  }
  elsewhere_logged_.erase(path);
  claimed_.insert(path);
  return true;
}

void HrIntake::release(const std::string& path) {
  if (claimed_.erase(path) == 0) return;
  auto s = Services::open(cfg_, clock_);
  Status st = s ? (*s)->nodes().release(claim_name(path), cfg_.node_name) : Status(s.error());
  // Left held, the claim is this node's until it restarts or is declared down.
  if (!st) daemon_log("hr", path + ": cannot release its claim: " + st.message());
}

void HrIntake::on_worker() {
  for (auto& r : worker_->take()) {
    if (r.kind == HrSpoolJob::Kind::kList) {
      listing_ = false;
      queue(std::move(r.waiting));
      continue;
    }
    if (r.kind == HrSpoolJob::Kind::kFileAway) {
      if (!r.moved) daemon_log("hr", r.moved.error().message);
      release(r.path);
      continue;
    }
    if (r.file.gone) {  // moved away before we got to it (by another node, with a shared spool)
      release(r.path);
      continue;
    }
    const std::string& path = r.path;
    auto s = Services::open(cfg_, clock_);
    if (!s) {
      daemon_log("hr", s.error().message + "; will retry in 5s");
      retry_later(path, true);
      continue;
    }
    services_ = std::move(*s);
    auto b = services_->hr().open(r.file);
    if (!b) {
      daemon_log("hr", path + ": " + b.error().message);
      file_away(path, spool_.rejected(), {{"file", path}, {"error", b.error().message}});
      services_.reset();
      continue;
    }
    if (b->held) {
      daemon_log("hr", "ALERT: held " + b->record.id + " (" + b->record.file + "): " + b->hold_reason);
      file_away(path, spool_.held(), hr_report_json(*b));
      services_.reset();
      continue;
    }
    batch_ = std::move(*b);
  }
}

void HrIntake::step() {
  Micros now = clock_.now();
  if (now >= next_list_ && !listing_) {
    next_list_ = now + kListEvery;
    listing_ = true;
    worker_->submit({HrSpoolJob::Kind::kList, "", "", {}});
  }
  if (now >= next_due_ && lead_) {
    next_due_ = now + kMicrosPerSecond;
    if (auto s = Services::open(cfg_, clock_); s) {
      if (auto r = (*s)->hr().apply_due(on_change_); !r) daemon_log("hr", "scheduled events: " + r.error().message);
    }
  }
  if (now < retry_at_) return;
  if (!batch_) {
    // One file at a time: the next is read once the last one is filed away.
    if (queue_.empty() || worker_->outstanding() > (listing_ ? 1U : 0U)) return;
    std::string path = queue_.front();
    queue_.pop_front();
    if (!claim(path)) return;
    worker_->submit({HrSpoolJob::Kind::kRead, path, "", {}});
    return;
  }
  auto applied = services_->hr().apply(*batch_, kEventsPerStep, on_change_);
  if (!applied) {
    // The database is unavailable or similar: leave the file in incoming/
    // and try again (already applied events are skipped).
    daemon_log("hr", batch_->record.file + ": " + applied.error().message + "; will retry in 5s");
    retry_later(batch_->path, false);
    batch_.reset();
    services_.reset();
    return;
  }
  if (HrService::finished(*batch_)) finish_batch();
}

void HrIntake::finish_batch() {
  auto report = services_->hr().finish(*batch_);
  if (!report) {
    daemon_log("hr", batch_->record.file + ": " + report.error().message);
  } else {
    for (const auto& [outcome, n] : (*report)["counts"].items()) {
      if (n.is_number_integer()) outcome_counts_[outcome] += n.get<int64_t>();
    }
    bool nothing_valid = batch_->events.empty() && !batch_->parsed.errors.empty();
    file_away(batch_->path, nothing_valid ? spool_.rejected() : spool_.processed(), *report);
    daemon_log("hr", "applied " + batch_->record.file + " (" + batch_->record.id +
                         "): " + (*report)["counts"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  batch_.reset();
  services_.reset();
}

bool HrIntake::busy() const {
  bool waiting_for_file = worker_ && worker_->outstanding() > 0;
  return (batch_.has_value() || (!queue_.empty() && !waiting_for_file)) && clock_.now() >= retry_at_;
}

void HrIntake::file_away(const std::string& path, const std::string& dir, const nlohmann::json& report) {
  worker_->submit({HrSpoolJob::Kind::kFileAway, path, dir, report});
}

void HrIntake::retry_later(const std::string& path, bool front) {
  if (front) queue_.push_front(path);
  else queue_.push_back(path);
  retry_at_ = clock_.now() + kRetryAfter;
}

void HrIntake::abandon_after_fork() {
  inotify_fd_.reset();
  batch_.reset();
  // Never close the parent's SQLite connection in the child (it would
  // disturb the parent's locks); just forget it.
  (void)services_.release();
  // Its thread did not cross fork: never join it here (and its eventfd is
  // closed with the other inherited descriptors).
  (void)worker_.release();
}

}  // namespace bastion::gateway
