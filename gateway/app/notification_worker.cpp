// NotificationWorker (gateway/app/notification_worker.h).
#include "gateway/app/notification_worker.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <set>

#include "common/unique_fd.h"

#include "gateway/app/services.h"

namespace bastion::gateway {

NotificationWorker::NotificationWorker(const Config& cfg, const Clock& clock, Log log, std::vector<std::string> sender)
    : cfg_(cfg), clock_(clock), log_(std::move(log)), sender_(std::move(sender)) {}

NotificationWorker::~NotificationWorker() { stop(); }

Status NotificationWorker::start() {
  auto secrets = load_notify_secrets(cfg_);
  if (!secrets) return secrets.error();
  secrets_ = std::move(*secrets);
  if (cfg_.smtp_url.empty() && cfg_.notify_webhooks.empty()) return {};
  // The thread takes no signal: the supervisor reads them from its signalfd
  // (a SIGTERM or SIGCHLD delivered here would be lost, or kill bastiond).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  thread_ = std::thread([this] { run(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return {};
}

void NotificationWorker::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  wake();
  thread_.join();
}

void NotificationWorker::wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
  }
  cv_.notify_one();
}

void NotificationWorker::set_lead(bool lead) {
  bool was = lead_.exchange(lead);
  if (lead && !was) wake();
}

void NotificationWorker::abandon_after_fork() {
  // The thread object describes a thread that does not exist in the child:
  // destroying or joining it would abort. Leak it, untouched.
  // Nor may the child close the thread's database connection.
  if (thread_.joinable()) new std::thread(std::move(thread_));
  (void)services_.release();
}

