// The PostgreSQL engine (libpq): several gateways on one database.
//
// The stores' SQL is written once, with SQLite's "?" and ":name" parameters;
// here they become $1, $2, … before the statement is sent. Parameters go as
// text (the server infers their types from the statement) except blobs,
// which go as binary bytea; results come back as text.
//
// One write lock, as in SQLite: a write transaction first takes a
// transaction-scoped advisory lock that every bastion connection to this
// database (and schema) uses, so "read, then write" (the next audit seq and hash, a
// grant's state) is atomic across connections and nodes. The wait for it is
// bounded by lock_timeout (the configured busy timeout) and reported busy.
#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <vector>

#include "common/database_engine.h"
#include "common/database_sql.h"

namespace bastion {
namespace {

// The write lock: a transaction-scoped advisory lock keyed by bastion's own
// class id and the schema, so that deployments kept in separate schemas of
// one database (the tests do that) do not wait for each other.
constexpr const char* kTakeWriteLock = "SELECT pg_advisory_xact_lock(1651729268, hashtext(current_schema()))";
constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;

using ResultPtr = std::unique_ptr<PGresult, decltype(&PQclear)>;

// Another connection holds what this one waited for: a serialization
// failure, a deadlock, or a lock wait longer than lock_timeout.
bool busy_state(const char* sqlstate) {
  if (sqlstate == nullptr) return false;
  return std::strcmp(sqlstate, "40001") == 0 || std::strcmp(sqlstate, "40P01") == 0 ||
         std::strcmp(sqlstate, "55P03") == 0;
}

std::string first_line(const char* message) {
  std::string s = message == nullptr ? "" : message;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  if (auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  if (s.starts_with("ERROR:  ")) s.erase(0, 8);
  return s;
}

// "?" and ":name" to $n, numbered as SQLite numbers them (by first
// appearance; a name used twice is one parameter). Quoted text, quoted
// identifiers, comments and "::" casts are left alone.
struct Translated {
  std::string text;
  std::vector<std::string> names;  // names[i]: parameter i+1's name, "" for "?"
};

bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }

Translated translate(const std::string& sql) {
  Translated out;
  out.text.reserve(sql.size() + 16);
  size_t i = 0;
  auto number = [&](const std::string& name) {
    if (!name.empty()) {
      for (size_t k = 0; k < out.names.size(); ++k) {
        if (out.names[k] == name) return k + 1;
      }
    }
    out.names.push_back(name);
    return out.names.size();
  };
  while (i < sql.size()) {
    char c = sql[i];
    if (c == '\'' || c == '"') {
      size_t end = i + 1;
      while (end < sql.size() && sql[end] != c) ++end;
      out.text.append(sql, i, end + 1 - i);
      i = end + 1;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      size_t end = sql.find('\n', i);
      if (end == std::string::npos) end = sql.size();
      out.text.append(sql, i, end - i);
      i = end;
    } else if (c == '?') {
      out.text += "$" + std::to_string(number(""));
      ++i;
    } else if (c == ':' && i + 1 < sql.size() && sql[i + 1] == ':') {
      out.text += "::";
      i += 2;
    } else if (c == ':' && i + 1 < sql.size() &&
               (std::isalpha(static_cast<unsigned char>(sql[i + 1])) != 0 || sql[i + 1] == '_')) {
      size_t end = i + 1;
      while (end < sql.size() && name_char(sql[end])) ++end;
      out.text += "$" + std::to_string(number(sql.substr(i, end - i)));
      i = end;
    } else {
      out.text += c;
      ++i;
    }
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// bytea's text output ("\x0a1b…") as the bytes.
std::string bytea_bytes(const char* value, int length) {
  std::string out;
  if (length < 2 || value[0] != '\\' || value[1] != 'x') return {value, static_cast<size_t>(length)};
  out.reserve(static_cast<size_t>(length - 2) / 2);
  for (int i = 2; i + 1 < length; i += 2) {
    int hi = hex_value(value[i]);
    int lo = hex_value(value[i + 1]);
    if (hi < 0 || lo < 0) throw DatabaseError("bytea value is not hex", false);
    out += static_cast<char>((hi << 4) | lo);
  }
  return out;
}

class PostgresConnection;

class PostgresCursor final : public engine::Cursor {
 public:
  PostgresCursor(PostgresConnection& c, const std::string& text) : conn_(c), sql_(translate(text)) {
    values_.resize(sql_.names.size());
    formats_.assign(sql_.names.size(), 0);
    types_.assign(sql_.names.size(), 0);
  }

  void bind_int64(int index, int64_t value) override { set(index, std::to_string(value), 0, 0); }
  void bind_text(int index, std::string_view value) override { set(index, std::string(value), 0, 0); }
  void bind_blob(int index, const void* data, int size) override {
    set(index, std::string(static_cast<const char*>(data), static_cast<size_t>(size)), 1, kByteaOid);
  }
  void bind_null(int index) override {
    slot(index);
    values_[static_cast<size_t>(index - 1)].reset();
  }
  int index_of(const char* name) override {
    for (size_t k = 0; k < sql_.names.size(); ++k) {
      if (sql_.names[k] == name) return static_cast<int>(k + 1);
    }
    throw DatabaseError(std::string("no parameter named ") + name, false);
  }
  bool step() override {
    if (!result_) {
      execute();
      row_ = -1;
    }
    ++row_;
    return row_ < PQntuples(result_.get());
  }
  int run() override {
    execute();
    const char* n = PQcmdTuples(result_.get());
    return n[0] == '\0' ? 0 : static_cast<int>(std::strtol(n, nullptr, 10));
  }
  void reset() override { result_.reset(); }

  [[nodiscard]] std::string text(int column) const override {
    check(column);
    if (PQgetisnull(result_.get(), row_, column) != 0) return {};
    const char* v = PQgetvalue(result_.get(), row_, column);
    int n = PQgetlength(result_.get(), row_, column);
    if (PQftype(result_.get(), column) == kByteaOid) return bytea_bytes(v, n);
    return {v, static_cast<size_t>(n)};
  }
  [[nodiscard]] int64_t int64(int column) const override {
    check(column);
    if (PQgetisnull(result_.get(), row_, column) != 0) return 0;
    const char* v = PQgetvalue(result_.get(), row_, column);
    if (PQftype(result_.get(), column) == kBoolOid) return v[0] == 't' ? 1 : 0;
    return std::strtoll(v, nullptr, 10);
  }
  [[nodiscard]] bool is_null(int column) const override {
    check(column);
    return PQgetisnull(result_.get(), row_, column) != 0;
  }

 private:
  void slot(int index) {
    if (index < 1 || static_cast<size_t>(index) > values_.size()) {
      throw DatabaseError("parameter index " + std::to_string(index) + " out of range", false);
    }
    result_.reset();
  }
  void set(int index, std::string value, int format, Oid type) {
    slot(index);
    auto k = static_cast<size_t>(index - 1);
    values_[k] = std::move(value);
    formats_[k] = format;
    types_[k] = type;
  }
  void check(int column) const {
    if (!result_ || row_ < 0 || row_ >= PQntuples(result_.get()) || column < 0 || column >= PQnfields(result_.get())) {
      throw DatabaseError("no column " + std::to_string(column) + " in the current row", false);
    }
  }
  void execute();

  PostgresConnection& conn_;
  Translated sql_;
  std::vector<std::optional<std::string>> values_;
  std::vector<int> formats_;
  std::vector<Oid> types_;
  ResultPtr result_{nullptr, &PQclear};
  int row_ = -1;
};

class PostgresConnection final : public Database::Connection {
 public:
  explicit PostgresConnection(PGconn* c) : conn_(c) {}
  PostgresConnection(const PostgresConnection&) = delete;
  PostgresConnection& operator=(const PostgresConnection&) = delete;
  ~PostgresConnection() override { PQfinish(conn_); }

  std::unique_ptr<engine::Cursor> prepare(const std::string& text) override {
    return std::make_unique<PostgresCursor>(*this, text);
  }
  void exec(const std::string& text) override { checked(PQexec(usable(), text.c_str())); }
  [[nodiscard]] bool in_transaction() const override { return open_; }
  void begin_write() override {
    exec("BEGIN");
    open_ = true;
    try {
      exec(kTakeWriteLock);
    } catch (const DatabaseError&) {
      rollback();
      throw;
    }
  }
  void commit() override {
    if (PQstatus(conn_) == CONNECTION_BAD) {
      open_ = false;
      throw DatabaseError("the connection to PostgreSQL was lost before COMMIT: the transaction did not happen", false);
    }
    ResultPtr r(PQexec(conn_, "COMMIT"), &PQclear);
    open_ = false;
    ok_or_throw(r.get());
    // COMMIT of a failed transaction "succeeds" as a ROLLBACK.
    if (std::strcmp(PQcmdStatus(r.get()), "ROLLBACK") == 0) {
      throw DatabaseError("the transaction failed and was rolled back", false);
    }
  }
  void rollback() override {
    if (!open_) return;
    open_ = false;
    // A lost connection has no transaction left on the server.
    if (PQstatus(conn_) == CONNECTION_BAD) return;
    checked(PQexec(conn_, "ROLLBACK"));
  }
  int schema_version() override {
    ResultPtr r(PQexec(usable(), "SELECT to_regclass('bastion_schema') IS NOT NULL"), &PQclear);
    ok_or_throw(r.get());
    if (std::strcmp(PQgetvalue(r.get(), 0, 0), "t") != 0) return 0;
    ResultPtr v(PQexec(usable(), "SELECT version FROM bastion_schema"), &PQclear);
    ok_or_throw(v.get());
    return PQntuples(v.get()) == 0 ? 0 : static_cast<int>(std::strtol(PQgetvalue(v.get(), 0, 0), nullptr, 10));
  }
  void set_schema_version(int version) override {
    exec(
        "CREATE TABLE IF NOT EXISTS bastion_schema (version INTEGER NOT NULL); DELETE FROM bastion_schema; "
        "INSERT INTO bastion_schema(version) VALUES (" +
        std::to_string(version) + ")");
  }
  [[nodiscard]] bool postgres() const override { return true; }
  [[nodiscard]] std::string dialect(const char* portable_ddl) const override {
    std::string s = portable_ddl;
    auto replace_all = [&](const std::string& from, const std::string& to) {
      for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
        s.replace(at, from.size(), to);
      }
    };
    replace_all(" BLOB", " BYTEA");
    replace_all("seq INTEGER PRIMARY KEY", "seq BIGINT PRIMARY KEY");
    return s;
  }
  [[nodiscard]] bool survives_fork() const override { return true; }
  bool backup_to(const std::string& /*path*/) override { return false; }
  void notify(const std::string& channel) override { exec("NOTIFY " + identifier(channel)); }
  void listen(const std::string& channel) override {
    exec("LISTEN " + identifier(channel));
    channels_.push_back(channel);
  }
  [[nodiscard]] int wake_fd() const override { return PQstatus(conn_) == CONNECTION_OK ? PQsocket(conn_) : -1; }
  bool take_wakeups() override {
    bool any = false;
    if (PQstatus(conn_) != CONNECTION_OK || PQconsumeInput(conn_) == 0) {
      // Lost: reconnect and listen again. Whatever was notified meanwhile is
      // missed, so report a wake-up: the caller looks at the database.
      usable();
      for (const auto& c : channels_) checked(PQexec(conn_, ("LISTEN " + identifier(c)).c_str()));
      return true;
    }
    while (PGnotify* n = PQnotifies(conn_)) {
      PQfreemem(n);
      any = true;
    }
    return any;
  }

  // The server-side prepared statement for `text` with parameters of
  // `types`, prepared on first use (the server parses and plans it once per
  // connection, not once per execution); nullptr past kMaxPrepared distinct
  // statements (then the caller sends the text each time).
  const std::string* prepared(const std::string& text, const std::vector<Oid>& types) {
    std::string key = text;
    for (Oid t : types) key += "\x1f" + std::to_string(t);
    if (auto it = prepared_.find(key); it != prepared_.end()) return &it->second;
    if (prepared_.size() >= kMaxPrepared) return nullptr;
    std::string name = "bastion_" + std::to_string(prepared_.size() + 1);
    checked(PQprepare(usable(), name.c_str(), text.c_str(), static_cast<int>(types.size()), types.data()));
    return &prepared_.emplace(std::move(key), std::move(name)).first->second;
  }

  // The connection, re-established first if it was lost outside a
  // transaction (inside one, the transaction is gone: the caller rolls back).
  PGconn* usable() {
    if (PQstatus(conn_) == CONNECTION_OK) return conn_;
    if (open_) throw DatabaseError("the connection to PostgreSQL was lost inside a transaction", false);
    prepared_.clear();  // a new session on the server has none of them
    PQreset(conn_);
    if (PQstatus(conn_) != CONNECTION_OK) {
      throw DatabaseError("PostgreSQL is unreachable: " + first_line(PQerrorMessage(conn_)), false);
    }
    return conn_;
  }
  // Takes `r`, throwing its error.
  void checked(PGresult* r) const {
    ResultPtr owned(r, &PQclear);
    ok_or_throw(owned.get());
  }
  void ok_or_throw(const PGresult* r) const {
    ExecStatusType st = r == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return;
    if (r == nullptr) throw DatabaseError(first_line(PQerrorMessage(conn_)), false);
    throw DatabaseError(first_line(PQresultErrorMessage(r)), busy_state(PQresultErrorField(r, PG_DIAG_SQLSTATE)));
  }

 private:
  // A channel name as a quoted identifier.
  static std::string identifier(const std::string& name) {
    std::string out = "\"";
    for (char ch : name) {
      if (ch == '"') out += '"';
      out += ch;
    }
    return out + "\"";
  }

  static constexpr size_t kMaxPrepared = 512;

  PGconn* conn_;
  std::map<std::string, std::string> prepared_;  // prepared(): statement (and parameter types) to its name
  bool open_ = false;                            // a transaction begun here and not yet ended
  std::vector<std::string> channels_;            // listened to (again after a reconnect)
};

void PostgresCursor::execute() {
  std::vector<const char*> values(values_.size());
  std::vector<int> lengths(values_.size());
  for (size_t k = 0; k < values_.size(); ++k) {
    values[k] = values_[k] ? values_[k]->data() : nullptr;
    lengths[k] = values_[k] ? static_cast<int>(values_[k]->size()) : 0;
  }
  PGconn* c = conn_.usable();
  const std::string* name = conn_.prepared(sql_.text, types_);
  const int n = static_cast<int>(values.size());
  ResultPtr r(name != nullptr ? PQexecPrepared(c, name->c_str(), n, values.data(), lengths.data(), formats_.data(), 0)
                              : PQexecParams(c, sql_.text.c_str(), n, types_.data(), values.data(), lengths.data(),
                                             formats_.data(), 0),
              &PQclear);
  conn_.ok_or_throw(r.get());
  result_ = std::move(r);
}

void ignore_notice(void* /*arg*/, const char* /*message*/) {}

}  // namespace

namespace engine {
bool is_postgres(const std::string& location) {
  return location.starts_with("postgresql://") || location.starts_with("postgres://");
}
}  // namespace engine

std::unique_ptr<Database::Connection> open_postgres(const std::string& url, Database::Mode mode, int busy_timeout_ms) {
  // A server that does not answer must not hold a login (or the monitor)
  // for ever: 5 s unless the URL says otherwise (it overrides this default).
  const char* keys[] = {"connect_timeout", "dbname", nullptr};
  const char* values[] = {"5", url.c_str(), nullptr};
  PGconn* raw = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (raw == nullptr) throw DatabaseError("out of memory", false);
  auto c = std::make_unique<PostgresConnection>(raw);
  if (PQstatus(raw) != CONNECTION_OK) throw DatabaseError(first_line(PQerrorMessage(raw)), false);
  PQsetNoticeProcessor(raw, ignore_notice, nullptr);
  std::string setup =
      "SET client_encoding = 'UTF8'; SET lock_timeout = " + std::to_string(std::max(1, busy_timeout_ms)) + ";";
  if (mode == Database::Mode::kReadOnly) setup += " SET default_transaction_read_only = on;";
  c->exec(setup);
  return c;
}

}  // namespace bastion
