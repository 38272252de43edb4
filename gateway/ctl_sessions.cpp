// bastionctl sessions ..., audit list
#include <iostream>

#include "gateway/control_client.h"
#include "gateway/ctl.h"

namespace bastion::gateway {
namespace {

nlohmann::json session_json(const recorder::SessionRecord& s) {
  nlohmann::json j = {{"id", s.id},         {"user", s.user},     {"target", s.target},
                      {"login", s.login},   {"source", s.source}, {"pid", s.pid},
                      {"started_at", format_utc(s.started_at)},  {"ended_at", nullptr},
                      {"bytes_in", s.bytes_in}, {"bytes_out", s.bytes_out}, {"exit_status", nullptr},
                      {"end_reason", s.end_reason}};
  if (s.ended_at) j["ended_at"] = format_utc(*s.ended_at);
  if (s.exit_status) j["exit_status"] = *s.exit_status;
  return j;
}

void register_sessions(CLI::App& app, CtlGlobals& g) {
  auto* sessions = app.add_subcommand("sessions", "gateway sessions (one per proxied SSH connection)");
  sessions->require_subcommand(1);
  auto* list = sessions->add_subcommand("list", "list sessions, newest first");
  auto live = std::make_shared<bool>(false);
  auto json = std::make_shared<bool>(false);
  list->add_flag("--live", *live, "only sessions that have not ended");
  list->add_flag("--json", *json, "machine-readable output");
  list->callback([&g, live, json] {
    ctl_list(
        g, *json, [&](Services& s) { return s.sessions().list(*live); }, session_json,
        [](const std::vector<recorder::SessionRecord>& rows) {
          std::printf("%-20s %-12s %-24s %-27s %s\n", "ID", "USER", "LOGIN@TARGET", "STARTED", "ENDED");
          for (const auto& r : rows) {
            std::string dest = r.login + "@" + r.target;
            std::printf("%-20s %-12s %-24s %-27s %s\n", r.id.c_str(), r.user.c_str(), dest.c_str(),
                        format_utc(r.started_at).c_str(),
                        r.ended_at ? format_utc(*r.ended_at).c_str() : "live");
          }
        });
  });
  auto* kill = sessions->add_subcommand("kill", "end a live session now; its user sees why");
  auto id = std::make_shared<std::string>();
  auto reason = std::make_shared<std::string>();
  kill->add_option("ID", *id, "session id (see `sessions list --live`)")->required();
  kill->add_option("--reason", *reason, "shown to the user and recorded in the audit log");
  kill->callback([&g, id, reason] {
    auto s = ctl_open(g);
    if (!s) return;
    auto r = control_call(s->config().control_socket, {{"op", "kill"}, {"id", *id}, {"reason", *reason}});
    if (!r) {
      g.exit_code = ctl_fail(r.error().message);
      return;
    }
    if (!r->value("ok", false)) {
      g.exit_code = ctl_fail(r->value("error", std::string("failed")));
      return;
    }
    std::cout << "ended session " << *id << "\n";
  });
}

void register_audit(CLI::App& app, CtlGlobals& g) {
  auto* audit = app.add_subcommand("audit", "the audit log");
  audit->require_subcommand(1);
  auto* list = audit->add_subcommand("list", "list audit records, oldest first");
  struct Args {
    recorder::AuditFilter f;
    std::string since, until;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  list->add_option("--user", a->f.actor, "only records by this actor");
  list->add_option("--target", a->f.target, "only records about this target");
  list->add_option("--action", a->f.action, "only this action (auth, access, session.start, ...)");
  list->add_option("--since", a->since, "UTC time, e.g. 2026-11-22T17:00:00Z");
  list->add_option("--until", a->until, "UTC time");
  list->add_option("--limit", a->f.limit, "at most this many records")->capture_default_str();
  list->add_flag("--json", a->json, "machine-readable output");
  list->callback([&g, a] {
    for (auto [text, slot] : {std::pair{&a->since, &a->f.since}, std::pair{&a->until, &a->f.until}}) {
      if (text->empty()) continue;
      auto t = parse_utc(*text);
      if (!t) {
        g.exit_code = kExitUsage;
        ctl_fail(t.error().message);
        return;
      }
      *slot = *t;
    }
    ctl_list(
        g, a->json, [&](Services& s) { return s.audit().query(a->f); },
        [](const recorder::AuditRecord& r) { return recorder::to_json(r); },
        [](const std::vector<recorder::AuditRecord>& rows) {
          for (const auto& r : rows) {
            std::string details = r.event.details.empty() ? "" : " " + r.event.details.dump();
            std::printf("%6lld %s %-16s %-18s %-6s %s%s%s%s\n", static_cast<long long>(r.seq),
                        format_utc(r.ts).c_str(), r.event.actor.c_str(), r.event.action.c_str(),
                        recorder::to_string(r.event.outcome).c_str(),
                        r.event.target.empty() ? "" : (r.event.login + "@" + r.event.target + " ").c_str(),
                        r.event.session_id.empty() ? "" : (r.event.session_id + " ").c_str(),
                        r.event.reason.c_str(), details.c_str());
          }
        });
  });
}

}  // namespace

void register_session_commands(CLI::App& app, CtlGlobals& g) {
  register_sessions(app, g);
  register_audit(app, g);
}

}  // namespace bastion::gateway