Status NotificationWorker::send(const nlohmann::json& job) {
  if (sender_.empty()) return perform_delivery(job, [this] { return stopping_.load(); });
  // Everything the child needs, made before fork: between fork and exec a
  // child of a threaded process may only make async-signal-safe calls.
  std::vector<char*> argv;
  for (auto& a : sender_) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string input = job.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return make_error(std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    return make_error(std::string("pipe: ") + std::strerror(errno));
  }
  UniqueFd to_child(in[1]), from_child(out[0]);
  sigset_t none;
  sigemptyset(&none);
  pid_t pid = ::fork();
  if (pid == 0) {
    // This thread blocks every signal; the sender starts with none blocked.
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    if (::dup2(in[0], STDIN_FILENO) < 0 || ::dup2(out[1], STDOUT_FILENO) < 0) ::_exit(127);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  if (pid < 0) return make_error(std::string("fork: ") + std::strerror(errno));
  // The supervisor's loop reaps it (it ignores children it does not know);
  // a pidfd names this very process for the kill below, even after that.
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  auto kill_child = [&] {
    if (pidfd) {
      ::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
    } else {
      ::kill(pid, SIGKILL);
    }
  };
  // The job is small; the sender reads all of it before anything else.
  size_t at = 0;
  while (at < input.size()) {
    ssize_t n = ::write(to_child.get(), input.data() + at, input.size() - at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    at += static_cast<size_t>(n);
  }
  to_child.reset();
  std::string answer;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    if (stopping_) {
      kill_child();
      return make_error("stopped");
    }
    if (std::chrono::steady_clock::now() > deadline) {
      kill_child();
      return make_error("the sender did not finish within 60 s");
    }
    pollfd p{from_child.get(), POLLIN, 0};
    int rc = ::poll(&p, 1, 100);
    if (rc < 0 && errno != EINTR) return make_error(std::string("poll: ") + std::strerror(errno));
    if (rc <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(from_child.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (answer.size() < 65536) answer.append(buf, static_cast<size_t>(n));
  }
  auto result = nlohmann::json::parse(answer, nullptr, false);
  if (!result.is_object() || !result.contains("ok") || !result["ok"].is_boolean()) {
    return make_error("the sender exited without an answer (see the daemon log)");
  }
  if (!sandbox_logged_ && result.contains("sandbox") && result["sandbox"].is_string()) {
    sandbox_logged_ = true;
    log_("notifications: each one is sent by a bastiond of its own in the sandbox: " +
         result["sandbox"].get<std::string>());
  }
  if (result["ok"].get<bool>()) return {};
  return make_error(result.value("error", std::string("failed")));
}

Micros NotificationWorker::backoff(int attempts, Micros max) {
  Micros wait = kMicrosPerSecond;
  for (int i = 1; i < attempts && wait < max; ++i) wait *= 2;
  return std::min(wait, max);
}

void NotificationWorker::run() {
  while (!stopping_) {
    Micros wait = lead_ ? pass() : kMicrosPerSecond;
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::microseconds(wait), [this] { return woken_ || stopping_.load(); });
    woken_ = false;
  }
}

Micros NotificationWorker::pass() {
  // Its own connection, kept while it works (reopened after an error).
  if (!services_) {
    auto opened = Services::open(cfg_, clock_);
    if (!opened) {
      log_("notifications: database unavailable: " + opened.error().message);
      return 5 * kMicrosPerSecond;
    }
    services_ = std::move(*opened);
  }
  Services& s = *services_;
  auto pending = s.outbox().pending(500);
  if (!pending) {
    log_("notifications: cannot read the outbox: " + pending.error().message);
    services_.reset();
    return 5 * kMicrosPerSecond;
  }
  Micros next = kMicrosPerSecond;  // new ones may come without a wake (another process wrote them)
  std::set<std::string> blocked;   // (channel, thread) waiting behind an earlier notification
  for (const auto& n : *pending) {
    if (stopping_ || !lead_) break;
    std::string thread_key = n.channel + "\n" + n.thread;
    if (blocked.contains(thread_key)) continue;
    Micros now = clock_.now();
    if (n.next_at > now) {
      blocked.insert(thread_key);
      next = std::min(next, n.next_at - now);
      continue;
    }
    auto job = delivery_job(cfg_, secrets_, n, now);
    Status sent = job ? send(*job) : Status{job.error()};
    if (stopping_) break;  // aborted, not failed: retried at the next start
    now = clock_.now();
    nlohmann::json d = {{"notification", n.id()},
                        {"key", n.key},
                        {"kind", n.kind},
                        {"channel", n.channel},
                        {"attempt", n.attempts + 1}};
    if (n.facts.contains("request_id")) d["request_id"] = n.facts["request_id"];
    if (n.channel == "email") d["recipients"] = n.recipients;
    if (sent) {
      Status st = s.audit().atomically([&]() -> Status {
        if (auto marked = s.outbox().mark_sent(n, now); !marked) return marked;
        auto r = s.audit().append({"system", "notify.sent", recorder::Outcome::kInfo,
                                   n.kind + " notification delivered by " + n.channel, n.channel, "", "", "", d});
        return r ? Status{} : Status{r.error()};
      });
      // Sent but not recorded: it is sent again later, with the same key.
      if (!st) log_("notifications: " + n.id() + " was sent but cannot be marked: " + st.message());
      continue;
    }
    blocked.insert(thread_key);
    bool give_up = now - n.created_at >= cfg_.notify_give_up || sent.error().code == ErrorCode::kInvalid;
    Micros again = now + backoff(n.attempts + 1, cfg_.notify_retry_max);
    d["error"] = sent.message();
    Status st = s.audit().atomically([&]() -> Status {
      if (auto marked = s.outbox().mark_attempt_failed(n, sent.message(), again, give_up); !marked) return marked;
      if (!give_up && n.attempts > 0) return {};  // one record per outage, not one per retry
      if (!give_up) d["next_attempt"] = format_utc(again);
      auto r = s.audit().append({"system", give_up ? "notify.failed" : "notify.delayed", recorder::Outcome::kError,
                                 n.kind + " notification by " + n.channel +
                                     (give_up ? " given up: " : " not delivered yet: ") + sent.message(),
                                 n.channel, "", "", "", d});
      return r ? Status{} : Status{r.error()};
    });
    if (!st) log_("notifications: cannot record the failure of " + n.id() + ": " + st.message());
    if (!give_up) next = std::min(next, again - now);
  }
  return std::max<Micros>(next, 10000);
}

}  // namespace bastion::gateway
