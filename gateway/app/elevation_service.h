// ElevationService: the steps of an elevation (request, consent, grant,
// revocation, break-glass, expiry) with their audit records. Command mode and
// bastionctl both go through it, so the rules and the audit trail are the
// same whoever acts. No libssh here.
//
// Contract: every call either changes the store and appends an audit record
// with outcome allow/info, or changes nothing and appends an audit record
// with outcome deny and the reason (which is also the returned error). Audit
// records carry request_id and grant_id in their details, and the target and
// login fields, so request -> consent -> grant -> sessions -> end is one
// search away.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "policy/elevation.h"
#include "policy/repository.h"
#include "recorder/audit_log.h"

namespace bastion::gateway {

// Who acts: a person (command mode) or an administrator (bastionctl).
struct Actor {
  std::string name;  // person name, or "admin:<login>"
  bool admin = false;
  std::string session_id;  // the actor's gateway session, if any
  std::string source;      // "ip:port", if any
};

class ElevationService {
 public:
  ElevationService(policy::PolicyRepository& repo, recorder::AuditLog& audit, const Config& cfg, const Clock& clock)
      : repo_(repo), audit_(audit), limits_{cfg.request_ttl, cfg.max_grant, cfg.break_glass_max}, clock_(clock) {}

  // `destination` is LOGIN@TARGET.
  Result<policy::Elevation> request(const Actor& requester, const std::string& destination, Micros duration,
                                    const std::string& reason);
  // `duration` (optional) shortens the grant.
  // `confirm` (if set) runs once the approver is known to be allowed to
  // approve, before anything is recorded; its error refuses the approval.
  Result<policy::Elevation> approve(const Actor& approver, const std::string& id, std::optional<Micros> duration,
                                    const std::function<Status()>& confirm = nullptr);
  Result<policy::Elevation> deny(const Actor& approver, const std::string& id, const std::string& reason);
  Result<policy::Elevation> revoke(const Actor& actor, const std::string& id, const std::string& reason);
  Result<policy::Elevation> break_glass(const Actor& admin, const std::string& user, const std::string& destination,
                                        Micros duration, const std::string& reason);
  // Stores the expiry of pending requests and grants whose time has passed
  // (one audit record each); returns them.
  Result<std::vector<policy::Elevation>> expire_due();

  // `approver` no longer has access (left, disabled), or (with
  // `only_customer`) is no longer that customer's approver: their consent no
  // longer stands. Revokes (audited, actor "system", with `why`) every
  // pending request they approved and every grant they approved that `used`
  // says no session has run under yet; returns those revoked. Grants already
  // in use stay (their sessions run under consent that was valid when
  // given). With `only_customer`, only that customer's consents count.
  Result<std::vector<policy::Elevation>> withdraw_consents(const std::string& approver,
                                                           const std::function<bool(const policy::Elevation&)>& used,
                                                           const std::string& why,
                                                           const std::string& only_customer = "");

  // Pending requests `person` may decide on (as customer approver or as an
  // internal approver), oldest first.
  Result<std::vector<policy::Elevation>> awaiting(const std::string& person);

  [[nodiscard]] const policy::ElevationLimits& limits() const { return limits_; }

 private:
  Result<policy::Elevation> find(const std::string& id);
  Status audit(const Actor& actor, const std::string& action, recorder::Outcome outcome, const std::string& reason,
               const std::string& target, const std::string& login, nlohmann::json details);
  template <class T>
  Result<T> refuse(const Actor& actor, const std::string& action, const std::string& reason, const std::string& target,
                   const std::string& login, nlohmann::json details);

  // Runs `change` (repository changes and their audit records) as one
  // transaction: a crash or a failed audit write leaves neither.
  Status atomically(const std::function<Status()>& change);
  policy::PolicyRepository& repo_;
  recorder::AuditLog& audit_;
  policy::ElevationLimits limits_;
  const Clock& clock_;
};

// JSON for listings and audit details: id, grant_id, user, target, login,
// state (with time applied), reason, starts_at, ends_at, approved_by, ...
nlohmann::json elevation_json(const policy::Elevation& e, Micros now);

// Splits LOGIN@TARGET; false if it is not that shape.
bool split_destination(const std::string& text, std::string& login, std::string& target);

}  // namespace bastion::gateway
