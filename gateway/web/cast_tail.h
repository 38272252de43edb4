// CastTail: a live terminal recording (asciicast v2, being written by a
// connection process) turned into Server-Sent Events for asciinema-player's
// "eventsource" driver, as the file grows.
//
// The first poll() sends the terminal so far: one reset message
// {"cols","rows","time","init"} whose `init` is the output written up to now
// (its last kMaxInit bytes), so a watcher who joins late sees the screen as
// it is. Each later poll() sends the events written since, one message each:
// output as [time, "o", text], a resize as [time, "r", {"cols","rows"}].
// Keystrokes ("i") and markers are not sent: a watcher sees the screen.
// Only whole lines are read; a line still being written waits for the next
// poll. Reads with pread() at its own offset, so the descriptor may be the
// monitor's read-only one. Not thread-safe; one per watcher.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/result.h"

namespace bastion::gateway {

class CastTail {
 public:
  static constexpr size_t kMaxInit = 1 << 20;
  static constexpr size_t kMaxLine = 4 << 20;

  explicit CastTail(int fd) : fd_(fd) {}

  // The SSE text for what was written since the last call ("" for nothing
  // yet); an error when the file is not a terminal recording or a line is
  // malformed or longer than kMaxLine.
  Result<std::string> poll();

  // The last event: the stream ends (the player shows that it ended).
  static std::string done();
  // A comment line that keeps proxies from closing an idle stream.
  static std::string keepalive() { return ": still watching\n\n"; }

 private:
  Result<std::string> first(std::string& lines);
  Result<std::string> events(std::string& lines);

  int fd_;
  int64_t offset_ = 0;
  std::string partial_;  // the start of a line still being written
  bool started_ = false;
  int cols_ = 80, rows_ = 24;
};

}  // namespace bastion::gateway
