#include "gateway/sshd/child_table.h"

#include "gateway/app/daemon_log.h"

namespace bastion::gateway {

void ChildTable::add(ChildInfo c) {
  const int pid = c.pid;
  children_.emplace(pid, std::move(c));
}

ChildInfo* ChildTable::find(int pid) {
  auto it = children_.find(pid);
  return it == children_.end() ? nullptr : &it->second;
}

void ChildTable::erase(int pid) { children_.erase(pid); }

bool ChildTable::room_to_serve(const std::string& group) const {
  int unauth = 0, unauth_here = 0;
  for (const auto& [pid, c] : children_) {
    if (c.authenticated) continue;
    ++unauth;
    if (c.source_group == group) ++unauth_here;
  }
  // SECURITY: cap pre-auth work so a flood of half-open connections cannot
  // exhaust processes; authenticated sessions are not counted.
  return unauth < cfg_.max_unauthenticated && unauth_here < cfg_.max_unauthenticated_per_source;
}

size_t ChildTable::waiting_from(const std::string& group) const {
  size_t here = 0;
  for (const auto& w : waiting_) here += w.group == group;
  return here;
}

bool ChildTable::wait(Waiting w) {
  // A waiting connection costs one descriptor; these bound how many.
  if (waiting_.size() >= static_cast<size_t>(cfg_.max_queued) ||
      waiting_from(w.group) >= static_cast<size_t>(cfg_.max_queued_per_source)) {
    return false;
  }
  waiting_.push_back(std::move(w));
  return true;
}

void ChildTable::serve_waiting(bool stopping, const std::function<void(Waiting)>& serve) {
  if (waiting_.empty()) return;
  Micros now = clock_.now();
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (stopping || now - it->accepted_at >= cfg_.login_grace_time) {
      daemon_log("closing connection from " + it->ip + ": waited " + format_duration(now - it->accepted_at) +
                 " for a pre-auth slot");
      it = waiting_.erase(it);
      continue;
    }
    // First come, first served, except that a source at its cap does not
    // hold up the others.
    if (!room_to_serve(it->group)) {
      ++it;
      continue;
    }
    Waiting w = std::move(*it);
    it = waiting_.erase(it);
    serve(std::move(w));
  }
}

void ChildTable::abandon_after_fork() {
  for (auto& [p, c] : children_) c.channel.reset();
  waiting_.clear();
}

}  // namespace bastion::gateway
