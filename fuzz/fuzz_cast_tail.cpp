// Fuzzes gateway::CastTail, which the web process runs over a live terminal
// recording: a file a compromised connection process writes as it likes.
// Input: the file's bytes, written in pieces (split at each 0xFF byte, which
// never occurs in UTF-8 text) with a poll after each piece, as a growing file
// is read. Properties: each answer is whole SSE messages, each "data:" one
// line of JSON (a reset object first, then event arrays); an error sticks
// to nothing (the stream simply ends).
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "fuzz_support.h"
#include "gateway/web/cast_tail.h"

using namespace bastion;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = fuzz::as_text(data, size);
  int fd = ::memfd_create("cast", MFD_CLOEXEC);
  FUZZ_CHECK(fd >= 0);
  gateway::CastTail tail(fd);
  bool started = false;
  size_t at = 0;
  while (at <= in.size()) {
    size_t cut = in.find('\xff', at);
    if (cut == std::string_view::npos) cut = in.size();
    std::string_view piece = in.substr(at, cut - at);
    FUZZ_CHECK(::write(fd, piece.data(), piece.size()) == static_cast<ssize_t>(piece.size()));
    at = cut + 1;
    auto out = tail.poll();
    if (!out) {
      FUZZ_CHECK(!out.error().message.empty());
      break;
    }
    size_t pos = 0;
    while (pos < out->size()) {
      FUZZ_CHECK(out->compare(pos, 6, "data: ") == 0);
      size_t end = out->find("\n\n", pos);
      FUZZ_CHECK(end != std::string::npos);
      std::string line = out->substr(pos + 6, end - pos - 6);
      FUZZ_CHECK(line.find('\n') == std::string::npos);
      auto j = nlohmann::json::parse(line, nullptr, false);
      FUZZ_CHECK(!j.is_discarded());
      if (!started) {
        FUZZ_CHECK(j.is_object() && j["cols"].get<int>() >= 1 && j["rows"].get<int>() >= 1);
        // (bytes that are not UTF-8 come out as U+FFFD: up to three bytes each)
        FUZZ_CHECK(j["init"].get<std::string>().size() <= 3 * gateway::CastTail::kMaxInit);
        started = true;
      } else {
        FUZZ_CHECK(j.is_array() && j.size() == 3 && (j[1] == "o" || j[1] == "r"));
      }
      pos = end + 2;
    }
  }
  ::close(fd);
  return 0;
}
