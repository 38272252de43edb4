// Where a test's database lives: SQLite by default; PostgreSQL when the
// test runs as one of ctest's "postgres/" tests.
//
// Contract: ctest's postgres/ tests set BASTION_TEST_POSTGRES to the URL
// file that scripts/postgres-test.sh writes (the fixture that starts the
// server before them and stops it after). Each database a test asks for is
// then a new, empty schema on that server, so tests never see each other's
// rows. When the file says the server is unavailable, every test in the
// binary skips with that reason.
#pragma once

#include <string>

namespace bastion::test_support {

// Whether this test binary runs against PostgreSQL.
bool under_postgres();

// The location to pass to Database::open for `sqlite_location` (a file or
// ":memory:"): that location itself under SQLite; under PostgreSQL a URL to a
// fresh schema, the same URL again for the same file within one test (two
// connections to one database), a new one for every ":memory:" and for
// every test.
std::string test_database(const std::string& sqlite_location);

// A fresh, empty PostgreSQL database (schema) on the test server; only under_postgres().
std::string fresh_postgres_database();

}  // namespace bastion::test_support
