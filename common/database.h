// The bastion database handle and its schema migrations: SQLite (WAL) on one
// node, or PostgreSQL shared by several.
//
// Contract: open() applies pending migrations in one transaction each and
// refuses a database newer than this build. Many processes (one per SSH
// connection) may hold their own Database on the same file; writes are short
// transactions and wait up to busy_timeout for the lock.
// Not thread-safe: one Database per thread/process. Never share across fork().
//
// The handle is opaque: no SQLite type is visible here. The stores that run
// SQL (in common/, authn/, policy/, recorder/ source files, never gateway/
// and never a header) reach the connection through common/database_sql.h;
// everything else holds a Database only to pass it to those stores and to
// scope transactions.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/result.h"

namespace bastion {

class Database {
 public:
  // kReadOnly: an existing database, never written (not migrated either:
  // a reader beside a bastiond that keeps it current).
  enum class Mode { kOpenExisting, kCreate, kReadOnly };

  // `location`: a SQLite file (":memory:" in tests), or a PostgreSQL URL
  // (postgresql://…, postgres://…). kCreate on PostgreSQL creates the schema
  // in an existing, empty database; kOpenExisting refuses one without it.
  static Result<Database> open(const std::string& location, Mode mode, int busy_timeout_ms = 5000);
  // Whether `location` names PostgreSQL (a URL) rather than a SQLite file.
  static bool is_postgres(const std::string& location);
  // `location` for messages and listings: a URL's password is masked.
  static std::string display_name(const std::string& location);

  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;
  ~Database();

  // Whether this is PostgreSQL (else SQLite), for the few statements each
  // engine spells its own way (the audit log's text search).
  [[nodiscard]] bool postgres() const;
  // Whether a transaction is open on this connection.
  [[nodiscard]] bool in_transaction() const;
  // Whether this connection may stay open across fork() when the child
  // closes the descriptor unused (PostgreSQL), or must be closed first (SQLite).
  [[nodiscard]] bool survives_fork() const;
  // Wake-ups from other connections, on other nodes too (PostgreSQL
  // LISTEN/NOTIFY; a notify made inside a transaction arrives when it
  // commits). listen() on a connection kept for it; poll wake_fd() (it may
  // change after a reconnect; -1: none, as on SQLite, where one node does
  // everything itself) and call take_wakeups(): true when a notification
  // arrived or may have been missed (the connection was re-made).
  Status listen(const std::string& channel);
  [[nodiscard]] int wake_fd() const;
  Result<bool> take_wakeups();
  // A transaction held across many writes (the monitor's group commit):
  // begin() takes the write lock (IMMEDIATE); writes made meanwhile through
  // with_transaction run in savepoints; commit() makes them durable together.
  // rollback() never fails (a failed rollback leaves the connection unusable:
  // callers then drop it).
  Status begin();
  Status commit();
  Status rollback();
  [[nodiscard]] int schema_version() const { return version_; }
  // A consistent copy of the database into a new SQLite file at `path`
  // (which must not exist), while other connections keep writing: SQLite's
  // online backup. kUnsupported on PostgreSQL (back it up with pg_dump or a
  // base backup; bastionctl backup says so).
  Status backup_to(const std::string& path);
  static int latest_schema_version();

  // The engine's connection: an interface in common/database_engine.h,
  // which only common/database*.cpp include.
  struct Connection;

 private:
  friend struct DatabaseAccess;
  explicit Database(std::unique_ptr<Connection> c);
  Status migrate();
  [[nodiscard]] Error newer_than_this_build() const;

  std::unique_ptr<Connection> connection_;
  int version_ = 0;
};

// Runs `fn` inside a transaction; commits if it returns ok, rolls back otherwise
// (and on exception). SQLite errors become Status errors. Inside a transaction
// the caller already holds (a service that makes a change and writes its
// audit record as one unit), `fn` runs in a savepoint instead: its changes
// are undone if it fails, and commit or vanish with the caller's transaction.
Status with_transaction(Database& db, const std::function<Status()>& fn);

}  // namespace bastion
