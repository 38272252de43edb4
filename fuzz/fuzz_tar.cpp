// Fuzzes the ustar reader behind `bastionctl restore` (common/tar.h): a
// backup file is input from wherever it was kept. Properties: every entry the
// reader returns has exactly its size in data (reads in odd chunk sizes),
// never more than the input holds; an entry name that safe_relative_path
// accepts has no empty, "." or ".." component and is not absolute; an error
// has a message.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "common/tar.h"
#include "fuzz_support.h"

using namespace bastion;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = fuzz::as_text(data, size);
  size_t at = 0;
  TarReader r([&](char* buf, size_t cap) -> Result<size_t> {
    size_t n = std::min({cap, in.size() - at, size_t{333}});
    std::memcpy(buf, in.data() + at, n);
    at += n;
    return n;
  });
  uint64_t total = 0;
  for (int entries = 0; entries < 64; ++entries) {
    auto e = r.next();
    if (!e) {
      FUZZ_CHECK(!e.error().message.empty());
      return 0;
    }
    if (!*e) break;
    if (auto name = safe_relative_path((*e)->name)) {
      FUZZ_CHECK(name->front() != '/');
      FUZZ_CHECK(("/" + *name + "/").find("/../") == std::string::npos);
      FUZZ_CHECK(("/" + *name + "/").find("/./") == std::string::npos);
      FUZZ_CHECK(name->find("//") == std::string::npos);
    }
    uint64_t got = 0;
    char buf[97];
    for (;;) {
      auto n = r.read(buf, sizeof buf);
      if (!n) {
        FUZZ_CHECK(!n.error().message.empty());
        return 0;
      }
      if (*n == 0) break;
      got += *n;
    }
    FUZZ_CHECK(got == (*e)->size);
    total += got;
    FUZZ_CHECK(total <= size);
  }
  return 0;
}
