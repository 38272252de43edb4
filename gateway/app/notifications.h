// Notifications: who is told what when an audited event happens, and how it
// is sent (DESIGN.md would list it next to the audit log).
//
// Notifier is the audit log's observer (Services installs it): for the
// events below it writes notifications into the outbox (notify/outbox.h)
// inside the transaction of the audit record, so a notification exists
// exactly when its event does. Kinds ([notify.routes]):
//   request        elevation.request        the customer's approvers
//   decided        elevation.deny           the requester, with the reason
//   grant_start    grant.start              the requester (an approval starts the grant)
//   grant_ending   grant.ending             the requester ([notify] ending_soon before the end)
//   grant_revoked  elevation.revoke         the requester, when someone else ended a grant
//   break_glass    elevation.break-glass    [notify] security
//   hr_held        hr.hold                  [notify] admins
//   audit_alert    audit.alert              [notify] security
// Every message links to the console page of its request (or names the
// command to run when there is no console: [web] public_url unset). None
// carries an action: deciding needs the approver's security key.
//
// deliver() sends one notification on its channel (NotificationWorker does
// it for the outbox; `bastionctl notify test` directly).
#pragma once

#include <map>
#include <string>

#include "common/clock.h"
#include "common/config.h"
#include "notify/outbox.h"
#include "policy/repository.h"
#include "recorder/audit_log.h"

namespace bastion::gateway {

class Notifier {
 public:
  Notifier(const Config& cfg, policy::PolicyRepository& repo, notifications::Outbox& outbox, const Clock& clock)
      : cfg_(cfg), repo_(repo), outbox_(outbox), clock_(clock) {}

  // The audit log's observer: inside the record's transaction.
  Status on_audit(int64_t seq, const std::string& hash, const recorder::AuditEvent& e);
  // Records grant.ending once per grant and [notify] ending_soon threshold
  // that has come (the smallest one due; the rest are skipped), when a
  // channel is configured. The lead runs it with the grant sweep; how many
  // were recorded.
  Result<int> warn_ending(recorder::AuditLog& audit);

 private:
  const Config& cfg_;
  policy::PolicyRepository& repo_;
  notifications::Outbox& outbox_;
  const Clock& clock_;
};

// What the channels need beyond the config: the SMTP password and the
// webhooks' keys, read from their files (bastiond at start, bastionctl).
struct NotifySecrets {
  std::string smtp_password;
  std::map<std::string, std::string> webhook_secrets;  // by webhook name
  // The CA certificates of [notify.email] ca_file and each webhook's
  // ca_file, read with the secrets ("" = the system's): the sandboxed
  // sender reads no files of the gateway.
  std::string smtp_ca_pem;
  std::map<std::string, std::string> webhook_ca_pems;
};
Result<NotifySecrets> load_notify_secrets(const Config& cfg);

// One send, self-contained: the channel's settings, its secret and CA
// certificates, and the message as it goes out. The trusted side builds it;
// a process that holds nothing else performs it (NotificationWorker runs
// `bastiond --deliver-notification` in the connection sandbox for each).
// An error here is final (kInvalid: nobody to send to, no such channel).
Result<nlohmann::json> delivery_job(const Config& cfg, const NotifySecrets& secrets,
                                    const notifications::Notification& n, Micros now);
// Performs a job (libcurl). `cancelled` (may be empty) aborts a send in progress.
Status perform_delivery(const nlohmann::json& job, const std::function<bool()>& cancelled = {});
// Both, in this process (bastionctl notify test, tests).
Status deliver(const Config& cfg, const NotifySecrets& secrets, const notifications::Notification& n, Micros now,
               const std::function<bool()>& cancelled = {});

}  // namespace bastion::gateway
