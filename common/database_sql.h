// The SQL side of Database, for the stores that run statements on it.
//
// Contract: included only by source files of common/, authn/, policy/ and
// recorder/ (cmake/CheckLayering.cmake refuses it in headers and in
// gateway/), so the engine stays behind the stores' interfaces; no engine
// type appears here either (common/database.cpp alone knows the engine).
// Statements bind by position (1-based, "?") or by name (":name"), step
// through rows and read columns by index (0-based). Failures throw
// DatabaseError; guarded() and with_transaction() turn it into a Status, so
// it never leaves a store.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/database.h"
#include "common/result.h"

namespace bastion {

class DatabaseError : public std::runtime_error {
 public:
  DatabaseError(const std::string& what, bool busy) : std::runtime_error(what), busy_(busy) {}
  // Another connection holds the lock (the wait for it already timed out).
  [[nodiscard]] bool busy() const { return busy_; }

 private:
  bool busy_;
};

class Statement;

// One column of the current row.
class Column {
 public:
  [[nodiscard]] std::string text() const;  // a blob's bytes, a number's digits; "" for NULL
  [[nodiscard]] int64_t int64() const;
  [[nodiscard]] int int32() const;
  [[nodiscard]] bool is_null() const;

 private:
  friend class Statement;
  Column(const Statement& s, int index) : statement_(s), index_(index) {}
  const Statement& statement_;
  int index_;
};

class Statement {
 public:
  Statement(Database& db, const std::string& text);
  Statement(Statement&&) noexcept;
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  void bind(int index, int64_t value);
  void bind(int index, int value);
  void bind(int index, const std::string& value);
  void bind(int index, const char* value);
  void bind(int index, const void* blob, int size);
  void bind(int index);  // NULL
  template <class... T>
  void bind(const char* name, const T&... value) {
    bind(index_of(name), value...);
  }
  // The next row (false: there is none). A statement without rows runs.
  bool step();
  // Runs a statement that returns no rows; the rows it changed.
  int run();
  // To run again with new bindings.
  void reset();
  [[nodiscard]] Column column(int index) const { return {*this, index}; }

 private:
  friend class Column;
  int index_of(const char* name);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A write transaction that takes the write lock first (so reading and then
// writing is one atomic step across processes); rolled back unless committed.
class Transaction {
 public:
  explicit Transaction(Database& db);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void commit();

 private:
  Database& db_;
  bool done_ = false;
};

// Runs one or more statements that return nothing (DDL, PRAGMA, SAVEPOINT).
void exec(Database& db, const std::string& text);
// The first column of the first row of a query (an error when it has none).
int64_t query_int64(Database& db, const std::string& text);
// Runs `before + "(?, ..., ?)" + after` once for each slice of `values` (a
// few hundred at a time, far below either engine's limit on parameters),
// binding the slice in order, and calls `row` with the statement at each
// row: `WHERE name IN` a list of names, in a bounded number of round trips.
void select_in(Database& db, const std::string& before, const std::vector<std::string>& values,
               const std::string& after, const std::function<void(Statement&)>& row);
// Wakes the connections that listen() to `channel` (Database::listen); inside
// a transaction, when it commits. Nothing on SQLite.
void notify(Database& db, const std::string& channel);

// A value a store keeps for the rest of the current write transaction on
// `db` (the audit chain's head: the transaction holds the write lock, so no
// other connection can move it). Forgotten when the transaction begins, ends,
// or rolls back to a savepoint; set only inside a transaction. nullptr: none.
const std::string* transaction_memo(Database& db, const std::string& key);
void set_transaction_memo(Database& db, const std::string& key, std::string value);

// A failure as an Error, `context` in front of the engine's message. A lock
// another process holds is ErrorCode::kBusy, so callers that retry ask the
// code, not the wording.
Error database_error(const std::string& context, const DatabaseError& e);

// Runs `fn` (which returns a Result or Status), turning database exceptions
// into an error with `context` in front. For reads; writes use with_transaction.
template <class Fn>
auto guarded(Fn&& fn, const char* context = "database: ") -> decltype(fn()) {
  try {
    return fn();
  } catch (const DatabaseError& e) {
    return database_error(context, e);
  }
}

}  // namespace bastion
