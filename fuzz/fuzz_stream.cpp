// Fuzzes recorder::scan_stream and recorder::summarize_stream (byte-exact
// stream recordings, files an attacker may have touched): any input either
// parses or is a clean error, records never reach outside the input's
// decompressed blocks, and a summary agrees with the scan.
// Input: a stream recording (header line, then blocks), unencrypted.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "recorder/stream_reader.h"
#include "recorder/stream_writer.h"

using namespace bastion;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in = fuzz::as_text(data, size);
  int64_t bytes = 0, records = 0;
  auto scan = recorder::scan_stream(
      in, "",
      [&](const recorder::StreamRecord& r) -> Status {
        FUZZ_CHECK(static_cast<uint8_t>(r.stream) <= 2);
        FUZZ_CHECK(r.at >= 0);
        FUZZ_CHECK(r.bytes.size() <= recorder::kMaxStreamPayload);
        bytes += static_cast<int64_t>(r.bytes.size());
        ++records;
        return {};
      },
      "fuzz.stream");
  if (!scan) {
    FUZZ_CHECK(!scan.error().message.empty());
    return 0;
  }
  FUZZ_CHECK(scan->header.is_object());
  auto sum = recorder::summarize_stream(in, "", "fuzz.stream");
  FUZZ_CHECK(sum.has_value());
  int64_t sum_bytes = 0, sum_records = 0;
  for (const auto& s : sum->streams) {
    sum_bytes += s.bytes;
    sum_records += s.records;
    FUZZ_CHECK(s.head.size() <= 64);
  }
  FUZZ_CHECK(sum_bytes == bytes && sum_records == records);
  return 0;
}
