// Supervisor: the HR spool, and ending or re-checking a person's sessions.
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "gateway/app/services.h"
#include "gateway/app/daemon_log.h"
#include "policy/access.h"
#include "gateway/sshd/supervisor.h"
#include "policy/decision.h"

namespace bastion::gateway {
namespace {

constexpr size_t kEventsPerStep = 64;

}  // namespace

bool Supervisor::setup_hr() {
  spool_.root = cfg_.hr_spool;
  if (auto st = spool_.ensure(); !st) {
    daemon_log("hr", "spool: " + st.message());
    return false;
  }
  inotify_fd_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify_fd_ || ::inotify_add_watch(inotify_fd_.get(), spool_.incoming().c_str(), IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
    daemon_log("hr", "cannot watch " + spool_.incoming() + ": " + std::strerror(errno));
    return false;
  }
  // Files that arrived while we were down (or were half applied when we died).
  for (auto& f : spool_.waiting()) hr_queue_.push_back(std::move(f));
  hr_worker_ = std::make_unique<HrSpoolWorker>(spool_, cfg_.hr_max_file_size, hooks_.before_hr_read);
  return true;
}

void Supervisor::read_hr_notifications() {
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
      std::string path = spool_.incoming() + "/" + name;
      bool current = hr_batch_ && hr_batch_->path == path;
      if (!current && std::find(hr_queue_.begin(), hr_queue_.end(), path) == hr_queue_.end()) {
        hr_queue_.push_back(path);
      }
    }
  }
}

HrAccessChange Supervisor::hr_access_change() {
  return [this](const std::string& user, const std::string& message, bool left) {
    if (left) end_user_sessions(user, message);
    else recheck_user_sessions(user);
  };
}

void Supervisor::file_hr_away(const std::string& path, const std::string& dir, const nlohmann::json& report) {
  hr_worker_->submit({HrSpoolJob::Kind::kFileAway, path, dir, report});
}

void Supervisor::read_hr_worker() {
  for (auto& r : hr_worker_->take()) {
    if (r.kind == HrSpoolJob::Kind::kFileAway) {
      if (!r.moved) daemon_log("hr", r.moved.error().message);
      continue;
    }
    if (r.file.gone) continue;  // moved away before we got to it
    const std::string& path = r.path;
    auto s = Services::open(cfg_, clock_);
    if (!s) {
      daemon_log("hr", "" + s.error().message + "; will retry in 5s");
      hr_queue_.push_front(path);
      hr_retry_at_ = clock_.now() + 5 * kMicrosPerSecond;
      continue;
    }
    hr_services_ = std::move(*s);
    auto b = hr_services_->hr().open(r.file);
    if (!b) {
      daemon_log("hr", "" + path + ": " + b.error().message);
      file_hr_away(path, spool_.rejected(), {{"file", path}, {"error", b.error().message}});
      hr_services_.reset();
      continue;
    }
    if (b->held) {
      daemon_log("hr", "ALERT: held " + b->record.id + " (" + b->record.file + "): " + b->hold_reason);
      file_hr_away(path, spool_.held(), hr_report_json(*b));
      hr_services_.reset();
      continue;
    }
    hr_batch_ = std::move(*b);
  }
}

void Supervisor::process_hr() {
  Micros now = clock_.now();
  if (now >= next_hr_due_) {
    next_hr_due_ = now + kMicrosPerSecond;
    if (auto s = Services::open(cfg_, clock_); s) {
      if (auto r = (*s)->hr().apply_due(hr_access_change()); !r) daemon_log("hr", "scheduled events: " + r.error().message);
    }
  }
  if (now < hr_retry_at_) return;
  if (!hr_batch_) {
    // One file at a time: the next is read once the last one is filed away.
    if (hr_queue_.empty() || hr_worker_->outstanding() > 0) return;
    hr_worker_->submit({HrSpoolJob::Kind::kRead, hr_queue_.front(), "", {}});
    hr_queue_.pop_front();
    return;
  }
  auto applied = hr_services_->hr().apply(*hr_batch_, kEventsPerStep, hr_access_change());
  if (!applied) {
    // The database is unavailable or similar: leave the file in incoming/
    // and try again (already applied events are skipped).
    daemon_log("hr", "" + hr_batch_->record.file + ": " + applied.error().message + "; will retry in 5s");
    hr_queue_.push_back(hr_batch_->path);
    hr_retry_at_ = now + 5 * kMicrosPerSecond;
    hr_batch_.reset();
    hr_services_.reset();
    return;
  }
  if (!HrService::finished(*hr_batch_)) return;
  auto report = hr_services_->hr().finish(*hr_batch_);
  if (!report) {
    daemon_log("hr", "" + hr_batch_->record.file + ": " + report.error().message);
  } else {
    bool nothing_valid = hr_batch_->events.empty() && !hr_batch_->parsed.errors.empty();
    file_hr_away(hr_batch_->path, nothing_valid ? spool_.rejected() : spool_.processed(), *report);
    daemon_log("hr", "applied " + hr_batch_->record.file + " (" + hr_batch_->record.id + "): " + (*report)["counts"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  hr_batch_.reset();
  hr_services_.reset();
}

void Supervisor::end_user_sessions(const std::string& user, const std::string& message) {
  // Tell every session first, then write the audit records: the sessions
  // end while the records are being written.
  std::vector<std::string> ended;
  for (auto& [pid, c] : children_) {
    // Sessions, and logins waiting for their step-up.
    if (!c.live_or_logging_in() || c.user != user || c.kill_deadline != 0) continue;
    request_kill(c, message);
    ended.push_back(c.session_id);
  }
  for (const auto& id : ended) audit("session.kill", message, id, user);
  // SECURITY: consent given by someone who no longer has access no longer
  // stands for grants nobody has used yet (and pending requests).
  Services* s = monitor_services();
  if (s == nullptr) return;
  auto withdrawn = s->elevation().withdraw_consents(user, grant_used(*s),
                                                    "consent withdrawn: approver " + user + " no longer has access");
  if (!withdrawn) {
    daemon_log("cannot withdraw the consents of " + user + ": " + withdrawn.error().message);
  } else if (!withdrawn->empty()) {
    sweep_grants(true);
  }
}

void Supervisor::recheck_user_sessions(const std::string& user) {
  std::unique_ptr<Services> own;
  Services* s = hr_services_.get();
  if (s == nullptr) {
    auto opened = Services::open(cfg_, clock_);
    if (!opened) {
      daemon_log("cannot re-check sessions of " + user + ": " + opened.error().message);
      return;
    }
    own = std::move(*opened);
    s = own.get();
  }
  Micros now = clock_.now();
  for (auto& [pid, c] : children_) {
    if (!c.live_or_logging_in() || c.user != user || c.kill_deadline != 0) continue;
    auto person = s->policy().find_person(user);
    if (!person) continue;  // cannot tell: the periodic re-check comes back to it
    if (!*person || (*person)->state != policy::PersonState::kActive) {
      std::string why = "access revoked: account " + user + " is " +
                        (*person ? policy::to_string((*person)->state) : std::string("gone"));
      audit("session.kill", why, c.session_id, c.user);
      request_kill(c, why);
      continue;
    }
    if (c.target.empty()) continue;  // command mode: the account is what matters
    auto in = policy::decide_access(s->policy(), user, c.target, c.login, now);
    if (!in) continue;
    const policy::Decision& d = in->decision;
    if (!d.allow) {
      std::string why = "access revoked: " + d.reason;
      audit("session.kill", why, c.session_id, c.user);
      request_kill(c, why);
    }
  }
}

}  // namespace bastion::gateway
