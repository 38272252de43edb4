// Supervisor: the monitor's group commit. The requests of one round of the
// event loop are handled in one transaction; their answers wait for it.
#include <csignal>
#include <cstdio>
#include <set>
#include <unistd.h>

#include "gateway/sshd/supervisor.h"

#include "gateway/app/daemon_log.h"

namespace bastion::gateway {

void Supervisor::send_to(ChildInfo& c, monitor::Message m, UniqueFd pass) {
  if (!batch_.open) {
    if (auto st = monitor::send_message(c.channel.get(), m, MSG_DONTWAIT, pass.get()); !st) {
      daemon_log("monitor: cannot answer process " + std::to_string(c.pid) + ": " + st.message());
    }
    return;
  }
  batch_.outbox.push_back({c.pid, std::move(m), std::move(pass)});
}

void Supervisor::begin_batch() {
  Services* s = monitor_services();
  if (s == nullptr || batch_.open) return;
  // Without a batch every write is its own transaction, as before.
  if (Status st = s->begin_batch(); !st) {
    daemon_log("monitor: cannot start a group commit: " + st.message());
    return;
  }
  batch_.open = true;
}

void Supervisor::end_batch() {
  if (!batch_.open) return;
  batch_.open = false;
  std::vector<Outgoing> outbox = std::move(batch_.outbox);
  batch_.outbox.clear();
  Services* s = monitor_services_.get();
  std::string failure;
  const Micros began = clock_.now();
  if (s == nullptr) {
    failure = "the database connection went away";
  } else if (Status st = s->commit_batch(); !st) {
    failure = st.message();
    if (!s->rollback_batch()) monitor_services_.reset();
  }
  if (failure.empty()) {
    metrics_.observe("bastion_audit_commit_seconds", static_cast<double>(clock_.now() - began) / 1e6);
    if (notifications_) notifications_->wake();  // the batch may have written some
  } else {
    metrics_.add("bastion_database_errors_total");
  }
  if (!failure.empty()) {
    // SECURITY: fail closed. The answers promised that records were durable;
    // they are not, so the connections that were waiting for them end.
    std::set<int> pids;
    for (const auto& o : outbox) pids.insert(o.pid);
    daemon_log("AUDIT FAILURE: a group commit failed (" + failure + "); ending " + std::to_string(pids.size()) +
               " connection(s) that were waiting for it");
    for (int pid : pids) {
      ChildInfo* c = children_.find(pid);
      if (c == nullptr || c->state == ChildState::kKilled) continue;
      ::kill(pid, SIGKILL);
      c->state = ChildState::kKilled;
      c->kill_deadline = 0;
    }
    return;
  }
  // Durable: now the answers go out.
  for (auto& o : outbox) {
    ChildInfo* c = children_.find(o.pid);
    if (c == nullptr || !c->channel) continue;
    if (auto st = monitor::send_message(c->channel.get(), o.message, MSG_DONTWAIT, o.pass.get()); !st) {
      daemon_log("monitor: cannot answer process " + std::to_string(o.pid) + ": " + st.message());
    }
  }
}

}  // namespace bastion::gateway
