// Fuzzes policy::TargetSelector::parse (role target selectors: a name glob or
// label=value) and, for selectors that parse, matches() against a target.
// Input: SELECTOR, then optionally "\n" NAME "\n" LABEL "\n" VALUE
// "\n" CUSTOMER for the target (each at most 64 bytes, like stored names).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "policy/selector.h"

using namespace bastion;

namespace {

std::vector<std::string> split_lines(std::string_view s, size_t max_parts) {
  std::vector<std::string> out;
  while (out.size() + 1 < max_parts) {
    size_t nl = s.find('\n');
    if (nl == std::string_view::npos) break;
    out.emplace_back(s.substr(0, nl));
    s.remove_prefix(nl + 1);
  }
  out.emplace_back(s);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parts = split_lines(fuzz::as_text(data, size), 5);
  parts.resize(5);
  const std::string& text = parts[0];
  auto sel = policy::TargetSelector::parse(text);
  if (!sel) return 0;
  FUZZ_CHECK(sel->text() == text);
  FUZZ_CHECK(!text.empty() && text.size() <= 256);
  policy::Target t;
  t.name = parts[1].substr(0, 64);
  if (!parts[2].empty()) t.labels[parts[2].substr(0, 64)] = parts[3].substr(0, 64);
  t.customer = parts[4].substr(0, 64);
  (void)sel->matches(t);
  // The selector's own text as a target name (a glob matches itself when it
  // has no special characters; only checked for plain names).
  t.name = text;
  bool plain = text.find_first_of("*?[\\=") == std::string::npos;
  if (plain) FUZZ_CHECK(sel->matches(t));
  return 0;
}
