// Fuzzes the HR feed parsers (policy/hr.h): parse_hr_file in both formats,
// and parse_csv_row / parse_hr_json on their own.
// Input: one selector byte, then the file text. The selector's low two bits
// pick the file name (f.jsonl, f.csv, snapshot.csv, snapshot.jsonl), which
// picks the format and snapshot mode; bit 2 picks snapshot mode for the
// direct parse_hr_json call.
// Properties: every data line ends up as an event or an error; an event's
// JSON form (hr_event_json) parses back to the same event.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "policy/hr.h"

using namespace bastion;

namespace {

void check_round_trip(const policy::HrEvent& e) {
  auto back = policy::parse_hr_json(policy::hr_event_json(e), false);
  if (!back) std::fprintf(stderr, "hr_event_json does not parse back: %s\n", back.error().message.c_str());
  FUZZ_CHECK(back);
  FUZZ_CHECK(back->event_id == e.event_id);
  FUZZ_CHECK(back->type == e.type);
  FUZZ_CHECK(back->employee_id == e.employee_id);
  FUZZ_CHECK(back->username == e.username);
  FUZZ_CHECK(back->email == e.email);
  FUZZ_CHECK(back->department == e.department);
  FUZZ_CHECK(back->effective_at == e.effective_at);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* const kNames[] = {"f.jsonl", "f.csv", "snapshot.csv", "snapshot.jsonl"};
  const uint8_t selector = data[0];
  std::string_view text = fuzz::as_text(data + 1, size - 1);

  policy::HrFile f = policy::parse_hr_file(kNames[selector & 3], text);
  FUZZ_CHECK(f.snapshot == ((selector & 3) >= 2));
  FUZZ_CHECK(f.events.size() + f.errors.size() >= static_cast<size_t>(f.lines));
  for (const auto& e : f.events) {
    FUZZ_CHECK(e.line >= 1);
    FUZZ_CHECK(!e.employee_id.empty());
    if (!f.snapshot) check_round_trip(e);
  }
  for (const auto& err : f.errors) FUZZ_CHECK(!err.reason.empty());

  // The same bytes as one record of each kind.
  auto row = policy::parse_csv_row(text);
  if (row) FUZZ_CHECK(!row->empty());
  bool snapshot = (selector & 4) != 0;
  auto e = policy::parse_hr_json(text, snapshot);
  if (e && !snapshot) check_round_trip(*e);
  return 0;
}
