#include "tests/support/test_database.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <mutex>
#include <stdexcept>

namespace bastion::test_support {
namespace {

// The server's URL, or "unavailable: why", or "" under SQLite.
const std::string& server() {
  static const std::string url = [] {
    const char* file = std::getenv("BASTION_TEST_POSTGRES");
    if (file == nullptr || *file == '\0') return std::string();
    std::ifstream in(file);
    std::string line;
    if (!std::getline(in, line) || line.empty()) {
      return std::string("unavailable: no server URL in ") + file + " (did the postgres_server fixture run?)";
    }
    return line;
  }();
  return url;
}

bool unavailable() { return server().starts_with("unavailable:"); }

class PostgresEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    if (under_postgres() && unavailable()) GTEST_SKIP() << "PostgreSQL tests skipped: " << server().substr(13);
  }
};

[[maybe_unused]] ::testing::Environment* const environment =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

std::string new_schema() {
  static std::mutex m;
  static int counter = 0;
  std::lock_guard lock(m);
  std::string name = "t" + std::to_string(getpid()) + "_" + std::to_string(++counter);
  PGconn* c = PQconnectdb(server().c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string why = PQerrorMessage(c);
    PQfinish(c);
    throw std::runtime_error("test PostgreSQL server: " + why);
  }
  PGresult* r = PQexec(c, ("CREATE SCHEMA " + name).c_str());
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  std::string why = PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(c);
  if (!ok) throw std::runtime_error("test PostgreSQL server: CREATE SCHEMA: " + why);
  return server() + "&options=-csearch_path%3D" + name;
}

}  // namespace

bool under_postgres() { return !server().empty(); }

std::string fresh_postgres_database() {
  if (!under_postgres() || unavailable()) throw std::runtime_error("no test PostgreSQL server: " + server());
  return new_schema();
}

std::string test_database(const std::string& sqlite_location) {
  if (!under_postgres()) return sqlite_location;
  if (unavailable()) throw std::runtime_error(server());
  if (sqlite_location == ":memory:") return new_schema();
  // The same file within one test is one database; tests that reuse a
  // file name (after deleting the file) get a fresh one each.
  std::string key = sqlite_location;
  if (const auto* test = ::testing::UnitTest::GetInstance()->current_test_info()) {
    key = std::string(test->test_suite_name()) + "." + test->name() + " " + key;
  }
  static std::mutex m;
  static std::map<std::string, std::string> known;
  {
    std::lock_guard lock(m);
    if (auto it = known.find(key); it != known.end()) return it->second;
  }
  std::string url = new_schema();
  std::lock_guard lock(m);
  return known.emplace(key, url).first->second;
}

}  // namespace bastion::test_support
