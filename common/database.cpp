#include "common/database.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <vector>

#include "common/database_engine.h"
#include "common/database_sql.h"

namespace bastion {
namespace {

// One step of the schema. `portable` is SQL both engines run: times are
// BIGINT microseconds; the only words each engine spells its own way (BLOB,
// the audit log's INTEGER PRIMARY KEY) are rewritten by Connection::dialect.
// What one engine does its own way (a full-text index) follows, as is.
struct Migration {
  Migration(const char* portable_sql)
      : portable(portable_sql) {}  // NOLINT(google-explicit-constructor): the list below
  Migration(const char* portable_sql, const char* sqlite_sql, const char* postgres_sql)
      : portable(portable_sql), sqlite(sqlite_sql), postgres(postgres_sql) {}
  const char* portable;
  const char* sqlite = "";
  const char* postgres = "";
};

// Each entry migrates version i to i+1.
const std::vector<Migration>& migrations() {
  static const std::vector<Migration> m = {
      R"sql(
CREATE TABLE users (
  name TEXT PRIMARY KEY,
  state TEXT NOT NULL CHECK (state IN ('active','disabled','left','pending')),
  email TEXT,
  employee_id TEXT UNIQUE,
  service_account INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
);
CREATE TABLE roles (
  name TEXT PRIMARY KEY,
  target_selector TEXT NOT NULL,
  logins TEXT NOT NULL,
  allow_port_forwarding INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
);
CREATE TABLE user_roles (
  user_name TEXT NOT NULL REFERENCES users(name),
  role_name TEXT NOT NULL REFERENCES roles(name),
  PRIMARY KEY (user_name, role_name)
);
CREATE TABLE ssh_keys (
  fingerprint TEXT PRIMARY KEY,
  user_name TEXT NOT NULL REFERENCES users(name),
  key_type TEXT NOT NULL,
  public_key TEXT NOT NULL,
  comment TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL CHECK (state IN ('active','revoked')),
  created_at BIGINT NOT NULL,
  revoked_at BIGINT
);
CREATE INDEX ssh_keys_user ON ssh_keys(user_name);
CREATE TABLE targets (
  name TEXT PRIMARY KEY,
  host TEXT NOT NULL,
  port INTEGER NOT NULL,
  host_key TEXT NOT NULL,
  recording TEXT NOT NULL DEFAULT 'strict' CHECK (recording IN ('strict','best-effort','off')),
  created_at BIGINT NOT NULL
);
CREATE TABLE target_labels (
  target_name TEXT NOT NULL REFERENCES targets(name),
  label TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (target_name, label)
);
CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  user_name TEXT NOT NULL,
  target TEXT NOT NULL,
  login TEXT NOT NULL,
  source TEXT NOT NULL,
  pid INTEGER NOT NULL,
  started_at BIGINT NOT NULL,
  ended_at BIGINT,
  bytes_in BIGINT NOT NULL DEFAULT 0,
  bytes_out BIGINT NOT NULL DEFAULT 0,
  exit_status INTEGER,
  end_reason TEXT
);
CREATE INDEX sessions_live ON sessions(ended_at);
CREATE TABLE audit_log (
  seq INTEGER PRIMARY KEY,
  ts BIGINT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL DEFAULT '',
  login TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL DEFAULT '',
  session_id TEXT NOT NULL DEFAULT '',
  outcome TEXT NOT NULL CHECK (outcome IN ('allow','deny','error','info')),
  reason TEXT NOT NULL DEFAULT '',
  details TEXT NOT NULL DEFAULT '{}',
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX audit_log_ts ON audit_log(ts);
CREATE INDEX audit_log_session ON audit_log(session_id);
CREATE TABLE audit_checkpoints (
  seq BIGINT PRIMARY KEY,
  hash TEXT NOT NULL,
  ts BIGINT NOT NULL,
  kind TEXT NOT NULL,
  signature TEXT NOT NULL
);
CREATE TABLE recordings (
  session_id TEXT NOT NULL,
  channel INTEGER NOT NULL,
  path TEXT NOT NULL,
  started_at BIGINT NOT NULL,
  ended_at BIGINT,
  size BIGINT,
  sha256 TEXT,
  PRIMARY KEY (session_id, channel)
);
)sql",
      // 2: customers, their approvers, elevated roles, elevation requests and grants.
      R"sql(
CREATE TABLE customers (
  name TEXT PRIMARY KEY,
  created_at BIGINT NOT NULL
);
CREATE TABLE customer_approvers (
  customer TEXT NOT NULL REFERENCES customers(name),
  user_name TEXT NOT NULL REFERENCES users(name),
  created_at BIGINT NOT NULL,
  PRIMARY KEY (customer, user_name)
);
ALTER TABLE targets ADD COLUMN customer TEXT REFERENCES customers(name);
ALTER TABLE roles ADD COLUMN elevated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE roles ADD COLUMN max_duration BIGINT NOT NULL DEFAULT 0;
ALTER TABLE roles ADD COLUMN internal_approvals INTEGER NOT NULL DEFAULT 0;
ALTER TABLE roles ADD COLUMN approver_role TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN grant_id TEXT NOT NULL DEFAULT '';
CREATE TABLE elevations (
  id TEXT PRIMARY KEY,
  grant_id TEXT UNIQUE,
  user_name TEXT NOT NULL REFERENCES users(name),
  target TEXT NOT NULL,
  login TEXT NOT NULL,
  role TEXT NOT NULL,
  customer TEXT NOT NULL,
  reason TEXT NOT NULL,
  duration BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending','approved','denied','expired','revoked')),
  break_glass INTEGER NOT NULL DEFAULT 0,
  decided_by TEXT NOT NULL DEFAULT '',
  decided_at BIGINT,
  decision_reason TEXT NOT NULL DEFAULT '',
  starts_at BIGINT,
  ends_at BIGINT,
  ended_by TEXT NOT NULL DEFAULT '',
  ended_at BIGINT,
  end_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX elevations_user ON elevations(user_name, state);
CREATE INDEX elevations_state ON elevations(state);
CREATE TABLE elevation_approvals (
  request_id TEXT NOT NULL REFERENCES elevations(id),
  approver TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('customer','internal')),
  duration BIGINT NOT NULL,
  at BIGINT NOT NULL,
  PRIMARY KEY (request_id, approver)
);
)sql",
      // 3: the HR feed: departments, where roles come from, events applied, batches.
      R"sql(
ALTER TABLE users ADD COLUMN department TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN left_at BIGINT;
ALTER TABLE user_roles ADD COLUMN source TEXT NOT NULL DEFAULT 'manual';
CREATE TABLE hr_batches (
  id TEXT PRIMARY KEY,
  file TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('applying','done','held','released','discarded')),
  received_at BIGINT NOT NULL,
  finished_at BIGINT,
  summary TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE hr_events (
  event_id TEXT PRIMARY KEY,
  batch_id TEXT NOT NULL,
  line INTEGER NOT NULL,
  type TEXT NOT NULL,
  employee_id TEXT NOT NULL,
  effective_at BIGINT NOT NULL,
  arrival BIGINT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('applied','scheduled','superseded','rejected')),
  reason TEXT NOT NULL DEFAULT '',
  payload TEXT NOT NULL,
  applied_at BIGINT
);
CREATE INDEX hr_events_employee ON hr_events(employee_id);
CREATE INDEX hr_events_state ON hr_events(state, effective_at);
)sql",
      // 4: FIDO: attested SSH keys, attestation trust, WebAuthn credentials,
      // invitations and step-ups.
      R"sql(
