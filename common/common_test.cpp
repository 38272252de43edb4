#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/address.h"
#include "common/c_handle.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/database.h"
#include "common/database_sql.h"
#include "common/ed25519_key.h"
#include "common/encoding.h"
#include "common/files.h"
#include "common/random.h"
#include "common/strings.h"
#include "common/x509_builder.h"
#include "tests/support/test_database.h"

namespace bastion {
namespace {

class TempDir {
 public:
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("bastion-common-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
  std::filesystem::path path;
  static inline int counter = 0;
};

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST(Duration, ParsesUnits) {
  EXPECT_EQ(*parse_duration("90s"), 90 * kMicrosPerSecond);
  EXPECT_EQ(*parse_duration("30m"), 1800 * kMicrosPerSecond);
  EXPECT_EQ(*parse_duration("1h30m"), 5400 * kMicrosPerSecond);
  EXPECT_EQ(*parse_duration("15"), 15 * kMicrosPerSecond);
  for (auto bad : {"", "m", "5x", "1h5", "-5s", "99999999999h"}) EXPECT_FALSE(parse_duration(bad)) << bad;
  EXPECT_EQ(format_duration(5400 * kMicrosPerSecond), "1h30m");
}

// Found by fuzz_config: each part fit, the product or the sum overflowed int64
// and came back as a small or negative duration.
TEST(Duration, RefusesOverflowInsteadOfWrapping) {
  for (auto bad : {"9999999999d", "9999999999h", "36601d", "36500d36500d", "9999999999d9999999999d"}) {
    auto d = parse_duration(bad);
    EXPECT_FALSE(d) << bad;
    if (!d) {
      EXPECT_NE(d.error().message.find("too large"), std::string::npos) << d.error().message;
    }
  }
  ASSERT_TRUE(parse_duration("36500d"));
  EXPECT_GT(*parse_duration("36500d"), 0);
}

TEST(Time, RoundTripsUtc) {
  auto t = parse_utc("2026-11-22T17:00:00Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(format_utc(*t), "2026-11-22T17:00:00.000000Z");
  EXPECT_EQ(*parse_utc("2026-11-22T17:00:00.5Z"), *t + 500000);
  EXPECT_FALSE(parse_utc("2026-11-22 17:00:00"));
  EXPECT_FALSE(parse_utc("2026-13-22T17:00:00Z"));
  EXPECT_FALSE(parse_utc("2026-11-22T17:00:00+01:00"));
  // sscanf's %d took these once: a sign, a space, a short field.
  EXPECT_FALSE(parse_utc("+026-11-22T17:00:00Z"));
  EXPECT_FALSE(parse_utc("2026-11- 2T17:00:00Z"));
  EXPECT_FALSE(parse_utc("2026-11-2T17:00:00ZZ"));
  EXPECT_FALSE(parse_utc("2026-11-22T17:00:0"));
}

TEST(Config, DefaultsResolveAgainstTheFilesFolder) {
  TempDir d;
  write(d.file("bastion.toml"), default_config_text("127.0.0.1:2222"));
  auto c = load_config(d.file("bastion.toml"));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->listen_port, 2222);
  EXPECT_EQ(c->database, d.file("bastion.db"));
  EXPECT_EQ(c->host_keys, std::vector<std::string>{d.file("ssh_host_ed25519_key")});
  EXPECT_EQ(c->login_grace_time, 30 * kMicrosPerSecond);
}

TEST(Config, TyposAndBadValuesAreErrorsNamingTheKey) {
  TempDir d;
  write(d.file("a.toml"), "[gateway]\nlisten_on = \"x\"\n");
  EXPECT_NE(load_config(d.file("a.toml")).error().message.find("unknown key 'listen_on' in [gateway]"),
            std::string::npos);
  write(d.file("b.toml"), "[gatway]\n");
  EXPECT_NE(load_config(d.file("b.toml")).error().message.find("unknown section [gatway]"), std::string::npos);
  write(d.file("c.toml"), "[gateway]\nlisten = \"127.0.0.1:99999\"\n");
  EXPECT_NE(load_config(d.file("c.toml")).error().message.find("invalid port"), std::string::npos);
  write(d.file("d.toml"), "[ca]\ncertificate_validity = \"1h\"\n");
  EXPECT_NE(load_config(d.file("d.toml")).error().message.find("between 1s and 5m"), std::string::npos);
  write(d.file("e.toml"), "[gateway\n");
  EXPECT_NE(load_config(d.file("e.toml")).error().message.find("e.toml:1:"), std::string::npos);
  EXPECT_FALSE(load_config(d.file("missing.toml")));
}

TEST(Config, SyslogTransportsAndTheirTlsFiles) {
  TempDir d;
  write(d.file("a.toml"),
        "[audit]\nsyslog = \"tls://logs:6514\"\nsyslog_ca = \"ca.pem\"\n"
        "syslog_cert = \"c.pem\"\nsyslog_key = \"c.key\"\nsyslog_start = \"newest\"\n");
  auto c = load_config(d.file("a.toml"));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->syslog_ca, d.file("ca.pem"));
  EXPECT_EQ(c->syslog_key, d.file("c.key"));
  EXPECT_EQ(c->syslog_cursor, d.file("syslog.cursor"));
  EXPECT_FALSE(c->syslog_from_oldest);
  write(d.file("b.toml"), "[audit]\nsyslog = \"tcp://logs:601\"\n");
  c = load_config(d.file("b.toml"));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->syslog_from_oldest);
  for (const char* bad : {"syslog = \"http://logs:80\"", "syslog = \"tcp://logs:601\"\nsyslog_ca = \"ca.pem\"",
                          "syslog = \"tls://logs:6514\"\nsyslog_cert = \"c.pem\"", "syslog_start = \"first\""}) {
    write(d.file("c.toml"), std::string("[audit]\n") + bad + "\n");
    auto e = load_config(d.file("c.toml"));
    ASSERT_FALSE(e) << bad;
    EXPECT_NE(e.error().message.find("[audit] syslog"), std::string::npos) << e.error().message;
  }
}

TEST(Config, HrBreakerWindowAndMaxFileSize) {
  TempDir d;
  write(d.file("t.toml"), default_config_text("127.0.0.1:2222"));
  auto c = load_config(d.file("t.toml"));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->breaker_window, 3600 * kMicrosPerSecond);
  EXPECT_EQ(c->hr_max_file_size, 64ull << 20);
  write(d.file("a.toml"), "[hr]\nbreaker_window = \"24h\"\nmax_file_size = \"2KiB\"\n");
  c = load_config(d.file("a.toml"));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->breaker_window, 24 * 3600 * kMicrosPerSecond);
  EXPECT_EQ(c->hr_max_file_size, 2048u);
  write(d.file("b.toml"), "[hr]\nmax_file_size = 4096\n");
  EXPECT_EQ(load_config(d.file("b.toml"))->hr_max_file_size, 4096u);
  for (const char* bad : {"max_file_size = \"64MB\"", "max_file_size = 0", "max_file_size = -1",
                          "max_file_size = \"MiB\"", "breaker_window = \"soon\""}) {
    write(d.file("c.toml"), std::string("[hr]\n") + bad + "\n");
    auto e = load_config(d.file("c.toml"));
    ASSERT_FALSE(e) << bad;
    EXPECT_NE(e.error().message.find("[hr] "), std::string::npos) << e.error().message;
  }
}

