// NotificationWorker (gateway/app/notification_worker.h).
#include "gateway/app/notification_worker.h"

#include <set>

#include "gateway/app/services.h"

namespace bastion::gateway {

NotificationWorker::NotificationWorker(const Config& cfg, const Clock& clock, Log log)
    : cfg_(cfg), clock_(clock), log_(std::move(log)) {}

NotificationWorker::~NotificationWorker() { stop(); }

Status NotificationWorker::start() {
  auto secrets = load_notify_secrets(cfg_);
  if (!secrets) return secrets.error();
  secrets_ = std::move(*secrets);
  if (cfg_.smtp_url.empty() && cfg_.notify_webhooks.empty()) return {};
  thread_ = std::thread([this] { run(); });
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
    Status sent = deliver(cfg_, secrets_, n, now, [this] { return stopping_.load(); });
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