ALTER TABLE ssh_keys ADD COLUMN aaguid TEXT NOT NULL DEFAULT '';
ALTER TABLE ssh_keys ADD COLUMN attestation TEXT NOT NULL DEFAULT '';
ALTER TABLE roles ADD COLUMN step_up TEXT NOT NULL DEFAULT '12h';
CREATE TABLE fido_roots (
  sha256 TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('root','intermediate')),
  subject TEXT NOT NULL,
  pem TEXT NOT NULL,
  added_at BIGINT NOT NULL
);
CREATE TABLE fido_aaguids (
  aaguid TEXT PRIMARY KEY,
  name TEXT NOT NULL DEFAULT '',
  added_at BIGINT NOT NULL
);
CREATE TABLE key_challenges (
  challenge_sha256 TEXT PRIMARY KEY,
  challenge BLOB NOT NULL,
  user_name TEXT NOT NULL REFERENCES users(name),
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at BIGINT
);
CREATE TABLE webauthn_credentials (
  id TEXT PRIMARY KEY,
  user_name TEXT NOT NULL REFERENCES users(name),
  cose_alg INTEGER NOT NULL,
  public_key BLOB NOT NULL,
  sign_count BIGINT NOT NULL DEFAULT 0,
  aaguid TEXT NOT NULL DEFAULT '',
  attestation TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL CHECK (state IN ('active','locked','revoked')),
  state_reason TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  last_used_at BIGINT
);
CREATE INDEX webauthn_credentials_user ON webauthn_credentials(user_name);
CREATE TABLE invites (
  token_sha256 TEXT PRIMARY KEY,
  user_name TEXT NOT NULL REFERENCES users(name),
  created_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  challenge BLOB,
  used_at BIGINT
);
CREATE TABLE step_ups (
  code_sha256 TEXT PRIMARY KEY,
  user_name TEXT NOT NULL,
  session_id TEXT NOT NULL,
  purpose TEXT NOT NULL,
  challenge BLOB NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending','verified','failed')),
  reason TEXT NOT NULL DEFAULT '',
  credential_id TEXT NOT NULL DEFAULT '',
  verified_at BIGINT
);
CREATE INDEX step_ups_user ON step_ups(user_name, verified_at);
)sql",
      // 5: per-target certificate principals ("login" or "login@target").
      R"sql(
