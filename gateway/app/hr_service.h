// HrService: applies HR files (joiner, mover, leaver, snapshot) with their
// audit records, the circuit breaker, scheduled (future-dated) events and the
// spool directories. bastiond's supervisor feeds it files from the spool;
// `bastionctl hr apply` feeds it one file directly. No libssh here.
//
// Contract:
// - Each event is applied in one transaction with its progress record and its
//   audit records (PolicyRepository::apply_hr_event), so it is applied exactly
//   once even if the process dies in the middle of a file; re-reading the file
//   skips what was done.
// - A bad line is rejected (line number and reason in the report and the audit
//   log); the valid lines of the same file are still applied.
// - A file that would make too many leavers is held (nothing applied) until an
//   administrator releases or discards it. The count includes its scheduled
//   (future-dated) leavers and the leavers other files made or scheduled
//   within `[hr] breaker_window`; scheduled leavers are checked again when due.
// - Only regular files of at most `[hr] max_file_size` are read (no links,
//   FIFOs or devices, which could block the reader); others are rejected.
// - After an event commits that ends or narrows someone's access, the
//   `on_change` callback runs (the supervisor ends or re-checks their sessions).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "policy/hr.h"
#include "policy/repository.h"
#include "recorder/audit_log.h"

namespace bastion::gateway {

struct HrLineOutcome {
  int line = 0;
  std::string event_id, type, employee_id, person;
  std::string outcome;  // applied | scheduled | superseded | rejected | duplicate | would-apply (dry run) ...
  std::string detail;
};

struct HrBatch {
  policy::HrBatchRecord record;
  std::string path;  // where the file is
  policy::HrFile parsed;
  std::vector<policy::HrEvent> events;  // to apply, in order (a snapshot's are derived)
  size_t next = 0;
  std::vector<HrLineOutcome> outcomes;
  bool held = false;
  std::string hold_reason;
  int leavers = 0, active = 0;
  Micros opened_at = 0;
  bool resumed = false;  // this batch was being applied when the process stopped
};

// What the circuit breaker counted: `leavers` this batch (or these due
// events) would make, `earlier` leavers made or scheduled by other files
// within the window, `active` people (including those `earlier` who have
// left since).
struct HrBreakerCount {
  int leavers = 0, earlier = 0, active = 0;
  policy::BreakerVerdict verdict;
};

// `user` lost or may have lost access; `message` is for their live sessions
// (empty: re-check them against policy); `left`: the person has left.
using HrAccessChange = std::function<void(const std::string& user, const std::string& message, bool left)>;

// FILE read (O_NOFOLLOW|O_NONBLOCK, regular files only, at most
// [hr] max_file_size) and parsed: the part of opening a batch that touches the
// file, so that it can run off the supervisor's event loop (HrSpoolWorker).
struct HrDroppedFile {
  std::string path;
  bool gone = false;  // nothing at PATH any more (a link counts as present: it is rejected)
  Status readable;    // why it is rejected unread: a FIFO, link, device, oversized file...
  std::string text;   // the contents (digested by open(): no OpenSSL off the main thread, see hr_spool_worker.h)
  policy::HrFile parsed;
};
HrDroppedFile read_hr_file(const std::string& path, size_t max_bytes);

class HrService {
 public:
  HrService(policy::PolicyRepository& repo, recorder::AuditLog& audit, const Config& cfg, const Clock& clock)
      : repo_(repo), audit_(audit), cfg_(cfg), clock_(clock) {}

