// copy_database: a SQLite deployment's rows into another database (SQLite
// here; PostgreSQL when run as postgres/DatabaseCopy.*), parents first,
// every value as it was, verified by digests; never into a database that
// already holds rows.
#include "common/database_copy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "common/database_sql.h"
#include "tests/support/test_database.h"

namespace bastion {
namespace {

class DatabaseCopy : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/database-copy-XXXXXX";
    dir = mkdtemp(tmpl);
    auto s = Database::open(dir + "/source.db", Database::Mode::kCreate);
    ASSERT_TRUE(s) << s.error().message;
    source = std::make_unique<Database>(std::move(*s));
    auto t = Database::open(test_support::test_database(dir + "/target.db"), Database::Mode::kCreate);
    ASSERT_TRUE(t) << t.error().message;
    target = std::make_unique<Database>(std::move(*t));
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  void fill() {
    // targets refers to customers, which a later migration made: a copy in
    // creation order would insert the target before its customer.
    exec(*source,
         "INSERT INTO customers(name, created_at) VALUES ('acme', 1);"
         "INSERT INTO targets(name, host, port, host_key, created_at, customer) "
         "VALUES ('db-1', '10.0.0.1', 22, 'ssh-ed25519 AAAA', 2, 'acme');"
         "INSERT INTO users(name, state, email, employee_id, created_at) "
         "VALUES ('zoë', 'active', NULL, 'E1', 3), ('o''brien', 'left', 'ob@example.com', NULL, 4);"
         "INSERT INTO roles(name, target_selector, logins, created_at) VALUES ('ops', 'env=prod', 'root', 5);"
         "INSERT INTO user_roles(user_name, role_name) VALUES ('zoë', 'ops');"
         "INSERT INTO audit_log(seq, ts, actor, action, outcome, prev_hash, hash) "
         "VALUES (9007199254740993, 6, 'zoë', 'x', 'info', 'p', 'h');");
    Statement q(*source,
                "INSERT INTO webauthn_credentials(id, user_name, cose_alg, public_key, state, created_at) "
                "VALUES ('c1', 'zoë', -7, ?, 'active', 7)");
    const unsigned char key[] = {0x00, 0xff, 0x5c, 0x78, 0x27, 0x0a};  // NUL, high byte, "\x", quote, newline
    q.bind(1, key, sizeof key);
    q.run();
  }

  std::string dir;
  std::unique_ptr<Database> source, target;
};

TEST_F(DatabaseCopy, EveryRowArrivesAsItWasAndTheDigestsAgree) {
  fill();
  std::vector<std::string> order;
  auto r = copy_database(*source, *target, [&](const std::string& t, int64_t) { order.push_back(t); });
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->mismatch(), "");
  ASSERT_EQ(r->source.size(), r->target.size());
  auto at = [&](const std::string& t) { return std::find(order.begin(), order.end(), t) - order.begin(); };
  EXPECT_LT(at("customers"), at("targets"));
  EXPECT_LT(at("users"), at("user_roles"));
  EXPECT_LT(at("roles"), at("user_roles"));
  for (const auto& t : r->target) {
    if (t.table == "users") {
      EXPECT_EQ(t.rows, 2);
    } else if (t.table == "audit_log") {
      EXPECT_EQ(t.rows, 1);
    }
  }
  EXPECT_EQ(query_int64(*target, "SELECT seq FROM audit_log"), 9007199254740993);
  Statement q(*target, "SELECT public_key FROM webauthn_credentials WHERE id = 'c1'");
  ASSERT_TRUE(q.step());
  EXPECT_EQ(q.column(0).text(), std::string("\x00\xff\x5c\x78\x27\x0a", 6));
  Statement n(*target, "SELECT email IS NULL, employee_id FROM users WHERE name = 'zoë'");
  ASSERT_TRUE(n.step());
  EXPECT_EQ(n.column(0).int64(), 1);
  EXPECT_EQ(n.column(1).text(), "E1");
}

TEST_F(DatabaseCopy, ATargetThatHoldsRowsIsRefusedAndLeftAsItWas) {
  fill();
  exec(*target, "INSERT INTO customers(name, created_at) VALUES ('other', 1)");
  auto r = copy_database(*source, *target);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("the target already holds rows in table customers"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(query_int64(*target, "SELECT COUNT(*) FROM users"), 0);
  EXPECT_EQ(query_int64(*target, "SELECT COUNT(*) FROM customers"), 1);
}

TEST_F(DatabaseCopy, AFailureHalfWayLeavesTheTargetEmpty) {
  fill();
  // A row the target refuses (its parent is missing: written with the check off).
  exec(*source, "PRAGMA foreign_keys = OFF; INSERT INTO user_roles(user_name, role_name) VALUES ('nobody', 'ops')");
  auto r = copy_database(*source, *target);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("copying: "), std::string::npos) << r.error().message;
  EXPECT_EQ(query_int64(*target, "SELECT COUNT(*) FROM users"), 0);
  EXPECT_EQ(query_int64(*target, "SELECT COUNT(*) FROM customers"), 0);
}

}  // namespace
}  // namespace bastion