ALTER TABLE targets ADD COLUMN principals TEXT NOT NULL DEFAULT 'login';
)sql",
      // 6: a WebAuthn credential registered from an invitation is pending
      // (confirmed_at NULL) until the person's SSH key or an administrator
      // confirms it. Credentials registered before this were usable at once:
      // they stay so.
      R"sql(
ALTER TABLE webauthn_credentials ADD COLUMN confirmed_at BIGINT;
ALTER TABLE webauthn_credentials ADD COLUMN confirmed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE webauthn_credentials ADD COLUMN confirm_code_sha256 TEXT;
ALTER TABLE webauthn_credentials ADD COLUMN confirm_expires_at BIGINT;
UPDATE webauthn_credentials SET confirmed_at = created_at, confirmed_by = 'registered before confirmation existed';
)sql",
      // 7: several gateway nodes on one database: revocations every node acts
      // on (policy/revocation_feed.h), the node each session runs on, and the
      // nodes with their heartbeats (recorder/node_registry.h).
      R"sql(
CREATE TABLE revocations (
  seq BIGINT PRIMARY KEY,
  at BIGINT NOT NULL,
  node TEXT NOT NULL,
  kind TEXT NOT NULL,
  subject TEXT NOT NULL,
  message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX revocations_at ON revocations(at);
ALTER TABLE sessions ADD COLUMN node TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_node ON sessions(node, ended_at);
CREATE TABLE nodes (
  name TEXT PRIMARY KEY,
  listen TEXT NOT NULL,
  started_at BIGINT NOT NULL,
  heartbeat_at BIGINT NOT NULL,
  up INTEGER NOT NULL DEFAULT 1
);
)sql",
      // 8: work exactly one node does (recorder/node_registry.h): a spool
      // file being applied, the cluster's timers.
      R"sql(
