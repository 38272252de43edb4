// Time for bastion: one seam (Clock) so tests can control "now".
//
// All stored times are microseconds since the Unix epoch, UTC (portable to
// any SQL engine as a 64-bit integer).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace bastion {

using Micros = int64_t;  // microseconds since the Unix epoch, UTC

class Clock {
 public:
  virtual ~Clock() = default;
  [[nodiscard]] virtual Micros now() const = 0;
};

// The real wall clock. Thread-safe.
class SystemClock final : public Clock {
 public:
  [[nodiscard]] Micros now() const override;
  static const SystemClock& instance();
};

// A clock tests set by hand.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(Micros start) : now_(start) {}
  [[nodiscard]] Micros now() const override { return now_; }
  void advance(Micros delta) { now_ += delta; }

 private:
  Micros now_;
};

constexpr Micros kMicrosPerSecond = 1'000'000;

// "2026-11-22T17:00:00.123456Z"
std::string format_utc(Micros t);
// "2026-11-22T17:00:00Z" (truncated to the second), for people to read.
std::string format_utc_seconds(Micros t);
// Accepts "2026-11-22T17:00:00Z", with optional fraction; only UTC ('Z').
Result<Micros> parse_utc(std::string_view text);
// Durations: "90s", "30m", "4h", "1h30m", "2d"; a bare number is seconds.
Result<Micros> parse_duration(std::string_view text);
std::string format_duration(Micros d);

}  // namespace bastion
