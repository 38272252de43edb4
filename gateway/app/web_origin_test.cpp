#include "gateway/app/web_origin.h"

#include <gtest/gtest.h>

namespace bastion::gateway {
namespace {

TEST(WebOrigin, HostAndPortMakeTheOriginAndTheHostTheRpId) {
  auto o = parse_public_url("https://gw.example.com:8443/");
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->rp_id, "gw.example.com");
  EXPECT_EQ(o->origin, "https://gw.example.com:8443");
}

TEST(WebOrigin, DefaultPortIsDroppedAsBrowsersDo) {
  auto o = parse_public_url("https://gw.example.com:443");
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->origin, "https://gw.example.com");
}

TEST(WebOrigin, RefusesWhatWebAuthnCannotBindTo) {
  EXPECT_FALSE(parse_public_url("http://gw.example.com"));
  EXPECT_FALSE(parse_public_url("https://"));
  EXPECT_FALSE(parse_public_url("https://gw.example.com/path"));
  EXPECT_FALSE(parse_public_url("https://user@gw.example.com"));
  EXPECT_FALSE(parse_public_url("https://[::1]:8443"));
}

}  // namespace
}  // namespace bastion::gateway
