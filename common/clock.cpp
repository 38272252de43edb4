#include "common/clock.h"

#include <cstdio>
#include <ctime>

namespace bastion {

Micros SystemClock::now() const {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

const SystemClock& SystemClock::instance() {
  static const SystemClock clock;
  return clock;
}

std::string format_utc_seconds(Micros t) {
  std::string s = format_utc(t);
  return s.substr(0, s.find('.')) + "Z";
}

std::string format_utc(Micros t) {
  time_t secs = static_cast<time_t>(t / kMicrosPerSecond);
  auto frac = static_cast<long>(t % kMicrosPerSecond);
  if (frac < 0) {
    frac += kMicrosPerSecond;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

Result<Micros> parse_utc(std::string_view text) {
  std::string s(text);
  std::tm tm{};
  // Exactly YYYY-MM-DDTHH:MM:SS: digits where digits belong (sscanf's %d
  // would also take a sign or spaces), separators where they belong.
  auto digits = [&](size_t at, size_t n, int& out) {
    out = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  bool shaped = s.size() >= 19 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' && s[16] == ':';
  if (!shaped || !digits(0, 4, tm.tm_year) || !digits(5, 2, tm.tm_mon) || !digits(8, 2, tm.tm_mday) ||
      !digits(11, 2, tm.tm_hour) || !digits(14, 2, tm.tm_min) || !digits(17, 2, tm.tm_sec)) {
    return make_error("invalid time '" + s + "': expected UTC like 2026-11-22T17:00:00Z");
  }
  Micros frac = 0;
  size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    Micros scale = 100000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      frac += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
  }
  if (pos + 1 != s.size() || s[pos] != 'Z') {
    return make_error("invalid time '" + s + "': expected UTC like 2026-11-22T17:00:00Z");
  }
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60) {
    return make_error("invalid time '" + s + "': field out of range");
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<Micros>(timegm(&tm)) * kMicrosPerSecond + frac;
}

Result<Micros> parse_duration(std::string_view text) {
  if (text.empty()) return make_error("empty duration");
  Micros total = 0;
  size_t i = 0;
  bool any = false;
  while (i < text.size()) {
    Micros n = 0;
    size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      n = n * 10 + (text[i] - '0');
      if (n > 10'000'000'000LL) return make_error("duration too large: " + std::string(text));
      ++i;
    }
    if (i == start) {
      return make_error("invalid duration '" + std::string(text) + "': use e.g. 90s, 30m, 4h");
    }
    Micros unit = kMicrosPerSecond;
    if (i < text.size()) {
      switch (text[i]) {
        case 's': unit = kMicrosPerSecond; break;
        case 'm': unit = 60 * kMicrosPerSecond; break;
        case 'h': unit = 3600 * kMicrosPerSecond; break;
        case 'd': unit = 86400 * kMicrosPerSecond; break;
        default: return make_error("invalid duration '" + std::string(text) + "': use e.g. 90s, 30m, 4h");
      }
      ++i;
    } else if (any) {
      return make_error("invalid duration '" + std::string(text) + "': missing unit");
    }
    // SECURITY: n <= 1e10 and unit <= 8.64e10, so n * unit fits in int64; the
    // running total is capped at 100 years so a sum cannot wrap to a small or
    // negative duration (a grant "for" a negative time, a TTL in the past).
    constexpr Micros kMaxDuration = 100LL * 366 * 86400 * kMicrosPerSecond;
    if (n > kMaxDuration / unit || total > kMaxDuration - n * unit) {
      return make_error("duration too large: " + std::string(text) + " (at most 100 years)");
    }
    total += n * unit;
    any = true;
  }
  return total;
}

std::string format_duration(Micros d) {
  Micros s = d / kMicrosPerSecond;
  std::string out;
  if (s >= 3600) {
    out += std::to_string(s / 3600) + "h";
    s %= 3600;
  }
  if (s >= 60) {
    out += std::to_string(s / 60) + "m";
    s %= 60;
  }
  if (s > 0 || out.empty()) out += std::to_string(s) + "s";
  return out;
}

}  // namespace bastion
