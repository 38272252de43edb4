#include "gateway/app/backoff.h"

#include <algorithm>

namespace bastion::gateway {

void Backoff::failure(const std::string& key, Micros now) {
  if (after_ <= 0) return;
  if (records_.size() >= kMaxEntries && !records_.count(key)) prune(now);
  if (records_.size() >= kMaxEntries) {
    // Still full of recent records: drop the oldest to stay bounded.
    auto oldest = std::min_element(records_.begin(), records_.end(),
                                   [](const auto& a, const auto& b) { return a.second.last < b.second.last; });
    records_.erase(oldest);
  }
  Record& r = records_[key];
  if (r.last != 0 && now - r.last > kForgetAfter) r.count = 0;
  ++r.count;
  r.last = now;
}

Micros Backoff::blocked_until(const std::string& key, Micros now) const {
  if (after_ <= 0) return 0;
  auto it = records_.find(key);
  if (it == records_.end() || it->second.count < after_) return 0;
  int doublings = std::min(it->second.count - after_, 30);
  Micros delay = std::min<Micros>(kMicrosPerSecond << doublings, max_);
  Micros until = it->second.last + delay;
  return until > now ? until : 0;
}

int Backoff::failures(const std::string& key) const {
  auto it = records_.find(key);
  return it == records_.end() ? 0 : it->second.count;
}

void Backoff::prune(Micros now) {
  for (auto it = records_.begin(); it != records_.end();) {
    if (now - it->second.last > kForgetAfter) it = records_.erase(it);
    else ++it;
  }
}

}  // namespace bastion::gateway
