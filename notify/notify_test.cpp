// The outbox store and what the transports send (no network here: the e2e
// Notify.* tests send to a real SMTP server and HTTPS receiver).
#include <gtest/gtest.h>

#include "common/database.h"
#include "notify/outbox.h"
#include "notify/transport.h"
#include "tests/support/test_database.h"

namespace bastion::notifications {
namespace {

TEST(Transport, AnEmailHasItsHeadersAndNoInjectedOnes) {
  SmtpSettings s;
  s.from = "bastion@example.com";
  Email e{{"carol@example.com", "not an address", "dave@example.com"},
          "bob asks\r\nBcc: evil@example.com",
          "line one\nline two\n.leading dot",
          "bastion-abc-1"};
  std::string m = format_email(s, e, 1'733'380'000LL * kMicrosPerSecond);
  EXPECT_NE(m.find("\r\nTo: carol@example.com, dave@example.com\r\n"), std::string::npos) << m;
  // The line break in the subject does not start a header.
  EXPECT_NE(m.find("\r\nSubject: bob asks  Bcc: evil@example.com\r\n"), std::string::npos) << m;
  EXPECT_EQ(m.find("\r\nBcc:"), std::string::npos) << m;
  EXPECT_NE(m.find("\r\nMessage-ID: <bastion-abc-1@bastion>\r\n"), std::string::npos) << m;
  EXPECT_NE(m.find("Date: Thu, 05 Dec 2024 06:26:40 +0000\r\n"), std::string::npos) << m;
  EXPECT_NE(m.find("\r\n\r\nline one\r\nline two\r\n.leading dot\r\n"), std::string::npos) << m;
  Email accents{{"a@example.com"}, "Zugriff für bob", "x", "k"};
  std::string encoded = format_email(s, accents, 0);
  EXPECT_NE(encoded.find("Subject: =?UTF-8?B?WnVncmlmZiBmw7xyIGJvYg==?=\r\n"), std::string::npos) << encoded;
}

TEST(Transport, EmailAddressesAreOnePlainAddress) {
  EXPECT_TRUE(is_email_address("carol@example.com"));
  EXPECT_TRUE(is_email_address("c.o+tag@mail.example.co.uk"));
  for (const char* bad : {"", "carol", "@example.com", "carol@", "a@b@c.d", "carol@localhost", "Carol <c@x.org>",
                          "c@x.org, d@y.org", "c@x.org\r\nBcc: e@z.org", "c d@x.org"}) {
    EXPECT_FALSE(is_email_address(bad)) << bad;
  }
}

TEST(Transport, TheSignatureIsHmacSha256OfTimestampDotBody) {
  // python3: hmac.new(b"0123456789abcdef-secret", b'1733380000.{"a":1}', hashlib.sha256).hexdigest()
  EXPECT_EQ(webhook_signature("0123456789abcdef-secret", "1733380000", R"({"a":1})"),
            "sha256=e30edf36224b56394afa75897fea3dcc53980485959564bc9b9505f4643587e1");
  EXPECT_NE(webhook_signature("0123456789abcdef-secret", "1733380001", R"({"a":1})"),
            webhook_signature("0123456789abcdef-secret", "1733380000", R"({"a":1})"));
}

TEST(Transport, WebhookBodiesInEachFormatCarryALinkAndNoAction) {
  WebhookMessage m{"bastion-k-1",
                   "request",
                   "bob asks <for> acme",
                   "reason: T & C",
                   "https://gw/console/requests/REQ-1",
                   {{"request_id", "REQ-1"}},
                   0};
  auto own = nlohmann::json::parse(webhook_body(WebhookFormat::kJson, m));
  EXPECT_EQ(own["id"], "bastion-k-1");
  EXPECT_EQ(own["kind"], "request");
  EXPECT_EQ(own["link"], "https://gw/console/requests/REQ-1");
  EXPECT_EQ(own["facts"]["request_id"], "REQ-1");
  auto slack = nlohmann::json::parse(webhook_body(WebhookFormat::kSlack, m));
  EXPECT_EQ(slack["text"],
            "*bob asks &lt;for&gt; acme*\nreason: T &amp; C\n<https://gw/console/requests/REQ-1|Open in the bastion "
            "console>");
  auto teams = nlohmann::json::parse(webhook_body(WebhookFormat::kTeams, m));
  EXPECT_EQ(teams["@type"], "MessageCard");
  EXPECT_EQ(teams["potentialAction"][0]["@type"], "OpenUri");  // a link, not an HttpPOST action
  EXPECT_EQ(teams["potentialAction"][0]["targets"][0]["uri"], "https://gw/console/requests/REQ-1");
  EXPECT_FALSE(parse_webhook_format("xml"));
}

class OutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = Database::open(bastion::test_support::test_database(":memory:"), Database::Mode::kCreate);
    ASSERT_TRUE(d) << d.error().message;
    db.emplace(std::move(*d));
    outbox.emplace(*db);
  }
  Notification make(int64_t seq, int n, const std::string& thread) {
    Notification x;
    x.seq = seq;
    x.n = n;
    x.key = "k-" + std::to_string(seq) + "-" + std::to_string(n);
    x.kind = "request";
    x.channel = "webhook:ops";
    x.thread = thread;
    x.subject = "s";
    x.body = "b";
    x.created_at = 1000;
    return x;
  }
  std::optional<Database> db;
  std::optional<Outbox> outbox;
};

TEST_F(OutboxTest, AddingIsIdempotentAndPendingComesInEventOrder) {
  ASSERT_TRUE(outbox->add(make(7, 2, "REQ-A")));
  ASSERT_TRUE(outbox->add(make(3, 1, "REQ-B")));
  ASSERT_TRUE(outbox->add(make(7, 1, "REQ-A")));
  ASSERT_TRUE(outbox->add(make(7, 1, "REQ-A")));  // the same key again: nothing new
  auto p = outbox->pending(10);
  ASSERT_TRUE(p) << p.error().message;
  ASSERT_EQ(p->size(), 3u);
  EXPECT_EQ((*p)[0].id(), "3.1");
  EXPECT_EQ((*p)[1].id(), "7.1");
  EXPECT_EQ((*p)[2].id(), "7.2");
  EXPECT_EQ((*p)[1].next_at, 1000);
}

TEST_F(OutboxTest, FailuresWaitThenGiveUpAndRetryMakesThemDueAgain) {
  ASSERT_TRUE(outbox->add(make(1, 1, "REQ-A")));
  ASSERT_TRUE(outbox->add(make(2, 1, "REQ-A")));
  auto first = *outbox->find("1.1");
  ASSERT_TRUE(first);
  ASSERT_TRUE(outbox->mark_attempt_failed(*first, "HTTP 503", 5000, false));
  auto again = *outbox->find("1.1");
  EXPECT_EQ(again->state, State::kPending);
  EXPECT_EQ(again->attempts, 1);
  EXPECT_EQ(again->next_at, 5000);
  EXPECT_EQ(again->last_error, "HTTP 503");
  ASSERT_TRUE(outbox->mark_attempt_failed(*again, "HTTP 503", 9000, true));
  EXPECT_EQ((*outbox->find("1.1"))->state, State::kFailed);
  ASSERT_TRUE(outbox->mark_sent(**outbox->find("2.1"), 7000));
  EXPECT_EQ((*outbox->find("2.1"))->sent_at, 7000);
  EXPECT_FALSE(outbox->retry("2.1", 8000));  // delivered already
  EXPECT_FALSE(outbox->retry("9.9", 8000));
  EXPECT_FALSE(outbox->find("1-1"));
  EXPECT_FALSE(outbox->find("x.1"));
  auto n = outbox->retry_failed(10000);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1);
  auto back = *outbox->find("1.1");
  EXPECT_EQ(back->state, State::kPending);
  EXPECT_EQ(back->attempts, 0);
  EXPECT_EQ(back->next_at, 10000);
  auto counts = outbox->counts();
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->size(), 2u);
  OutboxFilter sent;
  sent.state = State::kSent;
  EXPECT_EQ(outbox->list(sent)->size(), 1u);
}

