// Fuzzes the SCIM parsers (policy/scim.h): what an identity provider sends
// over /scim/v2 (the token holder may be hostile, and so may anyone on the
// path before the token is checked: filters are parsed after it).
// Input: one selector byte, then the text. Selector % 4:
//   0: a filter (parse_filter), evaluated against a fixed user, and asked
//      whether an index answers it;
//   1: a User (read_user) from the text as JSON;
//   2: a PatchOp (apply_patch) applied to a fixed user;
//   3: the text as the path of one add, replace and remove operation.
// Properties: no crash, no sanitizer report; a user read or patched is
// canonical (reading it again gives the same user) and has a userName.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "policy/scim.h"

using namespace bastion;
using nlohmann::json;

namespace {

const json& fixed_user() {
  static const json u = *policy::scim::read_user(json::parse(R"({
    "userName": "alice@example.com", "externalId": "00u1", "active": true,
    "name": {"givenName": "Alice"},
    "emails": [{"value": "alice@example.com", "type": "work", "primary": true}, {"value": "a@home", "type": "home"}],
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "E1", "department": "SRE",
                                                                   "manager": {"value": "m"}}})"));
  return u;
}

void check_canonical(const json& u) {
  FUZZ_CHECK(!policy::scim::user_name(u).empty());
  auto again = policy::scim::read_user(u);
  FUZZ_CHECK(again);
  FUZZ_CHECK(*again == u);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  std::string_view text = fuzz::as_text(data + 1, size - 1);
  switch (selector % 4) {
    case 0: {
      auto f = policy::scim::parse_filter(text);
      if (!f) {
        FUZZ_CHECK(f.error().status == 400 && !f.error().detail.empty());
        break;
      }
      json r = fixed_user();
      r["id"] = "1";
      (void)policy::scim::matches(*f, r);
      (void)policy::scim::indexed_lookup(*f);
      break;
    }
    case 1: {
      json in = json::parse(text, nullptr, false);
      if (in.is_discarded()) break;
      auto u = policy::scim::read_user(in);
      if (u) check_canonical(*u);
      break;
    }
    case 2: {
      json in = json::parse(text, nullptr, false);
      if (in.is_discarded()) break;
      auto u = policy::scim::apply_patch(fixed_user(), in);
      if (u) check_canonical(*u);
      break;
    }
    default: {
      for (const char* op : {"add", "replace", "remove"}) {
        json patch = {{"Operations", {{{"op", op}, {"path", std::string(text)}, {"value", "x"}}}}};
        auto u = policy::scim::apply_patch(fixed_user(), patch);
        if (u) check_canonical(*u);
      }
      break;
    }
  }
  return 0;
}
