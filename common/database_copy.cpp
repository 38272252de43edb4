#include "common/database_copy.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <set>

#include "common/database_sql.h"
#include "common/encoding.h"

namespace bastion {
namespace {

// How a column's values are read, bound and digested.
enum class Kind : char { kInteger = 'i', kText = 't', kBlob = 'b' };

struct Table {
  std::string name;
  std::vector<std::pair<std::string, Kind>> columns;
  std::set<std::string> parents;  // tables its foreign keys refer to
};

Kind kind_of(std::string type) {
  std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::toupper(c); });
  if (type.find("INT") != std::string::npos) return Kind::kInteger;
  if (type.find("BLOB") != std::string::npos || type.find("BYTEA") != std::string::npos) return Kind::kBlob;
  return Kind::kText;
}

// The source's tables from SQLite's catalogue, parents first. Only ordinary
// tables hold data: the audit log's full-text index (a virtual table and its
// shadow tables) is SQLite's own, and PostgreSQL builds its own index.
std::vector<Table> catalogue(Database& db) {
  std::vector<Table> tables;
  Statement names(db,
                  "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE "
                  "'sqlite_%' ORDER BY name");
  while (names.step()) tables.push_back({names.column(0).text(), {}, {}});
  for (auto& t : tables) {
    Statement cols(db, "SELECT name, type FROM pragma_table_info(?) ORDER BY cid");
    cols.bind(1, t.name);
    while (cols.step()) t.columns.emplace_back(cols.column(0).text(), kind_of(cols.column(1).text()));
    Statement fks(db, "SELECT \"table\" FROM pragma_foreign_key_list(?)");
    fks.bind(1, t.name);
    while (fks.step()) {
      if (fks.column(0).text() != t.name) t.parents.insert(fks.column(0).text());
    }
  }
  // Parents before children (the catalogue has no cycles; a table whose
  // parents never come is placed last, and the target says why it fails).
  std::vector<Table> ordered;
  std::set<std::string> placed;
  while (!tables.empty()) {
    auto next = std::find_if(tables.begin(), tables.end(), [&](const Table& t) {
      return std::all_of(t.parents.begin(), t.parents.end(), [&](const std::string& p) { return placed.count(p) > 0; });
    });
    if (next == tables.end()) next = tables.begin();
    placed.insert(next->name);
    ordered.push_back(std::move(*next));
    tables.erase(next);
  }
  return ordered;
}

std::string select_all(const Table& t) {
  std::string sql = "SELECT ";
  for (size_t i = 0; i < t.columns.size(); ++i) sql += (i ? ", " : "") + t.columns[i].first;
  return sql + " FROM " + t.name;
}

using Sha256 = std::array<unsigned char, 32>;

// One row's digest: each value as kind, length and bytes (NULL apart), so
// that no two different rows share an encoding.
Sha256 row_digest(const Statement& q, const Table& t) {
  std::string enc;
  for (size_t i = 0; i < t.columns.size(); ++i) {
    Column c = q.column(static_cast<int>(i));
    if (c.is_null()) {
      enc += 'N';
      continue;
    }
    std::string v = t.columns[i].second == Kind::kInteger ? std::to_string(c.int64()) : c.text();
    enc += static_cast<char>(t.columns[i].second);
    enc += std::to_string(v.size()) + ":" + v;
  }
  Sha256 out{};
  EVP_Digest(enc.data(), enc.size(), out.data(), nullptr, EVP_sha256(), nullptr);
  return out;
}

TableDigest digest_of(std::vector<Sha256>& rows, const std::string& table) {
  std::sort(rows.begin(), rows.end());
  std::vector<uint8_t> all;
  all.reserve(rows.size() * 32);
  for (const auto& r : rows) all.insert(all.end(), r.begin(), r.end());
  Sha256 out{};
  EVP_Digest(all.data(), all.size(), out.data(), nullptr, EVP_sha256(), nullptr);
  return {table, static_cast<int64_t>(rows.size()), hex_encode(out)};
}

std::vector<TableDigest> digests(Database& db, const std::vector<Table>& tables) {
  std::vector<TableDigest> out;
  for (const auto& t : tables) {
    Statement q(db, select_all(t));
    std::vector<Sha256> rows;
    while (q.step()) rows.push_back(row_digest(q, t));
    out.push_back(digest_of(rows, t.name));
  }
  return out;
}

}  // namespace

std::string CopyReport::mismatch() const {
  for (size_t i = 0; i < source.size(); ++i) {
    if (i >= target.size()) return source[i].table;
    if (source[i].rows != target[i].rows || source[i].sha256 != target[i].sha256) return source[i].table;
  }
  return "";
}

Result<CopyReport> copy_database(Database& from, Database& to, const CopyProgress& progress) {
  if (from.schema_version() != to.schema_version()) {
    return make_error("the source's schema version (" + std::to_string(from.schema_version()) +
                      ") differs from the target's (" + std::to_string(to.schema_version()) + ")");
  }
  CopyReport report;
  std::vector<Table> tables;
  try {
    // SECURITY: the source's write lock for the whole copy: nothing written
    // meanwhile is left behind.
    Transaction read(from);
    tables = catalogue(from);
    Transaction write(to);
    for (const auto& t : tables) {
      if (query_int64(to, "SELECT COUNT(*) FROM " + t.name) != 0) {
        return make_error(ErrorCode::kInvalid,
                          "the target already holds rows in table " + t.name + ": migrate into an empty database");
      }
    }
    for (const auto& t : tables) {
      std::string insert = "INSERT INTO " + t.name + " (";
      std::string values;
      for (size_t i = 0; i < t.columns.size(); ++i) {
        insert += (i ? ", " : "") + t.columns[i].first;
        values += i ? ", ?" : "?";
      }
      insert += ") VALUES (" + values + ")";
      Statement q(from, select_all(t));
      Statement ins(to, insert);
      std::vector<Sha256> rows;
      while (q.step()) {
        rows.push_back(row_digest(q, t));
        for (size_t i = 0; i < t.columns.size(); ++i) {
          int at = static_cast<int>(i);
          Column c = q.column(at);
          if (c.is_null()) {
            ins.bind(at + 1);
            continue;
          }
          switch (t.columns[i].second) {
            case Kind::kInteger: ins.bind(at + 1, c.int64()); break;
            case Kind::kBlob: {
              std::string bytes = c.text();
              ins.bind(at + 1, bytes.data(), static_cast<int>(bytes.size()));
              break;
            }
            case Kind::kText: ins.bind(at + 1, c.text()); break;
          }
        }
        ins.run();
        ins.reset();
      }
      report.source.push_back(digest_of(rows, t.name));
      if (progress) progress(t.name, static_cast<int64_t>(rows.size()));
    }
    write.commit();
  } catch (const DatabaseError& e) {
    return database_error("copying: ", e);
  }
  // Read back what the target now holds.
  auto back = guarded([&]() -> Result<std::vector<TableDigest>> { return digests(to, tables); }, "reading back: ");
  if (!back) return back.error();
  report.target = std::move(*back);
  return report;
}

}  // namespace bastion