TEST(Config, WebProcessUserAndConnectionLimits) {
  TempDir d;
  write(d.file("t.toml"), default_config_text("127.0.0.1:2222", "https://gw.example:8443"));
  auto c = load_config(d.file("t.toml"));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->web_privsep_user, "bastion-web");
  EXPECT_EQ(c->notify_sender_user, "bastion-notify");
  EXPECT_EQ(c->web_max_connections, 64);
  EXPECT_EQ(c->web_max_connections_per_source, 8);
  EXPECT_TRUE(c->tell_watched);
  EXPECT_EQ(c->web_max_watches, 100);
  write(d.file("a.toml"),
        "[web]\nprivsep_user = \"www-gw\"\nmax_connections = 200\nmax_connections_per_source = 20\n"
        "tell_watched = false\nmax_watches = 0\n");
  c = load_config(d.file("a.toml"));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->web_privsep_user, "www-gw");
  EXPECT_EQ(c->web_max_connections, 200);
  EXPECT_EQ(c->web_max_connections_per_source, 20);
  EXPECT_FALSE(c->tell_watched);
  EXPECT_EQ(c->web_max_watches, 0);
  for (const char* bad : {"privsep_user = \"root\"", "privsep_user = \"\"", "max_connections = 0",
                          "max_connections = 4\nmax_connections_per_source = 8", "tell_watched = \"no\"",
                          "max_watches = -1", "max_watches = 10001"}) {
    write(d.file("c.toml"), std::string("[web]\n") + bad + "\n");
    auto e = load_config(d.file("c.toml"));
    ASSERT_FALSE(e) << bad;
    EXPECT_NE(e.error().message.find("[web] "), std::string::npos) << e.error().message;
  }
}

