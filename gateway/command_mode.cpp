#include "gateway/command_mode.h"

#include <sstream>

#include "policy/decision.h"

namespace bastion::gateway {
namespace {

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

CommandResult help() {
  return {"commands:\n"
          "  targets   the targets you can reach now, with the logins you may use\n"
          "  whoami    who the gateway thinks you are, and how you logged in\n"
          "  help      this text\n"
          "  exit      leave (interactive mode)\n"
          "to connect: ssh LOGIN@TARGET@<gateway>\n",
          0, false};
}

CommandResult whoami(CommandContext& ctx) {
  const auto& p = *ctx.person;
  std::ostringstream os;
  os << "person:  " << p.name << "\n"
     << "state:   " << policy::to_string(p.state) << "\n"
     << "roles:   " << (p.roles.empty() ? "(none)" : join(p.roles, ", ")) << "\n"
     << "key:     " << ctx.key_fingerprint << "\n"
     << "from:    " << ctx.source << "\n";
  return {os.str(), 0, false};
}

CommandResult targets(CommandContext& ctx) {
  auto roles = ctx.repo->roles_of(*ctx.person);
  auto all = ctx.repo->list_targets();
  if (!roles || !all) return {"error: cannot read policy right now\n", 1, false};
  std::ostringstream os;
  int n = 0;
  for (const auto& t : *all) {
    auto logins = policy::logins_for(*roles, t);
    if (logins.empty()) continue;
    os << t.name << "  logins: " << join(logins, ",") << "  e.g. ssh " << logins.front() << "@"
       << t.name << "@" << ctx.gateway_host << "\n";
    ++n;
  }
  if (n == 0) os << "no targets: you hold no role that selects a target\n";
  return {os.str(), 0, false};
}

}  // namespace

CommandResult run_command(const std::string& raw, CommandContext& ctx) {
  std::istringstream in(raw);
  std::string cmd, extra;
  in >> cmd;
  in >> extra;
  if (cmd.empty()) return {"", 0, false};
  bool known = cmd == "help" || cmd == "whoami" || cmd == "targets" || cmd == "exit" || cmd == "quit" ||
               cmd == "logout";
  if (known && !extra.empty()) return {"error: " + cmd + " takes no arguments (try `help`)\n", 2, false};
  if (cmd == "help") return help();
  if (cmd == "whoami") return whoami(ctx);
  if (cmd == "targets") return targets(ctx);
  if (cmd == "exit" || cmd == "quit" || cmd == "logout") return {"", 0, true};
  std::string shown = cmd.size() > 64 ? cmd.substr(0, 64) + "..." : cmd;
  for (auto& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return {"error: unknown command '" + shown + "' (try `help`)\n", 2, false};
}

}  // namespace bastion::gateway
