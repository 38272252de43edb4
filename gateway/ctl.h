// bastionctl: the administrator's command line. Each command group registers
// its subcommands on the CLI11 app; the main stays thin.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "gateway/services.h"

namespace bastion::gateway {

// Exit codes: 0 ok, 1 denied/failed, 2 usage.
constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

struct CtlGlobals {
  std::string config_flag;
  int exit_code = kExitOk;
};

// Loads config and opens the stores, or prints the error and returns null.
std::unique_ptr<Services> ctl_open(CtlGlobals& g);
int ctl_fail(const std::string& message);  // prints "bastionctl: ..." to stderr, returns 1
std::string ctl_actor();                   // "admin:<login>" of the invoking OS user
void ctl_audit(Services& s, const std::string& action, const std::string& reason,
               nlohmann::json details, const std::string& target = "");
void print_json(const nlohmann::json& j);

void register_init_commands(CLI::App& app, CtlGlobals& g);
void register_people_commands(CLI::App& app, CtlGlobals& g);
void register_policy_commands(CLI::App& app, CtlGlobals& g);
void register_session_commands(CLI::App& app, CtlGlobals& g);

int ctl_main(int argc, char** argv);

}  // namespace bastion::gateway
