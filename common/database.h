// The bastion database handle (SQLite, WAL) and its schema migrations.
//
// Contract: open() applies pending migrations in one transaction each and
// refuses a database newer than this build. Many processes (one per SSH
// connection) may hold their own Database on the same file; writes are short
// transactions and wait up to busy_timeout for the lock.
// Not thread-safe: one Database per thread/process. Never share across fork().
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <memory>
#include <string>

#include "common/result.h"

namespace bastion {

class Database {
 public:
  enum class Mode { kOpenExisting, kCreate };

  static Result<Database> open(const std::string& path, Mode mode, int busy_timeout_ms = 5000);

  SQLite::Database& sql() { return *db_; }
  // Whether a transaction is open on this connection.
  [[nodiscard]] bool in_transaction() const;
  // A transaction held across many writes (the monitor's group commit):
  // begin() takes the write lock (IMMEDIATE); writes made meanwhile through
  // with_transaction run in savepoints; commit() makes them durable together.
  // rollback() never fails (a failed rollback leaves the connection unusable:
  // callers then drop it).
  Status begin();
  Status commit();
  Status rollback();
  [[nodiscard]] int schema_version() const { return version_; }
  static int latest_schema_version();

 private:
  explicit Database(std::unique_ptr<SQLite::Database> db) : db_(std::move(db)) {}
  Status migrate();

  std::unique_ptr<SQLite::Database> db_;
  int version_ = 0;
};

// A SQLite failure as an Error, `context` in front of SQLite's message. A lock
// another process holds (SQLITE_BUSY, SQLITE_LOCKED) is ErrorCode::kBusy, so
// callers that retry ask the code, not the wording.
Error database_error(const std::string& context, const SQLite::Exception& e);

// Runs `fn` (which returns a Result or Status), turning SQLite exceptions
// into an error. For reads; writes use with_transaction.
template <class Fn>
auto guarded(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const SQLite::Exception& e) {
    return database_error("database: ", e);
  }
}

// Runs `fn` inside a transaction; commits if it returns ok, rolls back otherwise
// (and on exception). SQLite errors become Status errors. Inside a transaction
// the caller already holds (a service that makes a change and writes its
// audit record as one unit), `fn` runs in a savepoint instead: its changes
// are undone if it fails, and commit or vanish with the caller's transaction.
template <class Fn>
Status with_transaction(Database& db, Fn&& fn) {
  try {
    if (db.in_transaction()) {
      db.sql().exec("SAVEPOINT nested");
      Status st;
      try {
        st = fn();
      } catch (...) {
        db.sql().exec("ROLLBACK TO nested");
        db.sql().exec("RELEASE nested");
        throw;
      }
      if (!st) db.sql().exec("ROLLBACK TO nested");
      db.sql().exec("RELEASE nested");
      return st;
    }
    SQLite::Transaction tx(db.sql(), SQLite::TransactionBehavior::IMMEDIATE);
    Status st = fn();
    if (!st) return st;
    tx.commit();
    return {};
  } catch (const SQLite::Exception& e) {
    return database_error("database: ", e);
  }
}

}  // namespace bastion
