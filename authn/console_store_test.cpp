#include <gtest/gtest.h>

#include "authn/console_store.h"
#include "common/database.h"
#include "common/database_sql.h"
#include "tests/support/test_database.h"

namespace bastion::authn {
namespace {

constexpr Micros kMin = 60 * kMicrosPerSecond;

class ConsoleStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = Database::open(bastion::test_support::test_database(":memory:"), Database::Mode::kCreate);
    ASSERT_TRUE(d);
    db = std::make_unique<Database>(std::move(*d));
    store = std::make_unique<ConsoleStore>(*db, clock);
  }
  int64_t count(const std::string& sql) {
    Statement q(*db, sql);
    return q.step() ? q.column(0).int64() : -1;
  }
  FakeClock clock{1'000'000 * kMicrosPerSecond};
  std::unique_ptr<Database> db;
  std::unique_ptr<ConsoleStore> store;
};

TEST_F(ConsoleStoreTest, TheCookieIsStoredOnlyAsItsDigestAndFindsItsSession) {
  auto cookie = store->create_session("carol", "cred-1", "10.0.0.5");
  ASSERT_TRUE(cookie) << cookie.error().message;
  EXPECT_EQ(cookie->size(), 43u);
  EXPECT_EQ(count("SELECT COUNT(*) FROM console_sessions WHERE id = '" + *cookie + "'"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM console_sessions WHERE id = '" + console_session_id(*cookie) + "'"), 1);
  auto s = store->find_session(*cookie);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->user, "carol");
  EXPECT_EQ(s->credential_id, "cred-1");
  EXPECT_EQ(s->source, "10.0.0.5");
  EXPECT_FALSE(s->ended_at);
  auto other = store->find_session("x" + cookie->substr(1));
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::kNotFound);
}

TEST_F(ConsoleStoreTest, TheCsrfTokenDependsOnTheCookieAndIsNotIt) {
  EXPECT_EQ(console_csrf_token("abc"), console_csrf_token("abc"));
  EXPECT_NE(console_csrf_token("abc"), console_csrf_token("abd"));
  EXPECT_NE(console_csrf_token("abc"), "abc");
  EXPECT_NE(console_csrf_token("abc"), console_session_id("abc"));
}

TEST_F(ConsoleStoreTest, TouchIsRateLimitedAndEndedSessionsStayEnded) {
  auto cookie = store->create_session("carol", "cred-1", "");
  ASSERT_TRUE(cookie);
  ConsoleLimits limits;
  clock.advance(10 * kMicrosPerSecond);
  ASSERT_TRUE(store->touch(*store->find_session(*cookie), limits));
  EXPECT_EQ(store->find_session(*cookie)->last_seen_at, 1'000'000 * kMicrosPerSecond);  // within touch_every
  clock.advance(kMin);
  ASSERT_TRUE(store->touch(*store->find_session(*cookie), limits));
  EXPECT_EQ(store->find_session(*cookie)->last_seen_at, clock.now());

  auto s = store->find_session(*cookie);
  auto ended = store->end_session(s->short_id(), "signed out");
  ASSERT_TRUE(ended) << ended.error().message;
  EXPECT_EQ(ended->user, "carol");
  auto again = store->find_session(*cookie);
  ASSERT_TRUE(again);
  ASSERT_TRUE(again->ended_at);
  EXPECT_EQ(again->end_reason, "signed out");
  // A touch never revives it, and it cannot be ended twice.
  clock.advance(kMin);
  ASSERT_TRUE(store->touch(*again, limits));
  EXPECT_TRUE(store->find_session(*cookie)->ended_at);
  EXPECT_EQ(store->end_session(s->short_id(), "x").error().code, ErrorCode::kNotFound);
}

TEST_F(ConsoleStoreTest, EndingByPrefixNeedsEightHexDigitsAndOneMatch) {
  EXPECT_EQ(store->end_session("abc", "x").error().code, ErrorCode::kInvalid);
  EXPECT_EQ(store->end_session("zzzzzzzzzz", "x").error().code, ErrorCode::kInvalid);
  EXPECT_EQ(store->end_session("0123456789", "x").error().code, ErrorCode::kNotFound);
}

TEST_F(ConsoleStoreTest, EveryLiveSessionOfAPersonEndsAtOnce) {
  ASSERT_TRUE(store->create_session("dave", "c", ""));
  ASSERT_TRUE(store->create_session("dave", "c", ""));
  ASSERT_TRUE(store->create_session("carol", "c", ""));
  auto n = store->end_sessions_of("dave", "dave is disabled");
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 2);
  auto live = store->sessions(false);
  ASSERT_TRUE(live);
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0].user, "carol");
  EXPECT_EQ(store->sessions(true)->size(), 3u);
}

TEST_F(ConsoleStoreTest, ACeremonyIsSingleUseAndExpires) {
  ConsoleCeremony c;
  c.session_id = "s1";
  c.user = "carol";
  c.action = R"({"op":"approve","id":"REQ-1"})";
  c.challenge = std::string("\x00\x01\x02\xff", 4);
  c.created_at = clock.now();
  c.expires_at = clock.now() + 5 * kMin;
  auto token = store->create_ceremony(c);
  ASSERT_TRUE(token) << token.error().message;
  auto taken = store->take_ceremony(*token);
  ASSERT_TRUE(taken) << taken.error().message;
  EXPECT_EQ(taken->challenge, c.challenge);
  EXPECT_EQ(taken->action, c.action);
  EXPECT_EQ(taken->session_id, "s1");
  auto twice = store->take_ceremony(*token);
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, ErrorCode::kGone);

  auto late = store->create_ceremony(c);
  ASSERT_TRUE(late);
  clock.advance(6 * kMin);
  EXPECT_EQ(store->take_ceremony(*late).error().code, ErrorCode::kGone);
  EXPECT_EQ(store->take_ceremony("unknown").error().code, ErrorCode::kNotFound);
  clock.advance(24 * 60 * kMin);
  auto purged = store->purge_ceremonies();
  ASSERT_TRUE(purged);
  EXPECT_EQ(*purged, 2);
}

}  // namespace
}  // namespace bastion::authn
