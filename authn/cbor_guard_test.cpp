#include "authn/cbor_guard.h"

#include <gtest/gtest.h>

#include <string>

#include "common/encoding.h"

namespace bastion::authn {
namespace {

// A literal with its NUL bytes (all but the terminating one).
template <size_t N>
std::string B(const char (&s)[N]) {
  return std::string(s, N - 1);
}

std::string why(const Status& s) { return s ? "ok" : s.message(); }
std::string why(const Result<int>& r) { return r ? "ok " + std::to_string(*r) : r.error().message; }

Status bounded(const std::string& bytes) { return cbor_bounded(as_bytes(bytes)); }

TEST(CborGuard, AcceptsWellFormedDefiniteItems) {
  EXPECT_EQ(why(bounded(std::string("\x00", 1))), "ok");                  // 0
  EXPECT_EQ(why(bounded("\x1b\xff\xff\xff\xff\xff\xff\xff\xff")), "ok");  // 2^64-1
  EXPECT_EQ(why(bounded("\x38\x63")), "ok");                              // -100
  EXPECT_EQ(why(bounded("\x43"
                        "abc")),
            "ok");  // h'616263'
  EXPECT_EQ(why(bounded("\x63"
                        "abc")),
            "ok");                                                           // "abc"
  EXPECT_EQ(why(bounded("\x82\x01\x82\x02\x03")), "ok");                     // [1, [2, 3]]
  EXPECT_EQ(why(bounded("\xa2\x01\x02\x61x\xf5")), "ok");                    // {1: 2, "x": true}
  EXPECT_EQ(why(bounded("\xc2\x41\x01")), "ok");                             // tag 2
  EXPECT_EQ(why(bounded(B("\xfb\x3f\xf0\x00\x00\x00\x00\x00\x00"))), "ok");  // 1.0
  auto n = cbor_bounded_item(as_bytes("\x82\x01\x02trailing"));
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 3u);
  EXPECT_EQ(why(bounded("\x82\x01\x02trailing")), "malformed CBOR: trailing bytes");
}

TEST(CborGuard, RefusesWhatWouldMakeADecoderAllocateMoreThanTheInput) {
  EXPECT_EQ(why(bounded(B("\x9a\x10\x00\x00\x00"))), "malformed CBOR: an array larger than the input");
  EXPECT_EQ(why(bounded("\x9b\xff\xff\xff\xff\xff\xff\xff\xff")), "malformed CBOR: an array larger than the input");
  EXPECT_EQ(why(bounded(B("\xba\x10\x00\x00\x00"))), "malformed CBOR: a map larger than the input");
  // A map of 2 pairs needs at least 4 bytes after its header.
  EXPECT_EQ(why(bounded("\xa2\x01\x02\x03")), "malformed CBOR: a map larger than the input");
  EXPECT_EQ(why(bounded("\x5a\x7f\xff\xff\xff"
                        "ab")),
            "malformed CBOR: a string longer than the input");
  EXPECT_EQ(why(bounded("\x7b\xff\xff\xff\xff\xff\xff\xff\xff")), "malformed CBOR: a string longer than the input");
  EXPECT_EQ(why(bounded("\x9f\x01\xff")), "malformed CBOR: indefinite length");
  EXPECT_EQ(why(bounded("\x5f\x41\x01\xff")), "malformed CBOR: indefinite length");
  EXPECT_EQ(why(bounded("\x1c")), "malformed CBOR: reserved header");
  EXPECT_EQ(why(bounded("\x19\x01")), "malformed CBOR: truncated");
  EXPECT_EQ(why(bounded("\x82\x01")), "malformed CBOR: an array larger than the input");
  EXPECT_EQ(why(bounded("\x82\x01\x19")), "malformed CBOR: truncated");
  EXPECT_EQ(why(bounded("")), "malformed CBOR: truncated");
}

TEST(CborGuard, LimitsNesting) {
  std::string ok = std::string(kMaxCborDepth, '\x81') + '\x00';
  EXPECT_EQ(why(bounded(ok)), "ok");
  EXPECT_EQ(why(bounded('\x81' + ok)), "malformed CBOR: nested too deeply");
  std::string tags(kMaxCborDepth + 1, '\xc6');
  EXPECT_EQ(why(bounded(tags + '\x00')), "malformed CBOR: nested too deeply");
}

TEST(CborGuard, ByteStringMustBeTheWholeInput) {
  auto s =
      cbor_byte_string(as_bytes("\x43"
                                "abc"));
  ASSERT_TRUE(s);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(s->data()), s->size()), "abc");
  EXPECT_FALSE(
      cbor_byte_string(as_bytes("\x43"
                                "abcd")));
  EXPECT_FALSE(
      cbor_byte_string(as_bytes("\x44"
                                "abc")));
  EXPECT_FALSE(
      cbor_byte_string(as_bytes("\x63"
                                "abc")));
  EXPECT_FALSE(cbor_byte_string(as_bytes("\x5f\x41\x01\xff")));
}

std::string auth_data(uint8_t flags, const std::string& rest) {
  return std::string(32, '\x11') + static_cast<char>(flags) + std::string("\x00\x00\x01\x02", 4) + rest;
}

