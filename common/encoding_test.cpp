#include "common/encoding.h"

#include <gtest/gtest.h>

#include <random>

namespace bastion {
namespace {

std::vector<uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

TEST(Base64, MatchesRfc4648Vectors) {
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""},         {"f", "Zg=="},        {"fo", "Zm8="},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(as_bytes(plain)), encoded);
    auto decoded = base64_decode(encoded);
    ASSERT_TRUE(decoded) << encoded << ": " << decoded.error().message;
    EXPECT_EQ(*decoded, bytes_of(plain)) << encoded;
  }
  EXPECT_EQ(base64_encode(std::vector<uint8_t>{0xfb, 0xff, 0xbf}), "+/+/");
  EXPECT_EQ(*base64_decode("+/+/"), (std::vector<uint8_t>{0xfb, 0xff, 0xbf}));
}

TEST(Base64, RoundTripsEveryLengthAndByte) {
  std::mt19937 rng(42);
  for (size_t len = 0; len < 200; ++len) {
    std::vector<uint8_t> in(len);
    for (auto& b : in) b = static_cast<uint8_t>(rng());
    std::string text = base64_encode(in);
    EXPECT_EQ(text.size(), (len + 2) / 3 * 4);
    auto out = base64_decode(text);
    ASSERT_TRUE(out) << text << ": " << out.error().message;
    EXPECT_EQ(*out, in);
  }
  std::vector<uint8_t> all(256);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(*base64_decode(base64_encode(all)), all);
}

TEST(Base64, StrictDecodingRejectsWithReasons) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"Zg=", "length"},           // not a multiple of 4
      {"Zm9vY", "length"},         // missing padding
      {"Zm9v\n", "length"},        // trailing newline
      {"Zm 9", "bad character"},   // space
      {"Zm-9", "bad character"},   // URL-safe alphabet
      {"Zm_9", "bad character"},   // URL-safe alphabet
      {"Zm9\x80", "bad character"},
      {std::string("Zm\0v", 4), "bad character"},
      {"====", "padding"},         // all padding
      {"Z===", "padding"},         // too much padding
      {"Zg=a", "padding"},         // data after padding
      {"Zg==Zm9v", "padding"},     // padding before the last group
      {"Zh==", "unused bits"},     // non-canonical: "f" is "Zg=="
      {"Zm9=", "unused bits"},     // non-canonical: "fo" is "Zm8="
  };
  for (const auto& [text, reason] : bad) {
    auto r = base64_decode(text);
    ASSERT_FALSE(r) << "accepted '" << text << "'";
    EXPECT_NE(r.error().message.find("base64 is invalid"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(reason), std::string::npos) << text << ": " << r.error().message;
  }
}

TEST(Base64, UnpaddedIsForFingerprints) {
  EXPECT_EQ(base64_encode_unpadded(as_bytes("f")), "Zg");
  EXPECT_EQ(base64_encode_unpadded(as_bytes("fo")), "Zm8");
  EXPECT_EQ(base64_encode_unpadded(as_bytes("foo")), "Zm9v");
  EXPECT_EQ(base64_encode_unpadded({}), "");
  // A SHA-256 digest (32 bytes) is 43 characters, as in "SHA256:...".
  EXPECT_EQ(base64_encode_unpadded(std::vector<uint8_t>(32, 0)).size(), 43u);
}

TEST(Hex, EncodesLowerCaseTwoDigitsPerByte) {
  EXPECT_EQ(hex_encode({}), "");
  EXPECT_EQ(hex_encode(std::vector<uint8_t>{0x00, 0x0f, 0xa0, 0xff}), "000fa0ff");
  EXPECT_EQ(hex_encode(as_bytes("AZ")), "415a");
}

}  // namespace
}  // namespace bastion
