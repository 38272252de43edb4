// Fuzzes gateway::split_words, the command-mode word splitter (what a person
// types after `ssh NAME@gateway`): whitespace separates words, '...' and
// "..." quote, backslash escapes the next character.
// Input: the command line. Properties: words never hold more bytes than the
// line; a line of plain words splits like a whitespace split; quoting each
// word of a result and joining them gives the same words back.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "gateway/sshd/command_mode.h"

using namespace bastion;

namespace {

// Single quotes take everything literally but a single quote; it is closed,
// escaped and reopened.
std::string quote(const std::string& w) {
  std::string out = "'";
  for (char c : w) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string line(fuzz::as_text(data, size));
  auto words = gateway::split_words(line);
  if (!words) {
    FUZZ_CHECK(!words.error().message.empty());
    return 0;
  }
  size_t total = 0;
  for (const auto& w : *words) total += w.size();
  FUZZ_CHECK(total <= line.size());

  if (line.find_first_of("'\"\\") == std::string::npos) {
    std::vector<std::string> plain;
    std::string cur;
    bool in_word = false;
    for (char c : line) {
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        if (in_word) plain.push_back(cur);
        cur.clear();
        in_word = false;
      } else {
        cur += c;
        in_word = true;
      }
    }
    if (in_word) plain.push_back(cur);
    FUZZ_CHECK(plain == *words);
  }

  std::string requoted;
  for (const auto& w : *words) requoted += (requoted.empty() ? "" : " ") + quote(w);
  auto again = gateway::split_words(requoted);
  FUZZ_CHECK(again && *again == *words);
  return 0;
}
