// Services: the per-process set of stores a gateway process works with.
//
// Contract: open() after fork() in each process (SQLite handles must not cross
// fork). Owns the database; the repositories borrow it.
#pragma once

#include <functional>
#include <memory>

#include "authn/key_registry.h"
#include "authn/mfa_store.h"
#include "authn/user_ca.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/database.h"
#include "gateway/app/elevation_service.h"
#include "gateway/app/hr_service.h"
#include "policy/sqlite_repository.h"
#include "recorder/audit_log.h"
#include "recorder/session_log.h"

namespace bastion::gateway {

class Services {
 public:
  // Every store reads the time from `clock` (tests pass a ManualClock).
  static Result<std::unique_ptr<Services>> open(const Config& cfg, const Clock& clock = SystemClock::instance());

  const Config& config() const { return cfg_; }
  const Clock& clock() const { return clock_; }
  Database& db() { return db_; }
  policy::SqlitePolicyRepository& policy() { return policy_; }
  authn::KeyRegistry& keys() { return keys_; }
  recorder::AuditLog& audit() { return audit_; }
  recorder::SessionLog& sessions() { return sessions_; }
  ElevationService& elevation() { return elevation_; }
  HrService& hr() { return hr_; }
  authn::MfaStore& mfa() { return mfa_; }

 private:
  Services(const Config& cfg, Database db, const Clock& clock);

  Config cfg_;
  const Clock& clock_;
  Database db_;
  policy::SqlitePolicyRepository policy_;
  authn::KeyRegistry keys_;
  recorder::AuditLog audit_;
  recorder::SessionLog sessions_;
  ElevationService elevation_;
  HrService hr_;
  authn::MfaStore mfa_;
};

// Whether any session has run under the grant `e` (an error counts as
// unused: consent is then withdrawn, failing closed).
std::function<bool(const policy::Elevation&)> grant_used(Services& s);

}  // namespace bastion::gateway
