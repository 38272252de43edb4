// Fuzzes the monitor protocol decoder (gateway/app/monitor_protocol.h): the
// monitor parses every packet a possibly compromised connection process
// sends. Properties: decode never crashes or reads out of bounds; whatever
// decodes re-encodes to exactly the input (one encoding per message, so no
// two byte strings mean the same thing); and it decodes again to the same
// type.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "fuzz_support.h"
#include "gateway/app/monitor_protocol.h"

using namespace bastion::gateway;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  auto m = monitor::decode(in);
  if (!m) return 0;
  auto again = monitor::encode(*m);
  FUZZ_CHECK(again == std::vector<uint8_t>(in.begin(), in.end()));
  auto back = monitor::decode(again);
  FUZZ_CHECK(back && monitor::type_of(*back) == monitor::type_of(*m));
  return 0;
}