CREATE TABLE claims (
  item TEXT PRIMARY KEY,
  node TEXT NOT NULL,
  claimed_at BIGINT NOT NULL
);
)sql",
      // 9: how far each stream syslog collector has the audit log, kept
      // where every node sees it, so the one node that delivers (the lead)
      // hands over to the next without a gap (recorder/syslog_forwarder.h).
      R"sql(
CREATE TABLE syslog_cursors (
  target TEXT PRIMARY KEY,
  seq BIGINT NOT NULL,
  node TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
)sql",
      // 10: a checkpoint that rotates the audit signing key names the next
      // key (base64 of its raw Ed25519 public key; '' on every other one).
      R"sql(
ALTER TABLE audit_checkpoints ADD COLUMN next_key TEXT NOT NULL DEFAULT '';
)sql",
      // 11: the web console (authn/console_store.h): signed-in sessions
      // (the cookie's SHA-256, never the cookie) and WebAuthn ceremonies in
      // progress (a sign-in, or one action bound to its challenge); indexes
      // for its pages' newest requests per person, customer and role.
      R"sql(
CREATE TABLE console_sessions (
  id TEXT PRIMARY KEY,
  user_name TEXT NOT NULL,
  credential_id TEXT NOT NULL,
  source TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  last_seen_at BIGINT NOT NULL,
  ended_at BIGINT,
  end_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX console_sessions_user ON console_sessions(user_name, ended_at);
CREATE TABLE console_ceremonies (
  id TEXT PRIMARY KEY,
  session_id TEXT NOT NULL DEFAULT '',
  user_name TEXT NOT NULL DEFAULT '',
  action TEXT NOT NULL,
  challenge BLOB NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at BIGINT
);
CREATE INDEX console_ceremonies_expiry ON console_ceremonies(expires_at);
CREATE INDEX elevations_user_created ON elevations(user_name, created_at);
CREATE INDEX elevations_customer_created ON elevations(customer, created_at);
CREATE INDEX elevations_role_created ON elevations(role, created_at);
)sql",
      // 12: what a role gives in the web console ("", "auditor", "admin");
      // indexes for the console's Recordings and Audit pages (the newest
      // sessions overall, per person and per target; the newest records of
      // an actor or of an action).
      R"sql(
ALTER TABLE roles ADD COLUMN console TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_started ON sessions(started_at);
CREATE INDEX sessions_user_started ON sessions(user_name, started_at);
CREATE INDEX sessions_target_started ON sessions(target, started_at);
CREATE INDEX audit_log_actor ON audit_log(actor, seq);
CREATE INDEX audit_log_action ON audit_log(action, seq);
)sql",
      // 13: the console's text search in the audit log's reasons and details
      // (a case-insensitive substring): an index of their trigrams. SQLite:
      // an FTS5 table over the log's own rows, kept by triggers (the log is
      // only appended to, and cut from the front by retention), which says
      // which records hold all of a text's trigrams, not where (detail=none:
      // about a quarter of the size, and faster appends, than with
      // positions; the search checks the text in each record it finds).
      // PostgreSQL: GIN indexes of pg_trgm, which ILIKE uses.
      {"",
       R"sql(
CREATE VIRTUAL TABLE audit_text USING fts5(reason, details, content='audit_log', content_rowid='seq', tokenize='trigram', detail=none);
INSERT INTO audit_text(audit_text) VALUES ('rebuild');
CREATE TRIGGER audit_text_insert AFTER INSERT ON audit_log BEGIN
  INSERT INTO audit_text(rowid, reason, details) VALUES (new.seq, new.reason, new.details);
END;
CREATE TRIGGER audit_text_delete AFTER DELETE ON audit_log BEGIN
  INSERT INTO audit_text(audit_text, rowid, reason, details) VALUES ('delete', old.seq, old.reason, old.details);
END;
CREATE TRIGGER audit_text_update AFTER UPDATE ON audit_log BEGIN
  INSERT INTO audit_text(audit_text, rowid, reason, details) VALUES ('delete', old.seq, old.reason, old.details);
  INSERT INTO audit_text(rowid, reason, details) VALUES (new.seq, new.reason, new.details);
END;
)sql",
       // pg_trgm is in PostgreSQL's own contrib (Debian's postgresql
       // package). Created here, it lands in bastion's schema; made earlier
       // by someone allowed to (CREATE EXTENSION pg_trgm), it may be in
       // another, which is why its operator class is named with its schema.
       R"sql(
