// Services: the per-process set of stores a gateway process works with.
//
// Contract: open() after fork() in each process (SQLite handles must not cross
// fork). Owns the database; the stores borrow it. Callers see the stores'
// interfaces only, never the database or its engine: what gateway/ does to
// the state goes through one of them.
#pragma once

#include <functional>
#include <memory>

#include "authn/console_store.h"
#include "authn/key_registry.h"
#include "authn/mfa_store.h"
#include "authn/user_ca.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/database.h"
#include "gateway/app/elevation_service.h"
#include "gateway/app/hr_service.h"
#include "gateway/app/notifications.h"
#include "notify/outbox.h"
#include "policy/revocation_feed.h"
#include "policy/scim_store.h"
#include "policy/sqlite_repository.h"
#include "recorder/audit_chain.h"
#include "recorder/audit_log.h"
#include "recorder/channel_recording.h"
#include "recorder/node_registry.h"
#include "recorder/retention.h"
#include "recorder/session_log.h"

namespace bastion::gateway {

// What `bastiond --check` says of the database: it can be opened, and how
// its schema version compares with this build's.
struct DatabaseCheck {
  std::string shown;  // the location, a URL's password masked
  int version = 0;    // the database's schema version
  int latest = 0;     // this build's; pending migrations run when bastiond starts
};

class Services {
 public:
  // Every store reads the time from `clock` (tests pass a ManualClock).
  static Result<std::unique_ptr<Services>> open(const Config& cfg, const Clock& clock = SystemClock::instance());
  // Opens the database read-only (nothing is migrated or written); an error
  // if it cannot be opened, has no schema, or is newer than this build.
  static Result<DatabaseCheck> check_database(const Config& cfg);

  const Config& config() const { return cfg_; }
  const Clock& clock() const { return clock_; }
  policy::PolicyRepository& policy() { return policy_; }
  authn::KeyRegistry& keys() { return keys_; }
  recorder::AuditLog& audit() { return audit_; }
  recorder::AuditChain& chain() { return chain_; }
  recorder::Retention& retention() { return retention_; }
  recorder::SessionLog& sessions() { return sessions_; }
  recorder::RecordingCatalog& recordings() { return recordings_; }
  ElevationService& elevation() { return elevation_; }
  HrService& hr() { return hr_; }
  authn::MfaStore& mfa() { return mfa_; }
  authn::ConsoleStore& console() { return console_; }
  policy::RevocationFeed& revocations() { return revocations_; }
  recorder::NodeRegistry& nodes() { return nodes_; }
  policy::ScimStore& scim() { return scim_; }
  notifications::Outbox& outbox() { return outbox_; }
  Notifier& notifier() { return notifier_; }

  // The monitor's group commit: one transaction across many requests.
  // begin_batch() takes the write lock; every store's writes meanwhile run
  // in savepoints; commit_batch() makes them durable together.
  // rollback_batch(): an error means the connection is unusable
  // (drop these Services and open new ones).
  Status begin_batch() { return db_.begin(); }
  Status commit_batch() { return db_.commit(); }
  Status rollback_batch() { return db_.rollback(); }
  // A consistent copy of the whole database into a new SQLite file
  // (Database::backup_to; kInvalid on PostgreSQL).
  Status backup_database(const std::string& path) { return db_.backup_to(path); }
  // Whether these Services may stay open across fork() (Database::survives_fork).
  [[nodiscard]] bool survives_fork() const { return db_.survives_fork(); }

 private:
  Services(const Config& cfg, Database db, const Clock& clock);

  Config cfg_;
  const Clock& clock_;
  Database db_;
  policy::SqlitePolicyRepository policy_;
  authn::KeyRegistry keys_;
  recorder::AuditLog audit_;
  recorder::AuditChain chain_;
  recorder::Retention retention_;
  recorder::SessionLog sessions_;
  recorder::RecordingCatalog recordings_;
  ElevationService elevation_;
  HrService hr_;
  authn::MfaStore mfa_;
  authn::ConsoleStore console_;
  policy::RevocationFeed revocations_;
  recorder::NodeRegistry nodes_;
  policy::ScimStore scim_;
  notifications::Outbox outbox_;
  Notifier notifier_;  // the audit log's observer (gateway/app/notifications.h)
};

// Whether any session has run under the grant `e` (an error counts as
// unused: consent is then withdrawn, failing closed).
std::function<bool(const policy::Elevation&)> grant_used(Services& s);

}  // namespace bastion::gateway
