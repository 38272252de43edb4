// bastionctl: the administrator's command line. Each command group registers
// its subcommands on the CLI11 app; the main stays thin.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "gateway/app/services.h"

namespace bastion::gateway {

// Exit codes: 0 ok, 1 denied/failed, 2 usage.
constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

// What bastionctl needs from modules this library may not link (libssh lives
// in gateway/sshd/ only): bastionctl's main supplies it.
struct CtlTools {
  // `init`: writes an SSH host key at path (0600) and path.pub; refuses to overwrite.
  std::function<Status(const std::string& path)> generate_host_key;
};

struct CtlGlobals {
  std::string config_flag;
  int exit_code = kExitOk;
  CtlTools tools;
};

// Loads config and opens the stores, or prints the error and returns null.
std::unique_ptr<Services> ctl_open(CtlGlobals& g);
int ctl_fail(const std::string& message);  // prints "bastionctl: ..." to stderr, returns 1
std::string ctl_actor();                   // "admin:<login>" of the invoking OS user
void ctl_audit(Services& s, const std::string& action, const std::string& reason,
               nlohmann::json details, const std::string& target = "");
// The same, for an administrator's attempt that was refused.
void ctl_audit_denied(Services& s, const std::string& action, const std::string& reason, nlohmann::json details);
void print_json(const nlohmann::json& j);
// Parses a --since/--until value into `out` (unset if empty); on error sets
// the usage exit code, prints why, and returns false.
bool ctl_parse_time(CtlGlobals& g, const std::string& text, std::optional<Micros>& out);

// The shape of every `... list` command: open the stores, fetch the rows,
// print them as a JSON array (`to_json` per row) or as a table.
template <class Fetch, class ToJson, class Table>
void ctl_list(CtlGlobals& g, bool json, Fetch fetch, ToJson to_json, Table table) {
  auto s = ctl_open(g);
  if (!s) return;
  auto rows = fetch(*s);
  if (!rows) {
    g.exit_code = ctl_fail(rows.error().message);
    return;
  }
  if (!json) return table(*rows);
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& r : *rows) arr.push_back(to_json(r));
  print_json(arr);
}

void register_init_commands(CLI::App& app, CtlGlobals& g);
void register_people_commands(CLI::App& app, CtlGlobals& g);
void register_policy_commands(CLI::App& app, CtlGlobals& g);
void register_elevation_commands(CLI::App& app, CtlGlobals& g);  // customer, elevate, access
void register_hr_commands(CLI::App& app, CtlGlobals& g);
void register_access_review_commands(CLI::App& app, CtlGlobals& g);  // review report|sign-off
void register_session_commands(CLI::App& app, CtlGlobals& g);
void register_review_commands(CLI::App* sessions, CtlGlobals& g);
void register_recording_commands(CLI::App& app, CtlGlobals& g);  // show, replay, export, verify, search
nlohmann::json session_json(const recorder::SessionRecord& s);

int ctl_main(int argc, char** argv, CtlTools tools);

}  // namespace bastion::gateway