CREATE EXTENSION IF NOT EXISTS pg_trgm;
DO $$
DECLARE
  trgm text;
BEGIN
  SELECT n.nspname INTO trgm FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
   WHERE e.extname = 'pg_trgm';
  EXECUTE format('CREATE INDEX audit_log_reason_text ON audit_log USING gin (reason %I.gin_trgm_ops)', trgm);
  EXECUTE format('CREATE INDEX audit_log_details_text ON audit_log USING gin (details %I.gin_trgm_ops)', trgm);
END
$$;
)sql"},
      // 14: the commands of plaintext terminal recordings, from their command
      // index at the recording's end, for the console's search by command
      // (recorder/recording_commands.h); indexed by trigrams as in 13.
      {R"sql(
CREATE TABLE recording_commands (
  session_id TEXT NOT NULL,
  channel INTEGER NOT NULL,
  offset_us BIGINT NOT NULL,
  command TEXT NOT NULL
);
CREATE INDEX recording_commands_session ON recording_commands(session_id, channel, offset_us);
)sql",
       R"sql(
CREATE VIRTUAL TABLE recording_commands_text USING fts5(command, content='recording_commands', tokenize='trigram', detail=none);
CREATE TRIGGER recording_commands_text_insert AFTER INSERT ON recording_commands BEGIN
  INSERT INTO recording_commands_text(rowid, command) VALUES (new.rowid, new.command);
END;
CREATE TRIGGER recording_commands_text_delete AFTER DELETE ON recording_commands BEGIN
  INSERT INTO recording_commands_text(recording_commands_text, rowid, command) VALUES ('delete', old.rowid, old.command);
END;
CREATE TRIGGER recording_commands_text_update AFTER UPDATE ON recording_commands BEGIN
  INSERT INTO recording_commands_text(recording_commands_text, rowid, command) VALUES ('delete', old.rowid, old.command);
  INSERT INTO recording_commands_text(rowid, command) VALUES (new.rowid, new.command);
END;
)sql",
       R"sql(
CREATE EXTENSION IF NOT EXISTS pg_trgm;
DO $$
DECLARE
  trgm text;
BEGIN
  SELECT n.nspname INTO trgm FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
   WHERE e.extname = 'pg_trgm';
  EXECUTE format('CREATE INDEX recording_commands_text ON recording_commands USING gin (command %I.gin_trgm_ops)', trgm);
END
$$;
)sql"},
      // 15: SCIM provisioning (policy/scim_store.h): the clients (a bearer
      // token's SHA-256 each) and the Users an identity provider manages.
      R"sql(
