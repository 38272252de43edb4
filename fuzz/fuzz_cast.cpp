// Fuzzes recorder::parse_cast (asciicast v2 recordings, files an attacker may
// have touched) and recorder::search_cast on what it returns.
// Input: NEEDLE "\n" CAST: the first line is the text to search for, the
// rest the recording (header line, then one event array per line).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "recorder/review.h"

using namespace bastion;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = fuzz::as_text(data, size);
  size_t nl = in.find('\n');
  if (nl == std::string_view::npos) return 0;
  std::string needle(in.substr(0, nl));
  std::string_view text = in.substr(nl + 1);

  auto cast = recorder::parse_cast(text, "fuzz.cast");
  if (!cast) {
    FUZZ_CHECK(!cast.error().message.empty());
    return 0;
  }
  FUZZ_CHECK(cast->header.is_object());
  for (const auto& e : cast->events) FUZZ_CHECK(e.data.size() <= text.size());
  auto hits = recorder::search_cast(*cast, needle, 5);
  FUZZ_CHECK(hits.size() <= 5);
  for (const auto& h : hits) FUZZ_CHECK(h.snippet.find('\n') == std::string::npos);
  return 0;
}
