// Command mode: what a person gets with `ssh NAME@gateway` (no '@' in the
// user name): a few read-only commands about themselves. No libssh here, so
// it is testable on its own.
#pragma once

#include <string>

#include "policy/model.h"
#include "policy/repository.h"

namespace bastion::gateway {

struct CommandContext {
  const policy::Person* person = nullptr;
  policy::PolicyRepository* repo = nullptr;
  std::string key_fingerprint;
  std::string source;
  std::string gateway_host;  // for the example ssh commands we print
};

struct CommandResult {
  std::string output;  // lines end with "\n"
  int exit_code = 0;
  bool quit = false;
};

CommandResult run_command(const std::string& line, CommandContext& ctx);

}  // namespace bastion::gateway