TEST(Config, ScimHasARateAndMapsGroupsToRoles) {
  TempDir d;
  write(d.file("t.toml"), "");
  auto c = load_config(d.file("t.toml"));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->scim_requests_per_second, 50);
  EXPECT_TRUE(c->scim_group_roles.empty());
  write(d.file("a.toml"), "[scim]\nrequests_per_second = 5\n[scim.groups]\n\"SRE on call\" = [\"ops\", \"db\"]\n");
  c = load_config(d.file("a.toml"));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->scim_requests_per_second, 5);
  EXPECT_EQ(c->scim_group_roles.at("SRE on call"), (std::vector<std::string>{"ops", "db"}));
  for (const char* bad : {"requests_per_second = 0", "requests_per_second = \"fast\"", "groups = 3", "token = \"x\"",
                          "groups = { g = \"ops\" }"}) {
    write(d.file("c.toml"), std::string("[scim]\n") + bad + "\n");
    auto e = load_config(d.file("c.toml"));
    ASSERT_FALSE(e) << bad;
    EXPECT_NE(e.error().message.find("scim"), std::string::npos) << e.error().message;
  }
}

TEST(Config, NotifyRoutesKindsToConfiguredChannelsOnly) {
  TempDir d;
  write(d.file("t.toml"), "");
  auto c = load_config(d.file("t.toml"));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->notify_ending_soon, (std::vector<Micros>{600 * kMicrosPerSecond, 60 * kMicrosPerSecond}));
  EXPECT_TRUE(c->notify_channels("request", "acme").empty());  // nothing configured: nobody is told
  const std::string good =
      "[notify]\nending_soon = [\"15m\"]\nsecurity = [\"sec@example.com\"]\nretry_max = \"30s\"\n"
      "[notify.email]\nsmtp_url = \"smtps://mail.example.com:465\"\nfrom = \"bastion@example.com\"\n"
      "[notify.webhooks.chat]\nurl = \"https://hooks.example.com/x\"\nsecret_file = \"/etc/bastion/chat.secret\"\n"
      "format = \"slack\"\n"
      "[notify.routes]\nrequest = [\"email\", \"webhook:chat\"]\n"
      "[notify.customers.globex]\nrequest = [\"webhook:chat\"]\n";
  write(d.file("a.toml"), good);
  c = load_config(d.file("a.toml"));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->notify_ending_soon, std::vector<Micros>{900 * kMicrosPerSecond});
  EXPECT_EQ(c->notify_retry_max, 30 * kMicrosPerSecond);
  EXPECT_EQ(c->notify_channels("request", "acme"), (std::vector<std::string>{"email", "webhook:chat"}));
  EXPECT_EQ(c->notify_channels("request", "globex"), std::vector<std::string>{"webhook:chat"});
  EXPECT_EQ(c->notify_channels("decided", "globex"), std::vector<std::string>{"email"});  // unlisted: e-mail
  EXPECT_EQ(c->notify_webhooks.at("chat").format, "slack");
  for (const char* bad :
       {"[notify]\nending_soon = [\"soon\"]", "[notify]\nsecurity = [\"not an address\"]", "[notify]\ncolour = 1",
        "[notify.email]\nsmtp_url = \"http://mail.example.com\"\nfrom = \"b@example.com\"",
        "[notify.email]\nsmtp_url = \"smtp://mail.example.com:25\"\nstarttls = false\nfrom = \"b@example.com\"",
        "[notify.email]\nsmtp_url = \"smtp://m.example.com\"\nfrom = \"b@example.com\"\nusername = \"u\"",
        "[notify.webhooks.x]\nurl = \"http://hooks.example.com\"\nsecret_file = \"/s\"",
        "[notify.webhooks.x]\nurl = \"https://hooks.example.com\"",
        "[notify.webhooks.x]\nurl = \"https://h.example.com\"\nsecret_file = \"/s\"\nformat = \"xml\"",
        "[notify.routes]\nrequest = [\"email\"]", "[notify.routes]\nrequest = [\"webhook:nope\"]",
        "[notify.routes]\nlunch = []", "[notify.customers.acme]\nrequest = [\"sms\"]",
        "[notify]\nsender_user = \"root\"", "[notify]\nsender_user = \"\"",
        "[notify]\nsender_user = \"bastion-session\"", "[web]\nprivsep_user = \"w\"\n[notify]\nsender_user = \"w\""}) {
    write(d.file("c.toml"), std::string(bad) + "\n");
    auto e = load_config(d.file("c.toml"));
    ASSERT_FALSE(e) << bad;
    EXPECT_NE(e.error().message.find("[notify"), std::string::npos) << e.error().message;
  }
  write(d.file("u.toml"), "[notify]\nsender_user = \"mailer\"\n");
  auto own = load_config(d.file("u.toml"));
  ASSERT_TRUE(own) << own.error().message;
  EXPECT_EQ(own->notify_sender_user, "mailer");
  // A relay on this host may go without STARTTLS.
  write(d.file("l.toml"),
        "[notify.email]\nsmtp_url = \"smtp://127.0.0.1:25\"\nstarttls = false\nfrom = \"b@example.com\"\n");
  EXPECT_TRUE(load_config(d.file("l.toml")));
}

