// A fresh audit store for recorder/'s tests: a database and an audit signing
// key in a temporary folder, the audit log on a fake clock; removed after
// each test. Header-only, kept out of the production folders.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/database.h"
#include "common/database_sql.h"
#include "common/ed25519_key.h"
#include "recorder/audit_chain.h"
#include "recorder/recorder_sql.h"
#include "recorder/audit_log.h"
#include "tests/support/test_database.h"

namespace bastion::recorder::testing {

class AuditStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/audit-store-test-XXXXXX";
    dir = mkdtemp(tmpl);
    auto d = Database::open(bastion::test_support::test_database(dir + "/a.db"), Database::Mode::kCreate);
    ASSERT_TRUE(d);
    db = std::make_unique<Database>(std::move(*d));
    auto k = Ed25519Key::create(dir + "/key");
    ASSERT_TRUE(k);
    key = std::make_unique<Ed25519Key>(std::move(*k));
    log = std::make_unique<AuditLog>(*db, clock);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  VerifyReport verify() {
    auto r = verify_chain(*db, key->public_key());
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : VerifyReport{};
  }
  void sql(const std::string& s) { exec(*db, s); }

  std::string dir;
  FakeClock clock{1'800'000'000'000'000};
  std::unique_ptr<Database> db;
  std::unique_ptr<Ed25519Key> key;
  std::unique_ptr<AuditLog> log;
};

}  // namespace bastion::recorder::testing
