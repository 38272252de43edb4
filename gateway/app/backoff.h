// Back-off after failed logins, per source address and per key.
//
// After `after` failures (without a success in between), further attempts
// are refused for 1s, then 2s, 4s, ... up to `max`, counted from the last
// failure. A success clears the record; records idle for 15 minutes are
// forgotten. Bounded: at most kMaxEntries records (the oldest go first).
// Not thread-safe (the supervisor is single-threaded).
#pragma once

#include <string>
#include <unordered_map>

#include "common/clock.h"

namespace bastion::gateway {

class Backoff {
 public:
  static constexpr size_t kMaxEntries = 100000;
  static constexpr Micros kForgetAfter = 15 * 60 * kMicrosPerSecond;

  Backoff(int after, Micros max) : after_(after), max_(max) {}

  void failure(const std::string& key, Micros now);
  void success(const std::string& key) { records_.erase(key); }
  // When attempts from `key` are allowed again, or 0 if they are allowed now.
  [[nodiscard]] Micros blocked_until(const std::string& key, Micros now) const;
  [[nodiscard]] int failures(const std::string& key) const;
  void prune(Micros now);
  [[nodiscard]] size_t size() const { return records_.size(); }

 private:
  struct Record {
    int count = 0;
    Micros last = 0;
  };
  int after_;
  Micros max_;
  std::unordered_map<std::string, Record> records_;
};

}  // namespace bastion::gateway
