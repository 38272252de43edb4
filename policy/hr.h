// The HR feed: joiner, mover, leaver. Parsing (untrusted input: total,
// bounded, one error per bad line) and the pure rules that turn one event
// plus what we know about the person into a plan. No I/O.
//
// File formats (one event per line / row):
//   JSON Lines  {"event_id":"hr-1","type":"leaver","employee_id":"E100","username":"alice",
//                "effective_at":"2026-11-22T17:00:00Z"}
//   CSV         a header row with the same field names, then rows; a field may be
//               quoted ("..."); multi-valued fields are separated by ';'.
// Fields: event_id, type (joiner|mover|leaver), employee_id: required;
// username (required for joiners; a cross-check otherwise), email, department,
// effective_at (UTC; absent = now). Unknown fields are ignored.
//
// A snapshot file (its name starts with "snapshot") lists every current
// employee: employee_id required, username/email/department optional; no
// event_id or type. Whoever has an employee id and is not in it is a leaver.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "policy/model.h"

namespace bastion::policy {

enum class HrType { kJoiner, kMover, kLeaver };
std::string to_string(HrType t);

struct HrEvent {
  std::string event_id;
  HrType type = HrType::kJoiner;
  std::string employee_id, username, email, department;
  std::optional<Micros> effective_at;
  int line = 0;  // 1-based line in its file (0: derived, e.g. from a snapshot)
  // SCIM: the roles the person's groups give ([scim.groups]); joined to the
  // department's. Unset: the department's alone (files; not stored with the event).
  std::optional<std::vector<std::string>> group_roles;
};

struct HrLineError {
  int line = 0;
  std::string reason;
};

struct HrFile {
  bool snapshot = false;
  std::vector<HrEvent> events;  // valid lines (snapshot: the employee rows)
  std::vector<HrLineError> errors;
  int lines = 0;  // data lines seen (not counting blank lines and the CSV header)
};

constexpr size_t kMaxHrLineBytes = 4096;

HrFile parse_hr_file(const std::string& file_name, std::string_view text);
// One JSON Lines record.
Result<HrEvent> parse_hr_json(std::string_view line, bool snapshot);
// One CSV record (RFC 4180 subset: commas, double-quoted fields with "" escapes).
Result<std::vector<std::string>> parse_csv_row(std::string_view line);

// The event as one JSON object (stored with scheduled events; shown in reports).
std::string hr_event_json(const HrEvent& e);

// What we know about an employee's past events.
struct HrHistory {
  bool any = false;
  Micros last_effective_at = 0;  // newest applied event's effective time
};

struct HrPlan {
  enum class Action {
    kCreate,     // joiner: new person, pending, with the department's roles
    kUpdate,     // mover (or joiner of a known employee): department, email, roles
    kLeave,      // leaver: state left; keys, grants, requests, approver rights revoked
    kRejoin,     // joiner after leaving: pending again (a new key must be enrolled)
    kSchedule,   // effective in the future: stored, applied when due
    kNothing,    // valid but changes nothing (e.g. already left); recorded as applied
    kSupersede,  // older than what was applied already; recorded, not applied
    kReject,     // contradicts what we know; recorded with the reason
  };
  Action action = Action::kReject;
  std::string person;                                // our user name
  std::string reason;                                // why (for kReject, kSupersede, kNothing) or what (otherwise)
  std::optional<std::vector<std::string>> hr_roles;  // set the person's HR-given roles to these
  std::string department, email;
};
std::string to_string(HrPlan::Action a);

using DepartmentRoles = std::map<std::string, std::vector<std::string>>;

// The plan for `e`, given the person with its employee id (if any), the
// person with its user name (if any), the employee's history and the
// department rules. `now` decides what is future-dated.
HrPlan plan_hr_event(const HrEvent& e, const std::optional<Person>& by_employee,
                     const std::optional<Person>& by_username, const HrHistory& history,
                     const DepartmentRoles& departments, Micros now);

// A snapshot's rows against the people we have: leaver events for everyone
// with an employee id (not yet left) who is missing, mover events for
// department changes, joiner events for new rows with a user name. Event ids
// are "<batch_id>/<type>/<employee_id>".
std::vector<HrEvent> snapshot_events(const std::vector<HrEvent>& rows, const std::vector<Person>& people,
                                     const std::string& batch_id);

// The mass-revocation circuit breaker: hold a batch that would make more
// than `share` of the `active` people leavers, unless it makes at most
// `floor` leavers.
struct BreakerVerdict {
  bool hold = false;
  std::string reason;
};
BreakerVerdict check_breaker(int leavers, int active, double share, int floor);

}  // namespace bastion::policy
