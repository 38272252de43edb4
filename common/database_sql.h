// The SQL side of Database, for the stores that run statements on it.
//
// Contract: included only by source files of common/, authn/, policy/ and
// recorder/ (cmake/CheckLayering.cmake refuses it in headers and in
// gateway/), so the engine stays behind the stores' interfaces. SQLite
// exceptions never leave a store: guarded() and with_transaction() turn
// them into errors.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <string>

#include "common/database.h"
#include "common/result.h"

namespace bastion {

// The connection behind `db`.
SQLite::Database& sql(Database& db);

// A SQLite failure as an Error, `context` in front of SQLite's message. A lock
// another process holds (SQLITE_BUSY, SQLITE_LOCKED) is ErrorCode::kBusy, so
// callers that retry ask the code, not the wording.
Error database_error(const std::string& context, const SQLite::Exception& e);

// Runs `fn` (which returns a Result or Status), turning SQLite exceptions
// into an error with `context` in front. For reads; writes use with_transaction.
template <class Fn>
auto guarded(Fn&& fn, const char* context = "database: ") -> decltype(fn()) {
  try {
    return fn();
  } catch (const SQLite::Exception& e) {
    return database_error(context, e);
  }
}

}  // namespace bastion