  // Reads and parses FILE, registers the batch, and applies the circuit
  // breaker (a held batch is audited as an alert and stored as held).
  Result<HrBatch> open(const std::string& path);
  // The same for a file already read (and parsed) by read_hr_file.
  Result<HrBatch> open(const HrDroppedFile& file);
  // What each event would do now (nothing is stored).
  std::vector<HrLineOutcome> dry_run(const HrBatch& b);
  // Applies up to `budget` events (0: all that remain). Returns how many it handled.
  Result<size_t> apply(HrBatch& b, size_t budget, const HrAccessChange& on_change);
  [[nodiscard]] static bool finished(const HrBatch& b) { return b.next >= b.events.size(); }
  // Audits rejected lines and the summary, stores the batch as done, and returns the report.
  Result<nlohmann::json> finish(HrBatch& b);
  // Applies scheduled events whose time has come. The circuit breaker is
  // checked again for the leavers among them (per batch): a batch that now
  // trips it is held (alerted once) and its scheduled events wait until it is
  // released (they then apply) or discarded (they never apply).
  Result<size_t> apply_due(const HrAccessChange& on_change);
  // One event from a source other than a file (SCIM, gateway/app/scim_service.h),
  // applied as a file's line is and recorded under `batch_id`. Inside the
  // caller's transaction, its records commit or vanish with the caller's.
  HrLineOutcome apply_single(const policy::HrEvent& e, const std::string& batch_id, const HrAccessChange& on_change) {
    return apply_event(e, batch_id, false, on_change);
  }
  // A leaver from such a source, checked against the circuit breaker
  // first (counting the window's leavers of every source). Within the limits
  // it is applied as apply_single does. Beyond them, or while an earlier one
  // of `source` ("scim:okta") is held, it is stored as a scheduled event of a
  // held batch whose file is `source` (made, and alerted, by the first one):
  // nothing is revoked until `bastionctl hr release` (then they apply) or
  // `hr discard`. Its outcome is then "held", with the batch id as detail.
  HrLineOutcome apply_single_leaver(const policy::HrEvent& e, const std::string& batch_id, const std::string& source,
                                    const HrAccessChange& on_change);
  // Held batches: release (apply despite the breaker) or discard.
  Status set_held_state(const std::string& batch_id, bool release, const std::string& actor);

 private:
  // `resumed`: events this batch recorded before are "done before a restart", not duplicates.
  HrLineOutcome apply_event(const policy::HrEvent& e, const std::string& batch_id, bool resumed,
                            const HrAccessChange& on_change);
  Status audit_changes(const policy::HrEvent& e, const policy::HrPlan& plan, const std::string& batch_id,
                       const policy::HrChanges& ch);
  // Counts `leavers` plus the window's leavers, skipping window events `skip` says are these ones.
  Result<HrBreakerCount> breaker_count(const std::set<std::string>& leavers, const std::vector<policy::Person>& people,
                                       const std::function<bool(const policy::StoredHrEvent&)>& skip);
  // The batches whose due events must wait (held now or before, or discarded).
  Result<std::set<std::string>> batches_held_when_due(const std::vector<policy::StoredHrEvent>& due);
  Status hold_when_due(policy::HrBatchRecord& rec, const HrBreakerCount& c);
  recorder::AuditEvent event(const std::string& action, recorder::Outcome outcome, const std::string& reason,
                             nlohmann::json details);

  policy::PolicyRepository& repo_;
  recorder::AuditLog& audit_;
  const Config& cfg_;
  const Clock& clock_;
};

// The spool: STATE/hr/{incoming,processed,rejected,held}.
struct HrSpool {
  std::string root;
  [[nodiscard]] std::string incoming() const { return root + "/incoming"; }
  [[nodiscard]] std::string processed() const { return root + "/processed"; }
  [[nodiscard]] std::string rejected() const { return root + "/rejected"; }
  [[nodiscard]] std::string held() const { return root + "/held"; }
  Status ensure() const;
  // Entries waiting in incoming/ (not dot-files, *.tmp or directories), oldest
  // first. FIFOs, links and the like are listed too, so that they are
  // rejected (HrService::open refuses them) rather than left lying there.
  [[nodiscard]] std::vector<std::string> waiting() const;
  // Moves FILE into DIR (renaming on a clash) and writes REPORT beside it as
  // NAME.report.json. Returns the new path.
  Result<std::string> file_away(const std::string& path, const std::string& dir, const nlohmann::json& report) const;
};

nlohmann::json hr_report_json(const HrBatch& b);

}  // namespace bastion::gateway