TEST(Config, EgressAddressesAreAddressesOrCidrBlocks) {
  TempDir d;
  write(d.file("a.toml"), "[upstream]\negress_addresses = [\"192.0.2.10\", \"10.1.0.0/16\", \"2001:db8::/32\"]\n");
  auto c = load_config(d.file("a.toml"));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->egress_addresses, (std::vector<std::string>{"192.0.2.10", "10.1.0.0/16", "2001:db8::/32"}));
  for (const char* bad : {"gw.example.com", "10.0.0.0/33", "10.0.0.1/", "::1/129", "10.0.0.1/x"}) {
    write(d.file("b.toml"), std::string("[upstream]\negress_addresses = [\"") + bad + "\"]\n");
    auto e = load_config(d.file("b.toml"));
    ASSERT_FALSE(e) << bad;
    EXPECT_NE(e.error().message.find("is not an IP address or CIDR block"), std::string::npos) << e.error().message;
  }
}

TEST(Files, AtomicWriteKeepsModeAndRefusesOverwrite) {
  TempDir d;
  std::string p = d.file("secret");
  ASSERT_TRUE(write_file_atomic(p, "one", 0600, false));
  struct stat st {};
  ASSERT_EQ(stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = write_file_atomic(p, "two", 0600, false);
  EXPECT_FALSE(again);
  EXPECT_EQ(*read_file(p), "one");
  ASSERT_TRUE(write_file_atomic(p, "three", 0600, true));
  EXPECT_EQ(*read_file(p), "three");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(d.path), {}), 1);  // no temp files left
}

// Sets the stored schema version behind the Database's back.
void force_schema_version(Database& db, int version) {
  if (bastion::test_support::under_postgres()) {
    exec(db, "UPDATE bastion_schema SET version = " + std::to_string(version));
  } else {
    exec(db, "PRAGMA user_version=" + std::to_string(version));
  }
}

