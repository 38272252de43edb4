// See cbor_guard.h. A CBOR header (RFC 8949 section 3) is one byte of major
// type (3 bits) and additional information (5 bits), then 0, 1, 2, 4 or 8
// bytes of argument, big-endian.
#include "authn/cbor_guard.h"

#include <map>

#include "common/ed25519_key.h"

namespace bastion::authn {
namespace {

enum Major : uint8_t { kUint = 0, kNegint = 1, kBytes = 2, kText = 3, kArray = 4, kMap = 5, kTag = 6, kSimple = 7 };

struct Header {
  uint8_t major = 0;
  uint64_t value = 0;  // the argument: an integer, a length, a count
  size_t end = 0;      // where the item's content starts
};

Result<Header> read_header(std::span<const uint8_t> in, size_t pos) {
  if (pos >= in.size()) return make_error("malformed CBOR: truncated");
  Header h;
  h.major = static_cast<uint8_t>(in[pos] >> 5);
  uint8_t info = in[pos] & 0x1f;
  ++pos;
  if (info < 24) {
    h.value = info;
  } else if (info <= 27) {
    size_t n = size_t{1} << (info - 24);
    if (in.size() - pos < n) return make_error("malformed CBOR: truncated");
    for (size_t i = 0; i < n; ++i) h.value = (h.value << 8) | in[pos + i];
    pos += n;
  } else if (info == 31) {
    return make_error("malformed CBOR: indefinite length");
  } else {
    return make_error("malformed CBOR: reserved header");
  }
  h.end = pos;
  return h;
}

// Where the item starting at `pos` ends.
Result<size_t> skip_item(std::span<const uint8_t> in, size_t pos, int depth) {
  auto h = read_header(in, pos);
  if (!h) return h.error();
  size_t left = in.size() - h->end;
  switch (h->major) {
    case kUint:
    case kNegint:
    case kSimple:  // simple values and floats carry everything in the header
      return h->end;
    case kBytes:
    case kText:
      if (h->value > left) return make_error("malformed CBOR: a string longer than the input");
      return h->end + static_cast<size_t>(h->value);
    case kArray:
    case kMap:
    case kTag: {
      if (depth >= kMaxCborDepth) return make_error("malformed CBOR: nested too deeply");
      uint64_t items = h->major == kTag ? 1 : h->value;
      if (h->major == kMap) {
        if (items > left / 2) return make_error("malformed CBOR: a map larger than the input");
        items *= 2;
      } else if (items > left) {
        return make_error("malformed CBOR: an array larger than the input");
      }
      size_t p = h->end;
      for (uint64_t i = 0; i < items; ++i) {
        auto next = skip_item(in, p, depth + 1);
        if (!next) return next;
        p = *next;
      }
      return p;
    }
    default: return make_error("malformed CBOR");
  }
}

uint32_t be32(std::span<const uint8_t> b) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

// A COSE_Key member: an integer or a byte string.
struct Member {
  bool is_int = false;
  int64_t number = 0;
  std::span<const uint8_t> bytes;
};

}  // namespace

Result<size_t> cbor_bounded_item(std::span<const uint8_t> in) { return skip_item(in, 0, 0); }

Status cbor_bounded(std::span<const uint8_t> in) {
  auto n = cbor_bounded_item(in);
  if (!n) return n.error();
  if (*n != in.size()) return make_error("malformed CBOR: trailing bytes");
  return {};
}

Result<std::span<const uint8_t>> cbor_byte_string(std::span<const uint8_t> in) {
  auto h = read_header(in, 0);
  if (!h) return h.error();
  if (h->major != kBytes || h->value != in.size() - h->end) return make_error("malformed CBOR: not one byte string");
  return in.subspan(h->end);
}

Result<AuthDataLayout> parse_authenticator_data(std::span<const uint8_t> ad) {
  constexpr uint8_t kAt = 0x40, kEd = 0x80;
  if (ad.size() < 37) return make_error("malformed authenticator data: too short");
  AuthDataLayout out;
  out.flags = ad[32];
  out.sign_count = be32(ad.subspan(33, 4));
  size_t pos = 37;
  auto map_at = [&](const char* what) -> Result<std::span<const uint8_t>> {
    auto rest = ad.subspan(pos);
    auto h = read_header(rest, 0);
    if (!h || h->major != kMap)
      return make_error(std::string("malformed authenticator data: ") + what + " is not a CBOR map");
    auto n = cbor_bounded_item(rest);
    if (!n) return make_error(std::string("malformed authenticator data: ") + what + ": " + n.error().message);
    pos += *n;
    return rest.first(*n);
  };
  if ((out.flags & kAt) != 0) {
    if (ad.size() - pos < 18) return make_error("malformed authenticator data: attested credential data truncated");
    out.aaguid = ad.subspan(pos, 16);
    size_t id_len = (size_t{ad[pos + 16]} << 8) | ad[pos + 17];
    pos += 18;
    if (ad.size() - pos < id_len) return make_error("malformed authenticator data: credential id truncated");
    out.credential_id = ad.subspan(pos, id_len);
    pos += id_len;
    auto key = map_at("the credential key");
    if (!key) return key.error();
    out.cose_key = *key;
  }
  if ((out.flags & kEd) != 0) {
    auto ext = map_at("the extensions");
    if (!ext) return ext.error();
    out.extensions = *ext;
  }
  if (pos != ad.size()) return make_error("malformed authenticator data: trailing bytes");
  return out;
}

Result<int> check_cose_key(std::span<const uint8_t> cose_key, int expected_alg) {
  if (auto st = cbor_bounded(cose_key); !st) return make_error("malformed credential key: " + st.message());
  auto h = read_header(cose_key, 0);
  if (!h || h->major != kMap) return make_error("malformed credential key: not a CBOR map");
  std::map<int64_t, Member> members;
  size_t pos = h->end;
  for (uint64_t i = 0; i < h->value; ++i) {
    auto k = read_header(cose_key, pos);
    if (!k) return k.error();
    auto value_at = k->end;
    bool int_label = k->major == kUint || k->major == kNegint;
    if (!int_label) {  // a text label: not one of ours; skip key and value
      auto after_key = skip_item(cose_key, pos, 1);
      if (!after_key) return after_key.error();
      value_at = *after_key;
    }
    auto v = read_header(cose_key, value_at);
    auto after = skip_item(cose_key, value_at, 1);
    if (!v || !after) return make_error("malformed credential key");
    pos = *after;
    if (!int_label) continue;
    if (k->value > static_cast<uint64_t>(INT64_MAX)) return make_error("malformed credential key: label out of range");
    int64_t label = k->major == kUint ? static_cast<int64_t>(k->value) : -1 - static_cast<int64_t>(k->value);
    Member m;
    if (v->major == kUint || v->major == kNegint) {
      if (v->value > static_cast<uint64_t>(INT64_MAX))
        return make_error("malformed credential key: value out of range");
      m.is_int = true;
      m.number = v->major == kUint ? static_cast<int64_t>(v->value) : -1 - static_cast<int64_t>(v->value);
    } else if (v->major == kBytes) {
      m.bytes = cose_key.subspan(v->end, static_cast<size_t>(v->value));
    }
    if (!members.emplace(label, m).second)
      return make_error("malformed credential key: member " + std::to_string(label) + " twice");
  }
  auto number = [&](int64_t label, int64_t want, const char* what) -> Status {
    auto it = members.find(label);
    if (it == members.end() || !it->second.is_int)
      return make_error(std::string("malformed credential key: no ") + what);
    if (it->second.number != want) {
      return make_error(std::string("malformed credential key: ") + what + " " + std::to_string(it->second.number) +
                        ", expected " + std::to_string(want));
    }
    return {};
  };
  auto coordinate = [&](int64_t label, const char* what) -> Result<std::span<const uint8_t>> {
    auto it = members.find(label);
    if (it == members.end() || it->second.is_int || it->second.bytes.size() != 32) {
      return make_error(std::string("malformed credential key: ") + what + " missing or not 32 bytes");
    }
    return it->second.bytes;
  };
  constexpr int64_t kKty = 1, kAlg = 3, kCrv = -1, kX = -2, kY = -3;
  auto alg = members.find(kAlg);
  if (alg == members.end() || !alg->second.is_int) return make_error("malformed credential key: no alg");
  int64_t cose_alg = alg->second.number;
  if (expected_alg != 0 && cose_alg != expected_alg) {
    return make_error("malformed credential key: alg " + std::to_string(cose_alg) + ", expected " +
                      std::to_string(expected_alg));
  }
  if (cose_alg == -8) {  // EdDSA: kty OKP (1), crv Ed25519 (6)
    if (auto st = number(kKty, 1, "kty"); !st) return st.error();
    if (auto st = number(kCrv, 6, "crv"); !st) return st.error();
    auto x = coordinate(kX, "x");
    if (!x) return x.error();
    // SECURITY: libfido2 would take a small-order key (or, without x, an
    // all-zero one) for which anybody can make a valid signature.
    if (ed25519_public_key_is_weak(*x)) return make_error("malformed credential key: a weak Ed25519 key");
    return -8;
  }
  if (cose_alg == -7) {  // ES256: kty EC2 (2), crv P-256 (1)
    if (auto st = number(kKty, 2, "kty"); !st) return st.error();
    if (auto st = number(kCrv, 1, "crv"); !st) return st.error();
    auto x = coordinate(kX, "x");
    if (!x) return x.error();
    auto y = coordinate(kY, "y");
    if (!y) return y.error();
    return -7;
  }
  return make_error("malformed credential key: the algorithm is not ES256 or EdDSA");
}

}  // namespace bastion::authn
