// bastionctl web sessions list|kill: the web console's signed-in sessions.
#include <iostream>

#include "gateway/ctl/ctl.h"

namespace bastion::gateway {
namespace {

nlohmann::json session_json(const authn::ConsoleSession& s) {
  nlohmann::json j = {{"id", s.short_id()},
                      {"user", s.user},
                      {"credential_id", s.credential_id},
                      {"source", s.source},
                      {"created_at", format_utc(s.created_at)},
                      {"last_seen_at", format_utc(s.last_seen_at)},
                      {"ended_at", s.ended_at ? format_utc(*s.ended_at) : ""},
                      {"end_reason", s.end_reason}};
  return j;
}

struct ListArgs {
  bool json = false;
  bool all = false;
};

Status list_sessions(Services& s, const ListArgs& a) {
  const Micros now = s.clock().now();
  const authn::ConsoleLimits limits;
  auto rows = s.console().sessions(a.all);
  return ctl_print_rows(rows, a.json, session_json, [&](const std::vector<authn::ConsoleSession>& list) {
    if (list.empty()) {
      std::cout << (a.all ? "no console sessions\n" : "no live console sessions\n");
      return;
    }
    std::printf("%-12s  %-16s  %-20s  %-20s  %s\n", "ID", "USER", "SIGNED IN", "LAST SEEN", "STATE");
    for (const auto& c : list) {
      std::string state = "live";
      if (c.ended_at) state = "ended: " + c.end_reason;
      else if (now - c.last_seen_at > limits.idle || now - c.created_at > limits.absolute) state = "expired";
      std::printf("%-12s  %-16s  %-20s  %-20s  %s\n", c.short_id().c_str(), c.user.c_str(),
                  format_utc_seconds(c.created_at).c_str(), format_utc_seconds(c.last_seen_at).c_str(), state.c_str());
    }
  });
}

struct KillArgs {
  std::string id;
  std::string user;
  std::string reason;
};

Status check_kill(KillArgs& a) {
  if (a.id.empty() == a.user.empty()) return make_error("give a session ID or --user NAME (one of them)");
  return {};
}

Status kill_sessions(Services& s, const KillArgs& a) {
  const std::string reason = a.reason.empty() ? "ended by an administrator" : "ended by an administrator: " + a.reason;
  if (!a.user.empty()) {
    auto n = s.console().end_sessions_of(a.user, reason);
    if (!n) return n.error();
    ctl_audit(s, "console.session_end", reason, {{"user", a.user}, {"count", *n}});
    std::cout << "ended " << *n << " console session(s) of " << a.user << "\n";
    return {};
  }
  auto ended = s.console().end_session(a.id, reason);
  if (!ended) {
    ctl_audit_denied(s, "console.session_end", ended.error().message, {{"id", a.id}});
    return ended.error();
  }
  ctl_audit(s, "console.session_end", reason, {{"user", ended->user}, {"console_session", ended->short_id()}});
  std::cout << "ended console session " << ended->short_id() << " of " << ended->user
            << "; its next request asks to sign in again\n";
  return {};
}

}  // namespace

void register_web_commands(CLI::App& app, CtlGlobals& g) {
  auto* web = app.add_subcommand("web", "the web console");
  web->require_subcommand(1);
  auto* sessions = web->add_subcommand("sessions", "signed-in console sessions");
  sessions->require_subcommand(1);

  auto* list = sessions->add_subcommand("list", "live console sessions (who, since when, last seen)");
  auto la = std::make_shared<ListArgs>();
  list->add_flag("--json", la->json, "machine-readable output");
  list->add_flag("--all", la->all, "ended ones too, with why they ended");
  ctl_command(list, g, la, list_sessions);

  auto* kill = sessions->add_subcommand("kill", "end a console session (or every one of a person) at once");
  auto ka = std::make_shared<KillArgs>();
  kill->add_option("ID", ka->id, "the session's ID from `web sessions list` (at least 8 digits)");
  kill->add_option("--user", ka->user, "every live session of this person");
  kill->add_option("--reason", ka->reason, "recorded in the audit log");
  kill->footer("The browser's next request shows the sign-in page, saying the session ended.");
  ctl_command(kill, g, ka, kill_sessions, check_kill);
}

}  // namespace bastion::gateway