TEST(CborGuard, SplitsAuthenticatorData) {
  std::string attested = std::string(16, '\xaa') + std::string("\x00\x02", 2) + "id" + "\xa1\x01\x02";
  std::string ad = auth_data(0x45, attested);
  auto l = parse_authenticator_data(as_bytes(ad));
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_EQ(l->flags, 0x45);
  EXPECT_EQ(l->sign_count, 0x102u);
  EXPECT_EQ(l->aaguid.size(), 16u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(l->credential_id.data()), l->credential_id.size()), "id");
  EXPECT_EQ(l->cose_key.size(), 3u);
  EXPECT_TRUE(l->extensions.empty());
  auto with_ext = parse_authenticator_data(as_bytes(auth_data(0xc5, attested + "\xa1\x61x\xf5")));
  ASSERT_TRUE(with_ext);
  EXPECT_EQ(with_ext->extensions.size(), 4u);
  auto plain = parse_authenticator_data(as_bytes(auth_data(0x05, "")));
  ASSERT_TRUE(plain);
  EXPECT_TRUE(plain->cose_key.empty());

  auto fails = [](const std::string& data) {
    auto r = parse_authenticator_data(as_bytes(data));
    return r ? std::string("ok") : r.error().message;
  };
  EXPECT_EQ(fails(std::string(36, '\0')), "malformed authenticator data: too short");
  EXPECT_EQ(fails(auth_data(0x05, "x")), "malformed authenticator data: trailing bytes");
  EXPECT_EQ(fails(auth_data(0x45, std::string(16, '\xaa'))),
            "malformed authenticator data: attested credential data truncated");
  EXPECT_EQ(fails(auth_data(0x45, std::string(16, '\xaa') + B("\x00\x09"
                                                              "id"))),
            "malformed authenticator data: credential id truncated");
  EXPECT_EQ(fails(auth_data(0x45, std::string(16, '\xaa') + std::string("\x00\x02", 2) + "id" + "\x82\x01\x02")),
            "malformed authenticator data: the credential key is not a CBOR map");
  EXPECT_EQ(fails(auth_data(0x85, B("\xba\x10\x00\x00\x00"))),
            "malformed authenticator data: the extensions: malformed CBOR: a map larger than the input");
  EXPECT_EQ(fails(auth_data(0x85, "")), "malformed authenticator data: the extensions is not a CBOR map");
}

TEST(CborGuard, CoseKeysNeedEveryMemberLibfido2Reads) {
  std::string x(32, '\x11'), y(32, '\x22');
  std::string es256 = std::string("\xa5\x01\x02\x03\x26\x20\x01\x21\x58\x20", 10) + x + "\x22\x58\x20" + y;
  EXPECT_EQ(why(check_cose_key(as_bytes(es256), -7)), "ok -7");
  EXPECT_EQ(why(check_cose_key(as_bytes(es256))), "ok -7");
  EXPECT_EQ(why(check_cose_key(as_bytes(es256), -8)), "malformed credential key: alg -7, expected -8");
  std::string es256_no_y = std::string("\xa4\x01\x02\x03\x26\x20\x01\x21\x58\x20", 10) + x;
  EXPECT_EQ(why(check_cose_key(as_bytes(es256_no_y), -7)), "malformed credential key: y missing or not 32 bytes");
  std::string short_x = std::string("\xa5\x01\x02\x03\x26\x20\x01\x21\x58\x1f", 10) + x.substr(1) + "\x22\x58\x20" + y;
  EXPECT_EQ(why(check_cose_key(as_bytes(short_x), -7)), "malformed credential key: x missing or not 32 bytes");
  std::string twice = std::string("\xa5\x01\x02\x03\x26\x20\x01\x21\x58\x20", 10) + x + "\x21\x58\x20" + y;
  EXPECT_EQ(why(check_cose_key(as_bytes(twice), -7)), "malformed credential key: member -2 twice");
  std::string no_alg = std::string("\xa4\x01\x02\x20\x01\x21\x58\x20", 8) + x + "\x22\x58\x20" + y;
  EXPECT_EQ(why(check_cose_key(as_bytes(no_alg), -7)), "malformed credential key: no alg");
  std::string eddsa = std::string("\xa4\x01\x01\x03\x27\x20\x06\x21\x58\x20", 10) + x;
  EXPECT_EQ(why(check_cose_key(as_bytes(eddsa), -8)), "ok -8");
  // A text label is skipped.
  std::string labelled = std::string("\xa5\x01\x01\x03\x27\x20\x06\x21\x58\x20", 10) + x + "\x61z\x01";
  EXPECT_EQ(why(check_cose_key(as_bytes(labelled))), "ok -8");
  std::string zero = std::string("\xa4\x01\x01\x03\x27\x20\x06\x21\x58\x20", 10) + std::string(32, '\0');
  EXPECT_EQ(why(check_cose_key(as_bytes(zero), -8)), "malformed credential key: a weak Ed25519 key");
  EXPECT_EQ(why(check_cose_key(as_bytes(eddsa), -35)), "malformed credential key: alg -8, expected -35");
  std::string rs256 = std::string("\xa2\x01\x03\x03\x39\x01\x00", 7);
  EXPECT_EQ(why(check_cose_key(as_bytes(rs256))), "malformed credential key: the algorithm is not ES256 or EdDSA");
  EXPECT_EQ(why(check_cose_key(as_bytes(B("\xba\x10\x00\x00\x00")), -8)),
            "malformed credential key: malformed CBOR: a map larger than the input");
}

}  // namespace
}  // namespace bastion::authn
