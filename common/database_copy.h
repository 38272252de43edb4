// Moving a deployment's database from one engine to another (bastionctl
// migrate: an embedded SQLite file to a shared PostgreSQL).
//
// Contract: copy_database() reads the source in one transaction (it holds
// the source's write lock, so nothing changes while it reads) and writes the
// target in one transaction: the target has everything or nothing. It copies
// every table of the schema, parents before the tables that refer to them,
// row for row (the audit log's sequence numbers and hashes unchanged). It
// refuses a target that holds any row, or whose schema version differs from
// the source's. Then it reads the target back: each table's row count and a
// SHA-256 of its rows that depends neither on their order nor on the engine,
// for comparison with the source's.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/database.h"
#include "common/result.h"

namespace bastion {

struct TableDigest {
  std::string table;
  int64_t rows = 0;
  std::string sha256;  // hex; over the sorted digests of the rows
};

// What was copied, and what the target holds, read back after the commit.
struct CopyReport {
  std::vector<TableDigest> source, target;  // in the same order
  // The first table whose count or digest differs ("" when none).
  [[nodiscard]] std::string mismatch() const;
};

// Called after each table is copied (its name and row count).
using CopyProgress = std::function<void(const std::string& table, int64_t rows)>;

// `from` must be a SQLite database (its catalogue lists the tables, their
// columns and foreign keys); `to` an empty one of the same schema version.
Result<CopyReport> copy_database(Database& from, Database& to, const CopyProgress& progress = {});

}  // namespace bastion