TEST_F(OutboxTest, AListCanBeOneRequestsOrOneKindsAndCombinesItsFilters) {
  ASSERT_TRUE(outbox->add(make(1, 1, "REQ-A")));
  ASSERT_TRUE(outbox->add(make(1, 2, "REQ-A")));
  ASSERT_TRUE(outbox->add(make(2, 1, "REQ-B")));
  auto other = make(3, 1, "REQ-A");
  other.kind = "decided";
  ASSERT_TRUE(outbox->add(other));
  ASSERT_TRUE(outbox->mark_sent(**outbox->find("1.2"), 2000));
  OutboxFilter f;
  f.thread = "REQ-A";
  auto rows = outbox->list(f);
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].id(), "3.1");  // newest first
  f.kind = "request";
  EXPECT_EQ(outbox->list(f)->size(), 2u);
  f.state = State::kPending;
  rows = outbox->list(f);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].id(), "1.1");
  f.thread = "REQ-%";  // a value, not a pattern
  EXPECT_TRUE(outbox->list(f)->empty());
}

TEST_F(OutboxTest, AMarkIsNewOnlyOnce) {
  EXPECT_TRUE(*outbox->mark_once("grant-ending:GRT-1:600", 1));
  EXPECT_FALSE(*outbox->mark_once("grant-ending:GRT-1:600", 2));
  EXPECT_TRUE(*outbox->mark_once("grant-ending:GRT-1:60", 3));
}

}  // namespace
}  // namespace bastion::notifications