TEST(Database, MigratesOnceAndRefusesNewer) {
  TempDir d;
  std::string p = d.file("x.db");
  EXPECT_FALSE(Database::open(bastion::test_support::test_database(p), Database::Mode::kOpenExisting));
  {
    auto db = Database::open(bastion::test_support::test_database(p), Database::Mode::kCreate);
    ASSERT_TRUE(db) << db.error().message;
    EXPECT_EQ(db->schema_version(), Database::latest_schema_version());
  }
  {
    auto db = Database::open(bastion::test_support::test_database(p), Database::Mode::kOpenExisting);
    ASSERT_TRUE(db);
    force_schema_version(*db, 999);
  }
  auto newer = Database::open(bastion::test_support::test_database(p), Database::Mode::kOpenExisting);
  ASSERT_FALSE(newer);
  EXPECT_NE(newer.error().message.find("newer than this bastion"), std::string::npos);
}

// The code is what callers branch on: it must survive every hop a failure
// takes (Result -> Status -> Error, a prefix of context, a transaction).
TEST(Error, TheCodeSurvivesResultStatusAndContext) {
  Result<int> r = make_error(ErrorCode::kGone, "this link has expired");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kGone);
  Status st = r.status();
  EXPECT_EQ(st.code(), ErrorCode::kGone);
  EXPECT_EQ(st.message(), "this link has expired");
  Error outer = st.error().prefixed("invite: ");
  EXPECT_EQ(outer.code, ErrorCode::kGone);
  EXPECT_EQ(outer.message, "invite: this link has expired");
  Result<std::string> again = outer;
  EXPECT_EQ(again.error().code, ErrorCode::kGone);
  // Plain messages keep compiling and carry no code.
  EXPECT_EQ(Status(Error{"x"}).code(), ErrorCode::kUnspecified);
  EXPECT_EQ(make_error("x").code, ErrorCode::kUnspecified);
  EXPECT_EQ(Status::ok().code(), ErrorCode::kUnspecified);
  EXPECT_STREQ(to_string(ErrorCode::kDuplicate), "duplicate");
}

TEST(Database, ALockHeldByAnotherConnectionIsBusyAndCodedSo) {
  TempDir d;
  std::string p = d.file("busy.db");
  auto holder = Database::open(bastion::test_support::test_database(p), Database::Mode::kCreate);
  ASSERT_TRUE(holder) << holder.error().message;
  auto waiter =
      Database::open(bastion::test_support::test_database(p), Database::Mode::kOpenExisting, /*busy_timeout_ms=*/0);
  ASSERT_TRUE(waiter) << waiter.error().message;
  ASSERT_TRUE(holder->begin());
  Status st = with_transaction(*waiter, [&]() -> Status { return {}; });
  ASSERT_FALSE(st);
  EXPECT_EQ(st.code(), ErrorCode::kBusy) << st.message();
  // An error that is not about a lock is not busy.
  Status bad = with_transaction(*holder, [&]() -> Status {
    exec(*holder, "SELECT * FROM no_such_table");
    return {};
  });
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.code(), ErrorCode::kUnspecified) << bad.message();
  ASSERT_TRUE(holder->rollback());
  EXPECT_TRUE(with_transaction(*waiter, [&]() -> Status { return {}; }));
}

TEST(Random, IdsHaveTheirShapeAndDiffer) {
  std::string id = random_id("REQ");
  ASSERT_EQ(id.size(), 12u) << id;
  EXPECT_TRUE(id.starts_with("REQ-")) << id;
  EXPECT_EQ(id.find_first_not_of("0123456789ABCDEFGHJKMNPQRSTVWXYZ", 4), std::string::npos) << id;
  EXPECT_NE(random_id("REQ"), random_id("REQ"));
  EXPECT_EQ(random_bytes(32).size(), 32u);
  EXPECT_NE(random_bytes(16), random_bytes(16));
}

TEST(Strings, JoinPutsTheSeparatorBetweenItemsOnly) {
  EXPECT_EQ(join({}, ","), "");
  EXPECT_EQ(join({"a"}, ", "), "a");
  EXPECT_EQ(join({"a", "b", "c"}, ", "), "a, b, c");
}

int g_freed_by_value = 0;
int g_freed_by_address = 0;
void free_by_value(int* p) {
  ++g_freed_by_value;
  delete p;
}
void free_by_address(int** p) {
  ++g_freed_by_address;
  delete *p;
  *p = nullptr;
}

