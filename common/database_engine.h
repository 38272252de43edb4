// The storage engines behind Database: SQLite (one node, embedded) and
// PostgreSQL (several nodes on one shared database).
//
// Contract: included only by common/database*.cpp (cmake/CheckLayering.cmake
// refuses it elsewhere). Each engine implements these two interfaces in its
// own file, the only one that includes its client library; database.cpp
// holds what both share (the schema, migrations, transactions by savepoint).
// Engine failures are thrown as DatabaseError.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/database.h"

namespace bastion {

namespace engine {

// One statement: bind (1-based), step through rows, read columns (0-based).
class Cursor {
 public:
  virtual ~Cursor() = default;
  virtual void bind_int64(int index, int64_t value) = 0;
  virtual void bind_text(int index, std::string_view value) = 0;
  virtual void bind_blob(int index, const void* data, int size) = 0;
  virtual void bind_null(int index) = 0;
  // The position of ":name" (an error when the statement has none).
  virtual int index_of(const char* name) = 0;
  virtual bool step() = 0;
  virtual int run() = 0;
  virtual void reset() = 0;
  [[nodiscard]] virtual std::string text(int column) const = 0;
  [[nodiscard]] virtual int64_t int64(int column) const = 0;
  [[nodiscard]] virtual bool is_null(int column) const = 0;
};

// Opens the engine named by `location`: a URL postgresql://… or postgres://…
// is PostgreSQL, anything else a SQLite file (":memory:" for tests).
bool is_postgres(const std::string& location);

}  // namespace engine

struct Database::Connection {
  virtual ~Connection() = default;
  // transaction_memo(): cleared by every begin, commit, rollback and
  // rollback to a savepoint made through common/database.cpp.
  std::map<std::string, std::string> memo;
  virtual std::unique_ptr<engine::Cursor> prepare(const std::string& text) = 0;
  // Statements without parameters or rows (DDL, SAVEPOINT, several at once).
  virtual void exec(const std::string& text) = 0;
  [[nodiscard]] virtual bool in_transaction() const = 0;
  // Starts a transaction that holds the database's one write lock, so that
  // reading and then writing is atomic across processes and nodes.
  virtual void begin_write() = 0;
  virtual void commit() = 0;
  // Does nothing outside a transaction.
  virtual void rollback() = 0;
  // The schema version stored in the database (0: none yet). Migrations run
  // inside begin_write(); set_schema_version is part of the same transaction.
  virtual int schema_version() = 0;
  virtual void set_schema_version(int version) = 0;
  // Which engine this is, for what each does its own way (migrations, text search).
  [[nodiscard]] virtual bool postgres() const = 0;
  // A migration's DDL in this engine's dialect.
  [[nodiscard]] virtual std::string dialect(const char* portable_ddl) const = 0;
  // Whether this connection may stay open across fork() in a process whose
  // child closes the descriptor unused (PostgreSQL: yes; SQLite: no).
  [[nodiscard]] virtual bool survives_fork() const = 0;
  // Wake-ups across connections (PostgreSQL LISTEN/NOTIFY). notify() inside
  // a transaction is delivered when it commits. SQLite has no such thing:
  // notify and listen do nothing and wake_fd is -1.
  virtual void notify(const std::string& channel) = 0;
  virtual void listen(const std::string& channel) = 0;
  [[nodiscard]] virtual int wake_fd() const = 0;
  virtual bool take_wakeups() = 0;
  // A consistent copy of the whole database into a new file at `path`,
  // taken while others keep writing (SQLite's online backup). False: this
  // engine has no such copy (PostgreSQL: pg_dump and base backups are its own).
  virtual bool backup_to(const std::string& path) = 0;
};

// The engines' constructors; they throw DatabaseError.
std::unique_ptr<Database::Connection> open_sqlite(const std::string& path, Database::Mode mode, int busy_timeout_ms);
std::unique_ptr<Database::Connection> open_postgres(const std::string& url, Database::Mode mode, int busy_timeout_ms);

}  // namespace bastion
