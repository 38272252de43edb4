// Fuzzes recorder::CommandIndexer (fed a session's output, which the target
// host controls, and the person's input) and the index file's writer and
// reader on what it makes.
// Input: COLS ROWS, then records OP LEN BYTES...: OP % 4 is output, input,
// resize (LEN is the cols, the next byte the rows) or finish() (no BYTES).
// Properties: entries are non-empty valid UTF-8 of at most 4 KiB, in time
// order, and the index file of them reads back the same.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "common/encoding.h"
#include "recorder/command_index.h"

using namespace bastion;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  recorder::CommandIndexer ix(data[0], data[1], 0);
  size_t i = 2;
  Micros now = 0;
  while (i + 2 <= size) {
    uint8_t op = data[i] % 4;
    size_t len = data[i + 1];
    i += 2;
    now += 1000;
    if (op == 2) {
      ix.resize(static_cast<int>(len), i < size ? data[i] : 24);
      ++i;
      continue;
    }
    if (op == 3) {
      ix.finish();
      continue;
    }
    std::string_view bytes = fuzz::as_text(data + i, std::min(len, size - i));
    i += bytes.size();
    if (op == 0) {
      ix.output(now, bytes);
    } else {
      ix.input(now, bytes);
    }
  }
  ix.finish();
  recorder::CommandIndex index;
  index.header.truncated = ix.truncated();
  index.entries = ix.take();
  Micros last = 0;
  for (const auto& e : index.entries) {
    FUZZ_CHECK(!e.command.empty());
    FUZZ_CHECK(e.command.size() <= recorder::CommandIndexer::kMaxCommandBytes);
    FUZZ_CHECK(is_valid_utf8(e.command));
    FUZZ_CHECK(e.offset >= last && e.offset <= now);
    last = e.offset;
  }
  auto back = recorder::parse_command_index(recorder::format_command_index(index), "fuzz");
  FUZZ_CHECK(back);
  FUZZ_CHECK(back->entries == index.entries);
  // The reader on the raw input too: an error is one line.
  auto parsed = recorder::parse_command_index(fuzz::as_text(data, size), "fuzz");
  if (!parsed) FUZZ_CHECK(parsed.error().message.find('\n') == std::string::npos);
  return 0;
}
