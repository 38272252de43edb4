// Fuzzes recorder::parse_cast (asciicast v2 recordings, files an attacker may
// have touched) and recorder::search_cast on what it returns (its output run
// through the terminal emulator, ScreenText).
// Also, on every input, the writer's recorder::append_json_string: its output
// is one JSON string that decodes to the input when the input is UTF-8 (or
// has U+FFFD for each bad byte otherwise).
// Input: NEEDLE "\n" CAST: the first line is the text to search for, the
// rest the recording (header line, then one event array per line).
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "fuzz_support.h"
#include "common/encoding.h"
#include "recorder/asciicast.h"
#include "recorder/review.h"

using namespace bastion;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = fuzz::as_text(data, size);
  std::string escaped = "x";
  recorder::append_json_string(escaped, in);
  FUZZ_CHECK(escaped.size() <= 1 + in.size() * 6 + 2);
  auto decoded = nlohmann::json::parse(std::string_view(escaped).substr(1), nullptr, false);
  FUZZ_CHECK(decoded.is_string());
  if (is_valid_utf8(in)) FUZZ_CHECK(decoded.get<std::string>() == in);

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
  for (const auto& h : hits) {
    FUZZ_CHECK(h.snippet.find(needle) != std::string::npos);  // the rendered line holds the match
    FUZZ_CHECK(h.snippet.find('\n') == std::string::npos);
    FUZZ_CHECK(is_valid_utf8(h.snippet));
  }
  return 0;
}