TEST(CHandle, CallsTheFreeFunctionWhicheverWayItTakesTheHandle) {
  { CHandle<int, free_by_value> a(new int(1)); }
  { CHandle<int, free_by_address> b(new int(2)); }
  { CHandle<int, free_by_value> empty; }
  EXPECT_EQ(g_freed_by_value, 1);
  EXPECT_EQ(g_freed_by_address, 1);
}

TEST(X509Builder, ACaSignsALeafAndATlsCertificateNamesItsHost) {
  Pkey ca_key(EVP_EC_gen("P-256"));
  Pkey leaf_key(EVP_EC_gen("P-256"));
  ASSERT_TRUE(ca_key && leaf_key);
  auto ca = make_certificate(ca_key.get(), ca_spec("test root", 3600));
  ASSERT_TRUE(ca) << ca.error().message;
  CertificateSpec leaf_spec;
  leaf_spec.common_name = "leaf";
  leaf_spec.raw_extensions.push_back({"1.3.6.1.4.1.45724.1.1.4", std::string("\x04\x10") + std::string(16, 'A')});
  auto leaf = make_certificate(leaf_key.get(), leaf_spec, ca->get(), ca_key.get());
  ASSERT_TRUE(leaf) << leaf.error().message;
  EXPECT_EQ(X509_verify(leaf->get(), ca_key.get()), 1);
  EXPECT_NE(X509_verify(leaf->get(), leaf_key.get()), 1);
  EXPECT_EQ(X509_check_issued(ca->get(), leaf->get()), X509_V_OK);
  EXPECT_EQ(X509_check_ca(ca->get()), 1);
  EXPECT_EQ(X509_check_ca(leaf->get()), 0);
  EXPECT_GE(X509_get_ext_by_OBJ(leaf->get(), Asn1Object(OBJ_txt2obj("1.3.6.1.4.1.45724.1.1.4", 1)).get(), -1), 0);
  // Random serials: two certificates of one issuer never share one.
  auto again = make_certificate(leaf_key.get(), leaf_spec, ca->get(), ca_key.get());
  ASSERT_TRUE(again);
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get_serialNumber(leaf->get()), X509_get_serialNumber(again->get())), 0);

  auto tls = make_certificate(leaf_key.get(), tls_server_spec("localhost", 3600));
  ASSERT_TRUE(tls) << tls.error().message;
  EXPECT_EQ(X509_verify(tls->get(), leaf_key.get()), 1);
  EXPECT_EQ(X509_check_host(tls->get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(tls->get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_host(tls->get(), "example.com", 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_purpose(tls->get(), X509_PURPOSE_SSL_SERVER, 0), 1);
  auto pem = certificate_pem(tls->get());
  ASSERT_TRUE(pem);
  EXPECT_TRUE(pem->starts_with("-----BEGIN CERTIFICATE-----")) << *pem;
}

// Schema 6 made WebAuthn credentials from invitations pending until
// confirmed; the ones registered before must stay usable.
TEST(Database, MigrationSixKeepsExistingWebauthnCredentialsConfirmed) {
  TempDir d;
  std::string p = d.file("v5.db");
  {
    auto db = Database::open(bastion::test_support::test_database(p), Database::Mode::kCreate);
    ASSERT_TRUE(db) << db.error().message;
    ASSERT_GE(Database::latest_schema_version(), 6);
    // Back to the shape of schema 5, with one credential in it.
    for (const char* table :
         {"notify_marks", "notifications", "scim_group_members", "scim_groups", "scim_users", "scim_clients"}) {
      exec(*db, std::string("DROP TABLE ") + table);
    }
    if (!db->postgres()) {
      for (const char* trigger :
           {"recording_commands_text_insert", "recording_commands_text_delete", "recording_commands_text_update"}) {
        exec(*db, std::string("DROP TRIGGER ") + trigger);
      }
      exec(*db, "DROP TABLE recording_commands_text");
    }
    exec(*db, "DROP TABLE recording_commands");
    if (db->postgres()) {
      exec(*db, "DROP INDEX audit_log_reason_text");
      exec(*db, "DROP INDEX audit_log_details_text");
    } else {
      for (const char* trigger : {"audit_text_insert", "audit_text_delete", "audit_text_update"}) {
        exec(*db, std::string("DROP TRIGGER ") + trigger);
      }
      exec(*db, "DROP TABLE audit_text");
    }
    for (const char* index : {"elevations_user_created", "elevations_customer_created", "elevations_role_created"}) {
      exec(*db, std::string("DROP INDEX ") + index);
    }
    for (const char* index : {"sessions_started", "sessions_user_started", "sessions_target_started", "audit_log_actor",
                              "audit_log_action"}) {
      exec(*db, std::string("DROP INDEX ") + index);
    }
    exec(*db, "ALTER TABLE roles DROP COLUMN console");
    exec(*db, "DROP TABLE console_ceremonies");
    exec(*db, "DROP TABLE console_sessions");
    exec(*db, "ALTER TABLE audit_checkpoints DROP COLUMN next_key");
    exec(*db, "DROP TABLE syslog_cursors");
    exec(*db, "DROP TABLE claims");
    exec(*db, "DROP TABLE revocations");
    exec(*db, "DROP TABLE nodes");
    exec(*db, "DROP INDEX sessions_node");
    exec(*db, "ALTER TABLE sessions DROP COLUMN node");
    for (const char* col : {"confirmed_at", "confirmed_by", "confirm_code_sha256", "confirm_expires_at"}) {
      exec(*db, std::string("ALTER TABLE webauthn_credentials DROP COLUMN ") + col);
    }
    force_schema_version(*db, 5);
    exec(*db, "INSERT INTO users(name, state, service_account, created_at) VALUES ('alice','active',0,0)");
    Statement ins(*db,
                  "INSERT INTO webauthn_credentials(id, user_name, cose_alg, public_key, state, created_at) "
                  "VALUES ('old-cred', 'alice', -7, ?, 'active', 1234)");
    const char key = 0;
    ins.bind(1, &key, 1);
    ins.run();
  }
  auto db = Database::open(bastion::test_support::test_database(p), Database::Mode::kOpenExisting);
  ASSERT_TRUE(db) << db.error().message;
  EXPECT_EQ(db->schema_version(), Database::latest_schema_version());
  Statement q(*db, "SELECT confirmed_at, confirmed_by, confirm_code_sha256 FROM webauthn_credentials");
  ASSERT_TRUE(q.step());
  EXPECT_EQ(q.column(0).int64(), 1234);
  EXPECT_FALSE(q.column(1).text().empty());
  EXPECT_TRUE(q.column(2).is_null());
}

}  // namespace
}  // namespace bastion

