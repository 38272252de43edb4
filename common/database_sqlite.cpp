// The SQLite engine (WAL): one file, many processes, one writer at a time.
#include <SQLiteCpp/Backup.h>
#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include "common/database_engine.h"
#include "common/database_sql.h"

namespace bastion {
namespace {

DatabaseError engine_error(const SQLite::Exception& e) {
  int primary = e.getErrorCode() & 0xff;  // the extended code's low byte is the primary one
  return DatabaseError(e.what(), primary == SQLITE_BUSY || primary == SQLITE_LOCKED);
}

// Runs `fn` against SQLite, its exceptions as DatabaseError.
template <class Fn>
auto sqlite(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const SQLite::Exception& e) {
    throw engine_error(e);
  }
}

class SqliteCursor final : public engine::Cursor {
 public:
  SqliteCursor(SQLite::Database& db, const std::string& text)
      : q_(sqlite([&] { return SQLite::Statement(db, text); })) {}

  void bind_int64(int index, int64_t value) override {
    sqlite([&] { q_.bind(index, value); });
  }
  void bind_text(int index, std::string_view value) override {
    sqlite([&] { q_.bind(index, std::string(value)); });
  }
  void bind_blob(int index, const void* data, int size) override {
    sqlite([&] { q_.bind(index, data, size); });
  }
  void bind_null(int index) override {
    sqlite([&] { q_.bind(index); });
  }
  int index_of(const char* name) override {
    return sqlite([&] { return q_.getIndex(name); });
  }
  bool step() override {
    return sqlite([&] { return q_.executeStep(); });
  }
  int run() override {
    return sqlite([&] { return q_.exec(); });
  }
  void reset() override {
    sqlite([&] { q_.reset(); });
  }
  [[nodiscard]] std::string text(int column) const override {
    return sqlite([&] { return q_.getColumn(column).getString(); });
  }
  [[nodiscard]] int64_t int64(int column) const override {
    return sqlite([&] { return q_.getColumn(column).getInt64(); });
  }
  [[nodiscard]] bool is_null(int column) const override {
    return sqlite([&] { return q_.getColumn(column).isNull(); });
  }

 private:
  mutable SQLite::Statement q_;
};

class SqliteConnection final : public Database::Connection {
 public:
  explicit SqliteConnection(SQLite::Database db) : db_(std::move(db)) {}

  std::unique_ptr<engine::Cursor> prepare(const std::string& text) override {
    return std::make_unique<SqliteCursor>(db_, text);
  }
  void exec(const std::string& text) override {
    sqlite([&] { db_.exec(text); });
  }
  [[nodiscard]] bool in_transaction() const override { return sqlite3_get_autocommit(db_.getHandle()) == 0; }
  void begin_write() override { exec("BEGIN IMMEDIATE"); }
  void commit() override { exec("COMMIT"); }
  void rollback() override {
    if (in_transaction()) exec("ROLLBACK");
  }
  int schema_version() override {
    return sqlite([&] { return db_.execAndGet("PRAGMA user_version").getInt(); });
  }
  void set_schema_version(int version) override { exec("PRAGMA user_version=" + std::to_string(version)); }
  [[nodiscard]] bool postgres() const override { return false; }
  [[nodiscard]] std::string dialect(const char* portable_ddl) const override { return portable_ddl; }
  // SECURITY/robustness: SQLite's locks and caches must not be shared with a
  // forked process.
  [[nodiscard]] bool survives_fork() const override { return false; }
  // One node: whoever changes the database also acts on the change.
  void notify(const std::string& /*channel*/) override {}
  void listen(const std::string& /*channel*/) override {}
  [[nodiscard]] int wake_fd() const override { return -1; }
  bool take_wakeups() override { return false; }
  bool backup_to(const std::string& path) override {
    sqlite([&] {
      SQLite::Database copy(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
      // All pages in one step: one consistent snapshot, whatever writers do meanwhile.
      SQLite::Backup(copy, db_).executeStep(-1);
      copy.exec("PRAGMA journal_mode=WAL");  // a restored file works as the original did
    });
    return true;
  }

 private:
  SQLite::Database db_;
};

}  // namespace

std::unique_ptr<Database::Connection> open_sqlite(const std::string& path, Database::Mode mode, int busy_timeout_ms) {
  return sqlite([&]() -> std::unique_ptr<Database::Connection> {
    if (mode == Database::Mode::kReadOnly) {
      return std::make_unique<SqliteConnection>(SQLite::Database(path, SQLite::OPEN_READONLY, busy_timeout_ms));
    }
    int flags = SQLite::OPEN_READWRITE | SQLite::OPEN_FULLMUTEX;
    if (mode == Database::Mode::kCreate) flags |= SQLite::OPEN_CREATE;
    SQLite::Database db(path, flags, busy_timeout_ms);
    // SECURITY/robustness: many short-lived processes may open this file at
    // once. Keeping the WAL and its index after the last connection closes
    // avoids the recovery race in which a concurrent opener gets SQLITE_BUSY
    // at once (and a login would be denied for no reason).
    int persist = 1;
    sqlite3_file_control(db.getHandle(), "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    if (mode == Database::Mode::kCreate) db.exec("PRAGMA journal_mode=WAL");
    db.exec("PRAGMA synchronous=FULL");
    db.exec("PRAGMA foreign_keys=ON");
    return std::make_unique<SqliteConnection>(std::move(db));
  });
}

}  // namespace bastion