CREATE TABLE scim_clients (
  name TEXT PRIMARY KEY,
  token_sha256 TEXT NOT NULL UNIQUE,
  state TEXT NOT NULL CHECK (state IN ('active','revoked')),
  created_at BIGINT NOT NULL,
  created_by TEXT NOT NULL,
  revoked_at BIGINT,
  last_used_at BIGINT
);
CREATE TABLE scim_users (
  id TEXT PRIMARY KEY,
  person TEXT NOT NULL UNIQUE REFERENCES users(name),
  employee_id TEXT NOT NULL,
  user_name_key TEXT NOT NULL UNIQUE,
  external_id TEXT NOT NULL DEFAULT '',
  email_key TEXT NOT NULL DEFAULT '',
  client TEXT NOT NULL,
  resource TEXT NOT NULL,
  version BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX scim_users_external ON scim_users(external_id);
CREATE INDEX scim_users_email ON scim_users(email_key);
CREATE INDEX scim_users_order ON scim_users(created_at, id);
CREATE TABLE scim_groups (
  id TEXT PRIMARY KEY,
  display_key TEXT NOT NULL UNIQUE,
  external_id TEXT NOT NULL DEFAULT '',
  client TEXT NOT NULL,
  resource TEXT NOT NULL,
  version BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX scim_groups_external ON scim_groups(external_id);
CREATE INDEX scim_groups_order ON scim_groups(created_at, id);
CREATE TABLE scim_group_members (
  group_id TEXT NOT NULL REFERENCES scim_groups(id),
  user_id TEXT NOT NULL REFERENCES scim_users(id),
  PRIMARY KEY (group_id, user_id)
);
CREATE INDEX scim_group_members_user ON scim_group_members(user_id);
)sql",
      // 16: notifications (notify/outbox.h): the outbox, written in the
      // transaction of the audit record that causes each (seq), and the
      // marks of once-only warnings (a grant ending soon).
      R"sql(
CREATE TABLE notifications (
  seq BIGINT NOT NULL,
  n INTEGER NOT NULL,
  idem_key TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  channel TEXT NOT NULL,
  recipients TEXT NOT NULL,
  thread TEXT NOT NULL,
  subject TEXT NOT NULL,
  body TEXT NOT NULL,
  link TEXT NOT NULL,
  facts TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending','sent','failed')),
  attempts INTEGER NOT NULL,
  next_at BIGINT NOT NULL,
  last_error TEXT NOT NULL,
  sent_at BIGINT,
  PRIMARY KEY (seq, n)
);
CREATE INDEX notifications_state ON notifications(state, seq, n);
CREATE TABLE notify_marks (
  mark TEXT PRIMARY KEY,
  at BIGINT NOT NULL
);
)sql",
  };
  return m;
}

}  // namespace

// The engine's connection behind a Database, for this file's wrappers.
struct DatabaseAccess {
  static Database::Connection& of(Database& db) { return *db.connection_; }
};

namespace {
Database::Connection& engine_of(Database& db) { return DatabaseAccess::of(db); }

std::string shown(const std::string& location) { return Database::display_name(location); }
}  // namespace

bool Database::is_postgres(const std::string& location) { return engine::is_postgres(location); }

std::string Database::display_name(const std::string& location) {
  if (!engine::is_postgres(location)) return location;
  size_t scheme = location.find("://") + 3;
  size_t at = location.find('@', scheme);
  size_t colon = location.find(':', scheme);
  std::string out = location;
  if (at != std::string::npos && colon != std::string::npos && colon < at)
    out.replace(colon + 1, at - colon - 1, "***");
  if (auto pw = out.find("password="); pw != std::string::npos) {
    size_t end = out.find('&', pw);
    out.replace(pw + 9, (end == std::string::npos ? out.size() : end) - pw - 9, "***");
  }
  return out;
}

Database::Database(std::unique_ptr<Connection> c) : connection_(std::move(c)) {}
Database::Database(Database&&) noexcept = default;
Database& Database::operator=(Database&&) noexcept = default;
Database::~Database() = default;

struct Statement::Impl {
  std::unique_ptr<engine::Cursor> c;
};

Statement::Statement(Database& db, const std::string& text)
    : impl_(std::make_unique<Impl>(Impl{engine_of(db).prepare(text)})) {}
Statement::Statement(Statement&&) noexcept = default;
Statement::~Statement() = default;