namespace bastion {
namespace {
TEST(Config, ShippedSampleIsValid) {
  auto c = load_config(std::string(BASTION_SOURCE_DIR) + "/contrib/bastion.toml.sample");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->state_dir, "/var/lib/bastion");
  EXPECT_EQ(c->listen_port, 22);
}
TEST(Encoding, Base64IsStrictAboutUnusedBits) {
  ASSERT_TRUE(base64_decode("QQ=="));
  EXPECT_EQ(base64_decode("QQ==")->size(), 1u);
  EXPECT_FALSE(base64_decode("QR=="));  // found by fuzz_public_key: a second spelling of "A"
  EXPECT_FALSE(base64_decode("QUF="));
  EXPECT_TRUE(base64_decode("QUE="));
}

TEST(Encoding, Base64UrlRoundTripsWithoutPadding) {
  std::vector<uint8_t> bytes = {0xfb, 0xff, 0xbf, 0x00, 0x3e};
  std::string text = base64url_encode(bytes);
  EXPECT_EQ(text, "-_-_AD4");
  auto back = base64url_decode(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, bytes);
  for (auto bad : {"+_-_AD4", "-_-_AD4=", "A", "-_-_AD5"}) EXPECT_FALSE(base64url_decode(bad)) << bad;
}

TEST(Encoding, Utf8Check) {
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("Z\xc3\xbcrich \xe2\x82\xac \xf0\x9f\x94\x91"));
  for (std::string bad :
       {std::string("\xff"), std::string("\xc3"), std::string("\xc0\xaf"), std::string("\xe0\x80\xaf"),
        std::string("\xed\xa0\x80"), std::string("\xf4\x90\x80\x80"), std::string("ab\xe2\x82")}) {
    EXPECT_FALSE(is_valid_utf8(bad)) << bad.size();
  }
}

