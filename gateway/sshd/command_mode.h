// Command mode: what a person gets with `ssh NAME@gateway` (no '@' in the
// user name): commands about themselves (whoami, targets, confirm-key), and
// the elevation workflow (request, requests, approve, deny, revoke, grants). No libssh here, so it
// is testable on its own.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "gateway/app/elevation_service.h"
#include "policy/model.h"
#include "policy/repository.h"

namespace bastion::gateway {

struct CommandContext {
  const policy::Person* person = nullptr;
  policy::PolicyRepository* repo = nullptr;
  ElevationService* elevation = nullptr;
  const Clock* clock = nullptr;
  std::string key_fingerprint;
  std::string source;
  std::string gateway_host;  // for the example ssh commands we print
  std::string session_id;    // the command-mode session (links audit records)
  // Called after an elevation changed, so live sessions can be re-checked.
  std::function<void()> on_elevation_change;
  // Makes sure the person passed a WebAuthn step-up shown for `purpose`
  // (this approval), verified within the last kApproverStepUpMaxAge and not
  // used before (may show a URL and wait for it). Unset: refused.
  std::function<Status(const std::string& purpose)> require_step_up;
  // Confirms the person's own pending security key (WebAuthn credential)
  // with the code its registration page showed; returns what to tell them.
  // Audits every attempt. Unset: refused.
  std::function<Result<std::string>(const std::string& code)> confirm_key;
};

// SECURITY: approving an elevation needs the approver's own step-up for it, this recent.
constexpr Micros kApproverStepUpMaxAge = 5 * 60 * kMicrosPerSecond;

struct CommandResult {
  std::string output;  // lines end with "\n"
  int exit_code = 0;   // 0 ok, 1 refused/failed, 2 usage
  bool quit = false;
};

CommandResult run_command(const std::string& line, CommandContext& ctx);

// Splits a command line into words: whitespace separates, '...' and "..."
// quote, backslash escapes the next character. Fails on an open quote.
Result<std::vector<std::string>> split_words(const std::string& line);

}  // namespace bastion::gateway
