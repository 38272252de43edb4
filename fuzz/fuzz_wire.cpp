// Fuzzes the byte encodings: base64_decode (strict) / base64_encode
// (common/encoding.h) and WireReader / WireWriter (common/ssh_wire.h).
// Input: the whole input is tried as base64 text; the whole input is also
// base64-encoded and decoded back; and it is read as SSH wire data by a
// small program: the first byte's bits choose, two at a time, the reads
// (u8, u32, u64, string), repeated until the data runs out. Every read is
// checked against an independent decoding, and what was read is written
// again with WireWriter, which must give the bytes that were consumed.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/encoding.h"
#include "common/ssh_wire.h"
#include "fuzz_support.h"

using namespace bastion;

namespace {

uint64_t big_endian(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

void fuzz_base64(const uint8_t* data, size_t size) {
  std::span<const uint8_t> bytes(data, size);
  // Encoding then decoding gives the bytes back.
  std::string enc = base64_encode(bytes);
  FUZZ_CHECK(enc.size() == (size + 2) / 3 * 4);
  auto dec = base64_decode(enc);
  FUZZ_CHECK(dec && *dec == std::vector<uint8_t>(data, data + size));
  std::string unpadded = base64_encode_unpadded(bytes);
  FUZZ_CHECK(enc.compare(0, unpadded.size(), unpadded) == 0);
  FUZZ_CHECK(enc.find_first_not_of('=', unpadded.size()) == std::string::npos);
  FUZZ_CHECK(hex_encode(bytes).size() == 2 * size);

  // Decoding untrusted text: a success has the length the text implies, and
  // re-encoding the result decodes to the same bytes again. (The decoder does
  // not require the unused low bits of the last symbol to be zero, so the
  // re-encoded text may differ from the input in that one symbol.)
  std::string_view text = fuzz::as_text(data, size);
  auto got = base64_decode(text);
  if (!got) return;
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++pad;
  FUZZ_CHECK(got->size() == text.size() / 4 * 3 - pad);
  std::string re = base64_encode(*got);
  FUZZ_CHECK(re.size() == text.size());
  FUZZ_CHECK(re.compare(0, re.size() >= 4 ? re.size() - 4 : 0, text.substr(0, re.size() >= 4 ? re.size() - 4 : 0)) ==
             0);
  auto again = base64_decode(re);
  FUZZ_CHECK(again && *again == *got);
}

void fuzz_wire_reader(const uint8_t* data, size_t size) {
  if (size == 0) return;
  const uint8_t program = data[0];
  std::span<const uint8_t> wire(data + 1, size - 1);
  WireReader r(wire);
  WireWriter w;
  size_t pos = 0;  // the independent decoder's position
  for (int step = 0; step < 4096; ++step) {
    FUZZ_CHECK(r.remaining() == wire.size() - pos);
    FUZZ_CHECK(r.at_end() == (pos == wire.size()));
    const size_t left = wire.size() - pos;
    const size_t before = pos;
    switch ((program >> (2 * (step % 4))) & 3) {
      case 0: {
        auto v = r.u8();
        FUZZ_CHECK(bool(v) == (left >= 1));
        if (!v) return;
        FUZZ_CHECK(*v == wire[pos]);
        w.u8(*v);
        pos += 1;
        break;
      }
      case 1: {
        auto v = r.u32();
        FUZZ_CHECK(bool(v) == (left >= 4));
        if (!v) return;
        FUZZ_CHECK(*v == big_endian(&wire[pos], 4));
        w.u32(*v);
        pos += 4;
        break;
      }
      case 2: {
        auto v = r.u64();
        FUZZ_CHECK(bool(v) == (left >= 8));
        if (!v) return;
        FUZZ_CHECK(*v == big_endian(&wire[pos], 8));
        w.u64(*v);
        pos += 8;
        break;
      }
      default: {
        bool fits = left >= 4 && big_endian(&wire[pos], 4) <= left - 4;
        if (step % 2 == 0) {
          auto v = r.string();
          FUZZ_CHECK(bool(v) == fits);
          if (!v) return;
          FUZZ_CHECK(v->data() == wire.data() + pos + 4 && v->size() == big_endian(&wire[pos], 4));
          w.string(*v);
          pos += 4 + v->size();
        } else {
          auto v = r.text();
          FUZZ_CHECK(bool(v) == fits);
          if (!v) return;
          FUZZ_CHECK(v->size() == big_endian(&wire[pos], 4));
          FUZZ_CHECK(v->compare(0, v->size(), reinterpret_cast<const char*>(&wire[pos + 4]), v->size()) == 0);
          w.string(std::string_view(*v));
          pos += 4 + v->size();
        }
        break;
      }
    }
    // Writing what was read reproduces the bytes consumed.
    FUZZ_CHECK(w.bytes().size() == pos);
    FUZZ_CHECK(std::equal(w.bytes().begin() + static_cast<std::ptrdiff_t>(before), w.bytes().end(),
                          wire.begin() + static_cast<std::ptrdiff_t>(before)));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz_base64(data, size);
  fuzz_wire_reader(data, size);
  return 0;
}
