// bastionctl: the administrator's command line. Each command group registers
// its subcommands on the CLI11 app; each subcommand is its options, bound into
// one Args struct, and a named handler that ctl_command runs; the main stays
// thin.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

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
  // `ca rotate --promote`: whether `target` accepts, for `login`, a
  // certificate from the user CA key in `ca_key_file` (a test login, no session).
  std::function<Status(const policy::Target& target, const std::string& login, const std::string& ca_key_file)>
      probe_user_ca;
};

// What every command shares: the global options, the tools, and the exit
// code the runner (ctl_run) sets.
struct CtlGlobals {
  std::string config_flag;
  int exit_code = kExitOk;
  CtlTools tools;
};

// How a command ends. Every command is a handler that returns a Status; the
// runner turns it into the exit code and, on failure, one line
// "bastionctl: <message>" on stderr:
//   - OK: exit 0;
//   - an error from the handler: exit 1 (denied or failed), or 2 when its
//     code is ErrorCode::kInvalid (a usage error only the stores reveal);
//   - an error from the command's check (the command line itself is wrong,
//     found before any store is opened): exit 2 (usage);
//   - ctl_explained(): exit 1 with nothing more printed, because the handler
//     has already said why (a denied `access check`, a failed `verify`).
// Handlers print their results on stdout themselves; a failure after partial
// output keeps that output.
Status ctl_explained();

// Runs `check` (when set), then opens the config and the stores once and runs
// `handler` with them; sets g.exit_code as above. A config that cannot be
// found is a usage error (2), one that cannot be loaded or opened exit 1.
void ctl_run(CtlGlobals& g, const std::function<Status()>& check, const std::function<Status(Services&)>& handler);
// The same for the few commands that open no store (`init`, key generation).
void ctl_run_offline(CtlGlobals& g, const std::function<Status()>& handler);

// The one line that registers a command: when `cmd` is chosen, `check` (may be
// null) validates and parses the options CLI11 bound into *args, and
// `handler` runs with the stores. Both are named functions.
template <class Args>
void ctl_command(CLI::App* cmd, CtlGlobals& g, std::shared_ptr<Args> args, Status (*handler)(Services&, const Args&),
                 Status (*check)(Args&) = nullptr) {
  cmd->callback([&g, args, handler, check] {
    std::function<Status()> checked;
    if (check) checked = [&] { return check(*args); };
    ctl_run(g, checked, [&](Services& s) { return handler(s, *args); });
  });
}
// A command without options.
void ctl_command(CLI::App* cmd, CtlGlobals& g, Status (*handler)(Services&));
// A command that opens no store; it gets bastionctl's tools instead.
template <class Args>
void ctl_offline_command(CLI::App* cmd, CtlGlobals& g, std::shared_ptr<Args> args,
                         Status (*handler)(const CtlTools&, const Args&)) {
  cmd->callback([&g, args, handler] { ctl_run_offline(g, [&] { return handler(g.tools, *args); }); });
}

// The options of a command that has only --json.
struct JsonFlag {
  bool json = false;
};
// Adds --json ("machine-readable output") to `cmd`.
std::shared_ptr<JsonFlag> add_json_flag(CLI::App* cmd);

// Prints "bastionctl: warning: ..." to stderr; the command carries on.
void ctl_warn(const std::string& message);
std::string ctl_actor();  // "admin:<login>" of the invoking OS user
// SECURITY: root running bastionctl against a state directory that belongs to
// bastiond's user (`bastion` in a package install) would leave root-owned
// files behind (the SQLite journal, new keys and folders) that bastiond then
// cannot open. Root switches to the directory's owner instead, as
// `sudo -u bastion` would; audit records still name the invoking user
// (ctl_actor). Anyone else, or a root-owned directory: nothing changes.
Status ctl_run_as_state_owner(const Config& cfg);
void ctl_audit(Services& s, const std::string& action, const std::string& reason, nlohmann::json details,
               const std::string& target = "");
// The same, for an administrator's attempt that was refused.
void ctl_audit_denied(Services& s, const std::string& action, const std::string& reason, nlohmann::json details);
void print_json(const nlohmann::json& j);
// Prints `j` as JSON with --json, otherwise calls `text` to print it for people.
template <class Text>
void ctl_print(bool json, const nlohmann::json& j, Text text) {
  if (json) {
    print_json(j);
  } else {
    text();
  }
}
// Parses a --since/--until value into `out` (unset if empty), for a check.
Status ctl_parse_time(const std::string& text, std::optional<Micros>& out);

// The shape of every `... list` command: print the fetched rows as a JSON
// array (`to_json` per row) or as a table, or fail with the fetch's error.
template <class Row, class ToJson, class Table>
Status ctl_print_rows(const Result<std::vector<Row>>& rows, bool json, ToJson to_json, Table table) {
  if (!rows) return rows.error();
  if (!json) {
    table(*rows);
    return {};
  }
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& r : *rows) arr.push_back(to_json(r));
  print_json(arr);
  return {};
}

void register_init_commands(CLI::App& app, CtlGlobals& g);
void register_ca_commands(CLI::App& app, CtlGlobals& g);
void register_people_commands(CLI::App& app, CtlGlobals& g);
void register_policy_commands(CLI::App& app, CtlGlobals& g);
void register_elevation_commands(CLI::App& app, CtlGlobals& g);  // customer, elevate, access
void register_hr_commands(CLI::App& app, CtlGlobals& g);
void register_scim_commands(CLI::App& app, CtlGlobals& g);
void register_notify_commands(CLI::App& app, CtlGlobals& g);
void register_access_review_commands(CLI::App& app, CtlGlobals& g);  // review report|sign-off
void register_evidence_commands(CLI::App& app, CtlGlobals& g);       // evidence export
// The access review of [since, until): people, roles and their source, last
// logins, access unused for 90 days before `until`, grants used, leavers.
Result<nlohmann::json> access_review(Services& s, Micros since, Micros until);
void register_session_commands(CLI::App& app, CtlGlobals& g);
void register_review_commands(CLI::App* sessions, CtlGlobals& g);
void register_recording_commands(CLI::App& app, CtlGlobals& g);  // show, replay, export, verify, search
void register_migrate_commands(CLI::App& app, CtlGlobals& g);    // migrate --to postgresql://
void register_backup_commands(CLI::App& app, CtlGlobals& g);     // backup, restore
void register_drain_commands(CLI::App& app, CtlGlobals& g);      // drain [--deadline] [--cancel]
void register_web_commands(CLI::App& app, CtlGlobals& g);        // web sessions list|kill
nlohmann::json session_json(const recorder::SessionRecord& s);

int ctl_main(int argc, char** argv, CtlTools tools);

}  // namespace bastion::gateway
