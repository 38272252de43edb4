// Fuzzes OpenSSH known_hosts parsing (authn/known_hosts.h): the first input
// line names the host and port to look for ("HOST PORT"), the rest is the file.
// Properties: every key returned parses back from its line and validates as
// its type; a line number is within the file; no key is returned twice; an
// error has a message; the wildcard matcher terminates on any pattern.
#include <cstddef>
#include <cstdint>
#include <string>

#include "authn/known_hosts.h"
#include "fuzz_support.h"

using namespace bastion;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = fuzz::as_text(data, size);
  size_t nl = in.find('\n');
  std::string_view first = in.substr(0, nl);
  std::string_view text = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  size_t sp = first.find(' ');
  std::string host(first.substr(0, sp));
  uint16_t port = 22;
  if (sp != std::string_view::npos) {
    unsigned long p = 0;
    for (char c : first.substr(sp + 1, 5)) {
      if (c < '0' || c > '9') break;
      p = p * 10 + static_cast<unsigned long>(c - '0');
    }
    port = static_cast<uint16_t>(p);
  }
  auto keys = authn::known_host_keys(text, host, port);
  if (keys) {
    int lines = 1;
    for (char c : text) lines += c == '\n' ? 1 : 0;
    for (size_t i = 0; i < keys->size(); ++i) {
      const auto& k = (*keys)[i];
      FUZZ_CHECK(k.line >= 1 && k.line <= lines);
      auto type = authn::validate_key_blob(k.key.blob);
      FUZZ_CHECK(type && *type == k.key.type);
      auto again = authn::parse_public_key_line(authn::to_line(k.key));
      FUZZ_CHECK(again && again->blob == k.key.blob);
      for (size_t j = 0; j < i; ++j) FUZZ_CHECK((*keys)[j].key.blob != k.key.blob);
    }
  } else {
    FUZZ_CHECK(!keys.error().message.empty());
  }
  (void)authn::known_hosts_glob(first, text.substr(0, 256));
  return 0;
}