TEST(Encoding, PrintableAscii) {
  EXPECT_EQ(printable_ascii("https://gw.example.com"), "https://gw.example.com");
  EXPECT_EQ(printable_ascii("a\x1b[2Jb\xc3\xa9\x7f"), "a?[2Jb???");
  EXPECT_EQ(printable_ascii("abcdef", 3), "abc...");
}

TEST(Encoding, CleanTextKeepsPrintableUtf8Only) {
  EXPECT_EQ(clean_text("needs db access for INC-42"), "needs db access for INC-42");
  EXPECT_EQ(clean_text("caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x94\x91"), "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x94\x91");
  // Terminal escapes (ESC, CSI as C1), BEL, DEL, and a bidi override are dropped; line breaks become spaces.
  EXPECT_EQ(clean_text("ok\x1b[2J\x1b]0;pwned\x07 \xc2\x9b"
                       "31m\x7f"
                       "done"),
            "ok[2J]0;pwned 31mdone");
  EXPECT_EQ(clean_text("a\nb\r\tc"), "a b  c");
  EXPECT_EQ(clean_text("x\xe2\x80\xaey"), "xy");
  // Invalid UTF-8: each bad byte becomes U+FFFD.
  EXPECT_EQ(clean_text("a\xff\xc3"
                       "b"),
            "a\xef\xbf\xbd\xef\xbf\xbd"
            "b");
  EXPECT_EQ(clean_text(""), "");
}

std::vector<uint8_t> hex_bytes(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

TEST(Ed25519, WeakPublicKeysAreRecognised) {
  // The 8 points of small order (each y with both signs of x) and
  // non-canonical encodings (y >= p).
  for (const char* y : {"0000000000000000000000000000000000000000000000000000000000000000",
                        "0100000000000000000000000000000000000000000000000000000000000000",
                        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
                        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
                        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
                        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
                        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
                        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"}) {
    auto key = hex_bytes(y);
    EXPECT_TRUE(ed25519_public_key_is_weak(key)) << y;
    key[31] |= 0x80;
    EXPECT_TRUE(ed25519_public_key_is_weak(key)) << y << " with the sign bit";
  }
  EXPECT_TRUE(ed25519_public_key_is_weak(std::vector<uint8_t>(31, 1)));
  // p - 2 (y = -2) is canonical and of large order; a real key too.
  EXPECT_FALSE(
      ed25519_public_key_is_weak(hex_bytes("ebffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")));
  EXPECT_FALSE(
      ed25519_public_key_is_weak(hex_bytes("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")));
  // The identity "verifies" R = identity, S = 0 for any message; we refuse.
  auto identity = hex_bytes("0100000000000000000000000000000000000000000000000000000000000000");
  std::vector<uint8_t> forged(64, 0);
  forged[0] = 1;
  EXPECT_FALSE(ed25519_verify(identity, as_bytes("anything"), forged));
}
}  // namespace
}  // namespace bastion

namespace bastion {
namespace {

TEST(SourceGroup, Ipv6CountsWithItsSlash64AndMappedIpv4IsIpv4) {
  EXPECT_EQ(source_group("192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(source_group("2001:db8:1:2:a:b:c:d"), "2001:db8:1:2::/64");
  EXPECT_EQ(source_group("2001:db8:1:2::ffff"), "2001:db8:1:2::/64");
  EXPECT_NE(source_group("2001:db8:1:3::1"), source_group("2001:db8:1:2::1"));
  EXPECT_EQ(source_group("::1"), "::/64");
  EXPECT_EQ(source_group("::ffff:192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(source_group("fe80::1%lo"), "fe80::/64");
  EXPECT_EQ(source_group("not an address"), "not an address");
  EXPECT_EQ(source_group(""), "");
}

}  // namespace
}  // namespace bastion
