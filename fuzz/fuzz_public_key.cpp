// Fuzzes OpenSSH public key parsing (authn/public_key.h):
// parse_public_key_line on the input as text, and validate_key_blob on the
// input as a raw SSH wire blob.
// Properties: a parsed key's blob validates as the type the line names, and
// to_line() of the key parses back to the same key.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "authn/public_key.h"
#include "common/encoding.h"
#include "fuzz_support.h"

using namespace bastion;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto key = authn::parse_public_key_line(fuzz::as_text(data, size));
  if (key) {
    auto type = authn::validate_key_blob(key->blob);
    FUZZ_CHECK(type && *type == key->type);
    FUZZ_CHECK(authn::fingerprint_sha256(key->blob).rfind("SHA256:", 0) == 0);
    auto again = authn::parse_public_key_line(authn::to_line(*key));
    if (!again) std::fprintf(stderr, "to_line() does not parse back: %s\n", again.error().message.c_str());
    FUZZ_CHECK(again);
    FUZZ_CHECK(again->type == key->type && again->blob == key->blob && again->comment == key->comment);
  } else {
    FUZZ_CHECK(!key.error().message.empty());
  }

  auto type = authn::validate_key_blob(std::span<const uint8_t>(data, size));
  if (type) {
    // A valid blob as a line of its own type parses to the same blob.
    auto line = authn::parse_public_key_line(*type + " " + base64_encode(std::span<const uint8_t>(data, size)));
    FUZZ_CHECK(line && line->blob == std::vector<uint8_t>(data, data + size));
  }
  return 0;
}