void Statement::bind(int index, int64_t value) { impl_->c->bind_int64(index, value); }
void Statement::bind(int index, int value) { impl_->c->bind_int64(index, value); }
void Statement::bind(int index, const std::string& value) { impl_->c->bind_text(index, value); }
void Statement::bind(int index, const char* value) { impl_->c->bind_text(index, value); }
void Statement::bind(int index, const void* blob, int size) { impl_->c->bind_blob(index, blob, size); }
void Statement::bind(int index) { impl_->c->bind_null(index); }
int Statement::index_of(const char* name) { return impl_->c->index_of(name); }
bool Statement::step() { return impl_->c->step(); }
int Statement::run() { return impl_->c->run(); }
void Statement::reset() { impl_->c->reset(); }

std::string Column::text() const { return statement_.impl_->c->text(index_); }
int64_t Column::int64() const { return statement_.impl_->c->int64(index_); }
int Column::int32() const { return static_cast<int>(statement_.impl_->c->int64(index_)); }
bool Column::is_null() const { return statement_.impl_->c->is_null(index_); }

Transaction::Transaction(Database& db) : db_(db) {
  engine_of(db_).memo.clear();
  engine_of(db_).begin_write();
}
Transaction::~Transaction() {
  if (done_) return;
  engine_of(db_).memo.clear();
  try {
    engine_of(db_).rollback();
  } catch (const DatabaseError&) {  // NOLINT(bugprone-empty-catch): nothing more a destructor can do
  }
}
void Transaction::commit() {
  done_ = true;
  engine_of(db_).memo.clear();
  engine_of(db_).commit();
}

void exec(Database& db, const std::string& text) { engine_of(db).exec(text); }

void select_in(Database& db, const std::string& before, const std::vector<std::string>& values,
               const std::string& after, const std::function<void(Statement&)>& row) {
  constexpr size_t kSlice = 200;
  for (size_t at = 0; at < values.size(); at += kSlice) {
    const size_t n = std::min(kSlice, values.size() - at);
    std::string marks;
    for (size_t i = 0; i < n; ++i) marks += i == 0 ? "?" : ", ?";
    Statement q(db, before + "(" + marks + ")" + after);
    for (size_t i = 0; i < n; ++i) q.bind(static_cast<int>(i + 1), values[at + i]);
    while (q.step()) row(q);
  }
}

int64_t query_int64(Database& db, const std::string& text) {
  Statement q(db, text);
  if (!q.step()) throw DatabaseError("the query returned no row: " + text, false);
  return q.column(0).int64();
}

Status with_transaction(Database& db, const std::function<Status()>& fn) {
  try {
    if (db.in_transaction()) {
      exec(db, "SAVEPOINT nested");
      Status st;
      try {
        st = fn();
      } catch (...) {
        engine_of(db).memo.clear();
        exec(db, "ROLLBACK TO nested");
        exec(db, "RELEASE nested");
        throw;
      }
      if (!st) {
        engine_of(db).memo.clear();
        exec(db, "ROLLBACK TO nested");
      }
      exec(db, "RELEASE nested");
      return st;
    }
    Transaction tx(db);
    Status st = fn();
    if (!st) return st;
    tx.commit();
    return {};
  } catch (const DatabaseError& e) {
    return database_error("database: ", e);
  }
}

bool Database::in_transaction() const { return connection_->in_transaction(); }
bool Database::postgres() const { return connection_->postgres(); }
bool Database::survives_fork() const { return connection_->survives_fork(); }

Status Database::listen(const std::string& channel) {
  return guarded([&]() -> Status {
    connection_->listen(channel);
    return {};
  });
}

int Database::wake_fd() const { return connection_->wake_fd(); }

Status Database::backup_to(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return make_error(ErrorCode::kDuplicate, "refusing to overwrite " + path);
  return guarded([&]() -> Status {
    if (!connection_->backup_to(path)) {
      return make_error(ErrorCode::kInvalid,
                        "a PostgreSQL database is backed up with its own tools (pg_dump, or a base backup with "
                        "pg_basebackup), not by bastion");
    }
    return {};
  });
}

