// NotificationWorker: delivers the outbox (notify/outbox.h) on a thread of
// its own with its own database connection, so a dead SMTP relay or webhook
// never holds up a login, an approval or a revocation.
//
// At least once, in order: notifications are taken in the order of their
// events; one that fails blocks the later ones of its thread (a request's
// notifications on one channel) until it is delivered, and is retried with
// exponential back-off (1 s, 2 s, 4 s, ... up to [notify] retry_max). Each
// carries its idempotency key (X-Bastion-Idempotency-Key, the e-mail's
// Message-ID), so a receiver drops the copy a crash between sending and
// recording may cause. One still undelivered [notify] give_up_after after its
// event is failed (`bastionctl notify retry`). Audited: notify.sent,
// notify.delayed (its first failure), notify.failed.
//
// Several nodes: only the cluster's lead delivers (set_lead).
// Contract: start/stop/wake/set_lead from the owner's thread. fork(): a
// child calls abandon_after_fork() (the thread did not cross fork).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/config.h"
#include "gateway/app/notifications.h"

namespace bastion::gateway {

class Services;

class NotificationWorker {
 public:
  using Log = std::function<void(const std::string&)>;
  // `sender`: the command that performs one send in a sandbox, reading the
  // job on stdin (bastiond: /proc/self/exe --deliver-notification USER
  // STATE_DIR); empty: in this process (tests).
  NotificationWorker(const Config& cfg, const Clock& clock, Log log, std::vector<std::string> sender = {});
  NotificationWorker(const NotificationWorker&) = delete;
  NotificationWorker& operator=(const NotificationWorker&) = delete;
  ~NotificationWorker();

  // Reads the channels' secrets (an error: bastiond does not start) and
  // starts the thread. Without any channel configured, starts nothing.
  Status start();
  // Stops promptly: a send in progress is aborted (it is retried at the next start).
  void stop();
  // Something may have been written: look now rather than at the next tick.
  void wake();
  void set_lead(bool lead);
  void abandon_after_fork();
  // The back-off after `attempts` failures, capped at `max`.
  static Micros backoff(int attempts, Micros max);

 private:
  void run();
  // Performs one job through `sender_` (or here); aborts it when stopping.
  Status send(const nlohmann::json& job);
  // One pass over the pending notifications; when to look again.
  Micros pass();

  Config cfg_;
  const Clock& clock_;
  Log log_;
  std::vector<std::string> sender_;
  bool sandbox_logged_ = false;  // the thread's: the first answer's "sandbox", logged once
  NotifySecrets secrets_;
  std::unique_ptr<Services> services_;  // the thread's connection
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> lead_{true};
};

}  // namespace bastion::gateway
