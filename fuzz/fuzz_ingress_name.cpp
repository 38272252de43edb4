// Fuzzes policy::parse_ingress_name, the SSH user-name grammar at the
// gateway's ingress (the client picks the user name):
//   LOGIN@TARGET  or  NAME (command mode).
// Input: the user name, raw bytes. Properties: a name that parses is within
// the grammar, and its parts put back together give the input.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"
#include "policy/ingress_name.h"
#include "policy/model.h"

using namespace bastion;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view user = fuzz::as_text(data, size);
  auto r = policy::parse_ingress_name(user);
  if (!r) {
    FUZZ_CHECK(!r.error().message.empty());
    return 0;
  }
  FUZZ_CHECK(!user.empty() && user.size() <= policy::kMaxIngressNameBytes);
  if (r->command_mode) {
    FUZZ_CHECK(r->login.empty() && r->target.empty());
    FUZZ_CHECK(r->person == user);
    FUZZ_CHECK(policy::is_valid_name(r->person));
  } else {
    FUZZ_CHECK(r->person.empty());
    FUZZ_CHECK(r->login + "@" + r->target == user);
    FUZZ_CHECK(policy::is_valid_name(r->login) && policy::is_valid_name(r->target));
  }
  return 0;
}