Result<bool> Database::take_wakeups() {
  return guarded([&]() -> Result<bool> { return connection_->take_wakeups(); });
}

void notify(Database& db, const std::string& channel) { engine_of(db).notify(channel); }

const std::string* transaction_memo(Database& db, const std::string& key) {
  auto& memo = engine_of(db).memo;
  auto it = memo.find(key);
  return it == memo.end() || !db.in_transaction() ? nullptr : &it->second;
}

void set_transaction_memo(Database& db, const std::string& key, std::string value) {
  if (db.in_transaction()) engine_of(db).memo[key] = std::move(value);
}

Status Database::begin() {
  connection_->memo.clear();
  return guarded([&]() -> Status {
    connection_->begin_write();
    return {};
  });
}

Status Database::commit() {
  connection_->memo.clear();
  return guarded([&]() -> Status {
    connection_->commit();
    return {};
  });
}

Status Database::rollback() {
  connection_->memo.clear();
  if (!in_transaction()) return {};
  return guarded([&]() -> Status {
    connection_->rollback();
    return {};
  });
}

Error database_error(const std::string& context, const DatabaseError& e) {
  return make_error(e.busy() ? ErrorCode::kBusy : ErrorCode::kUnspecified, context + e.what());
}

int Database::latest_schema_version() { return static_cast<int>(migrations().size()); }

Result<Database> Database::open(const std::string& location, Mode mode, int busy_timeout_ms) {
  bool postgres = engine::is_postgres(location);
  // Not found is said plainly; any other error (no permission to look: a
  // sandboxed process) is left to the open below to report.
  std::error_code missing;
  if (!postgres && mode != Mode::kCreate && !std::filesystem::exists(location, missing) && !missing) {
    return make_error(ErrorCode::kNotFound, "database " + location + " does not exist (run `bastionctl init` first)");
  }
  try {
    Database out(postgres ? open_postgres(location, mode, busy_timeout_ms)
                          : open_sqlite(location, mode, busy_timeout_ms));
    out.version_ = out.connection_->schema_version();
    if (out.version_ > latest_schema_version()) return out.newer_than_this_build();
    // A PostgreSQL database exists before bastion: an empty one is not a
    // deployment yet.
    if (postgres && mode != Mode::kCreate && out.version_ == 0) {
      return make_error(ErrorCode::kNotFound,
                        "database " + shown(location) + " has no bastion schema (run `bastionctl init` first)");
    }
    if (mode == Mode::kReadOnly) return out;
    if (auto st = out.migrate(); !st) return st.error();
    return out;
  } catch (const DatabaseError& e) {
    return database_error("database " + shown(location) + ": ", e);
  }
}

Error Database::newer_than_this_build() const {
  return make_error("database schema version " + std::to_string(version_) + " is newer than this bastion (" +
                    std::to_string(latest_schema_version()) + ")");
}

Status Database::migrate() {
  const auto& m = migrations();
  while (version_ < static_cast<int>(m.size())) {
    connection_->begin_write();
    try {
      // Re-read under the write lock: another process may have migrated meanwhile.
      int current = connection_->schema_version();
      if (current == version_) {
        const Migration& step = m[static_cast<size_t>(version_)];
        if (*step.portable != 0) connection_->exec(connection_->dialect(step.portable));
        const char* own = connection_->postgres() ? step.postgres : step.sqlite;
        if (*own != 0) connection_->exec(own);
        connection_->set_schema_version(version_ + 1);
      }
      connection_->commit();
    } catch (...) {
      try {
        connection_->rollback();
      } catch (const DatabaseError&) {  // NOLINT(bugprone-empty-catch): the first error is the one to report
      }
      throw;
    }
    version_ = connection_->schema_version();
    if (version_ > static_cast<int>(m.size())) return newer_than_this_build();
  }
  return {};
}

}  // namespace bastion
