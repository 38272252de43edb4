// The policy domain: people, roles, targets. Plain values; no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace bastion::policy {

enum class PersonState { kActive, kDisabled, kLeft, kPending };

std::string to_string(PersonState s);
bool parse_person_state(const std::string& text, PersonState& out);

struct Person {
  std::string name;
  PersonState state = PersonState::kPending;
  std::string email;
  std::string employee_id;
  bool service_account = false;  // may use plain (non-FIDO) keys
  std::string department;        // from HR
  std::vector<std::string> roles;
  std::vector<std::string> hr_roles;  // the subset of `roles` given by HR department rules
  Micros created_at = 0;
  Micros left_at = 0;  // when HR said the person left (0: not left by HR)
};

// When a person must have passed a WebAuthn step-up (a server-verified touch
// and PIN on their security key) to use a role: never, once in every session,
// or within the last max_age. Default: 12 h for standing roles.
struct StepUpRule {
  enum class Kind { kNone, kPerSession, kMaxAge };
  Kind kind = Kind::kMaxAge;
  Micros max_age = 12 * 3600 * kMicrosPerSecond;
  bool operator==(const StepUpRule&) const = default;
};
// "none", "per-session" or a duration ("12h", "30m").
Result<StepUpRule> parse_step_up(std::string_view text);
std::string to_string(const StepUpRule& r);
// The stricter of two rules (per-session > shorter max_age > longer > none).
StepUpRule stricter(const StepUpRule& a, const StepUpRule& b);
// Whether a step-up passed at `last` (if ever) satisfies `rule` now. A
// per-session rule is satisfied only by a step-up of this connection, which
// the caller passes as `this_session`.
bool step_up_satisfied(const StepUpRule& rule, std::optional<Micros> last, bool this_session, Micros now);

struct Role {
  std::string name;
  std::string target_selector;      // glob on target names, or label=value
  std::vector<std::string> logins;  // accounts on the target this role may use
  bool allow_port_forwarding = false;
  // Elevated: holding the role makes a person eligible to *request* these
  // logins on these targets; access needs an active grant (policy/elevation.h).
  bool elevated = false;
  Micros max_duration = 0;     // elevated: longest grant under this role (0: the policy maximum)
  int internal_approvals = 0;  // elevated: approvals needed from holders of approver_role (four eyes)
  std::string approver_role;   // elevated: the role whose holders give internal approvals
  StepUpRule step_up;          // standing roles: how fresh a step-up must be (grants: per session)
  // What holding the role gives in the web console (policy/console_access.h):
  // "" (nothing beyond everyone's), "auditor" (all recordings, the audit
  // log) or "admin" (everyone's live sessions). A console-only role has no
  // targets and no logins: it opens nothing over SSH.
  std::string console;
  Micros created_at = 0;
};
// "", "auditor" or "admin".
bool is_console_role(const std::string& text);

struct Target {
  std::string name;
  std::string host;
  uint16_t port = 22;
  std::string host_key;  // pinned OpenSSH public-key line
  std::map<std::string, std::string> labels;
  std::string customer;  // owning customer, or empty; selectable as customer=NAME
  // "strict" (default): a session that cannot be recorded does not run.
  // "best-effort": it runs, and the failure is audited.
  // "off": sessions are not recorded (every session start says so in the audit log).
  std::string recording = "strict";
  // The principal in the gateway's certificates for this target: "login"
  // (default: the account name) or "login@target" (e.g. "root@prod-db-1"),
  // which the target's sshd must list in its AuthorizedPrincipalsFile, so a
  // certificate for one target does not open another that trusts the same CA.
  std::string principals = "login";
  Micros created_at = 0;
};
// The certificate principal for `login` on `t`.
std::string certificate_principal(const Target& t, const std::string& login);

// Names of people, roles, targets and logins: 1-64 chars of [A-Za-z0-9._-],
// not starting with '-' or '.'.
bool is_valid_name(const std::string& name);

}  // namespace bastion::policy
