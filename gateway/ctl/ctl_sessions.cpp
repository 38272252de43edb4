// bastionctl sessions ..., audit list, nodes list
#include <iostream>

#include <limits>

#include "common/database.h"
#include "common/files.h"
#include "gateway/app/audit_key_rotation.h"
#include "gateway/ctl/control_client.h"
#include "recorder/audit_chain.h"
#include "recorder/retention.h"
#include "recorder/syslog_cursor.h"
#include "gateway/ctl/ctl.h"

namespace bastion::gateway {

nlohmann::json session_json(const recorder::SessionRecord& s) {
  nlohmann::json j = {{"id", s.id},
                      {"user", s.user},
                      {"target", s.target},
                      {"login", s.login},
                      {"source", s.source},
                      {"pid", s.pid},
                      {"started_at", format_utc(s.started_at)},
                      {"ended_at", nullptr},
                      {"bytes_in", s.bytes_in},
                      {"bytes_out", s.bytes_out},
                      {"exit_status", nullptr},
                      {"end_reason", s.end_reason},
                      {"grant_id", s.grant_id},
                      {"node", s.node}};
  if (s.ended_at) j["ended_at"] = format_utc(*s.ended_at);
  if (s.exit_status) j["exit_status"] = *s.exit_status;
  return j;
}

namespace {

struct SessionListArgs {
  recorder::SessionFilter f;
  std::string since;
  bool json = false;
};

Status check_session_list(SessionListArgs& a) { return ctl_parse_time(a.since, a.f.since); }

void print_sessions(const std::vector<recorder::SessionRecord>& rows) {
  std::printf("%-20s %-12s %-24s %-16s %-27s %s\n", "ID", "USER", "LOGIN@TARGET", "NODE", "STARTED", "ENDED");
  for (const auto& r : rows) {
    std::string dest = r.login + "@" + r.target;
    std::printf("%-20s %-12s %-24s %-16s %-27s %s\n", r.id.c_str(), r.user.c_str(), dest.c_str(),
                r.node.empty() ? "-" : r.node.c_str(), format_utc(r.started_at).c_str(),
                r.ended_at ? format_utc(*r.ended_at).c_str() : "live");
  }
}

Status list_sessions(Services& s, const SessionListArgs& a) {
  return ctl_print_rows(s.sessions().list(a.f), a.json, session_json, print_sessions);
}

struct KillArgs {
  std::string id, reason;
};

// Asks the running bastiond, over its control socket, to end the session.
Status kill_session(Services& s, const KillArgs& a) {
  auto r = control_call(s.config().control_socket, {monitor::Control::kKill, a.id, a.reason});
  if (!r) return r.error();
  if (!r->ok) return make_error(r->error);
  if (r->count == 0 && !r->error.empty()) {
    std::cout << "asked gateway node " << r->error << " to end session " << a.id << " (it ends within a second)\n";
  } else {
    std::cout << "ended session " << a.id << "\n";
  }
  return {};
}

void register_sessions(CLI::App& app, CtlGlobals& g) {
  auto* sessions = app.add_subcommand("sessions", "gateway sessions (one per proxied SSH connection)");
  sessions->require_subcommand(1);
  auto* list = sessions->add_subcommand("list", "list sessions, newest first");
  auto a = std::make_shared<SessionListArgs>();
  list->add_flag("--live", a->f.live_only, "only sessions that have not ended");
  list->add_option("--user", a->f.user, "only this person's sessions");
  list->add_option("--target", a->f.target, "only sessions to this target");
  list->add_option("--since", a->since, "only sessions started at or after this UTC time");
  list->add_flag("--json", a->json, "machine-readable output");
  ctl_command(list, g, a, list_sessions, check_session_list);
  register_review_commands(sessions, g);
  auto* kill = sessions->add_subcommand("kill", "end a live session now; its user sees why");
  auto ka = std::make_shared<KillArgs>();
  kill->add_option("ID", ka->id, "session id (see `sessions list --live`)")->required();
  kill->add_option("--reason", ka->reason, "shown to the user and recorded in the audit log");
  ctl_command(kill, g, ka, kill_session);
}

struct AuditArgs {
  recorder::AuditFilter f;
  std::string since, until;
  bool json = false;
};

// Shared by `audit list` and `audit search`.
void add_filter_options(CLI::App* cmd, AuditArgs& a) {
  cmd->add_option("--user", a.f.actor, "only records by this actor");
  cmd->add_option("--target", a.f.target, "only records about this target");
  cmd->add_option("--action", a.f.action, "only this action (auth, access, session.start, ...)");
  cmd->add_option("--session", a.f.session_id, "only records of this session");
  cmd->add_option("--since", a.since, "UTC time, e.g. 2026-11-22T17:00:00Z");
  cmd->add_option("--until", a.until, "UTC time");
  cmd->add_option("--limit", a.f.limit, "at most this many records")->capture_default_str();
  cmd->add_flag("--json", a.json, "machine-readable output");
}

Status check_audit_filter(AuditArgs& a) {
  if (auto st = ctl_parse_time(a.since, a.f.since); !st) return st;
  return ctl_parse_time(a.until, a.f.until);
}

void print_audit(const std::vector<recorder::AuditRecord>& rows) {
  for (const auto& r : rows) {
    std::string details = r.event.details.empty() ? "" : " " + r.event.details.dump();
    std::printf("%6lld %s %-16s %-18s %-6s %s%s%s%s\n", static_cast<long long>(r.seq), format_utc(r.ts).c_str(),
                r.event.actor.c_str(), r.event.action.c_str(), recorder::to_string(r.event.outcome).c_str(),
                r.event.target.empty() ? "" : (r.event.login + "@" + r.event.target + " ").c_str(),
                r.event.session_id.empty() ? "" : (r.event.session_id + " ").c_str(), r.event.reason.c_str(),
                details.c_str());
  }
}

nlohmann::json audit_json(const recorder::AuditRecord& r) { return recorder::to_json(r); }

// `audit list` and `audit search`.
Status list_audit(Services& s, const AuditArgs& a) {
  return ctl_print_rows(s.audit().query(a.f), a.json, audit_json, print_audit);
}

// "records up to seq 5 were purged at T, cut at the periodic checkpoint of T2 (seq 5, signature verified)"
std::string describe_purge(const recorder::PurgeAnchor& p) {
  std::string s = "records up to seq " + std::to_string(p.seq) + " were purged at " + format_utc_seconds(p.purged_at);
  if (!p.cut_at) return s + " (by a version that did not record the checkpoint it cut at)";
  return s + ", cut at the " + p.cut_at->kind + " checkpoint of " + format_utc_seconds(p.cut_at->ts) + " (seq " +
         std::to_string(p.cut_at->seq) + ", signature verified)";
}

struct VerifyArgs {
  std::string public_key;  // default: the signing key's .pub
};

Status verify_audit(Services& s, const VerifyArgs& a) {
  std::string key_path = a.public_key.empty() ? s.config().audit_signing_key + ".pub" : a.public_key;
  auto text = read_file(key_path, 4096);
  if (!text) return text.error().prefixed("audit public key: ");
  auto key = recorder::parse_audit_public_key(*text);
  if (!key) return key.error().prefixed(key_path + ": ");
  auto report = s.chain().verify(*key);
  if (!report) return report.error();
  if (!report->ok) {
    std::fprintf(stderr, "audit log FAILED verification at seq %lld: %s\n", static_cast<long long>(report->bad_seq),
                 report->problem.c_str());
    return ctl_explained();
  }
  std::printf("audit log intact: %lld records, %lld signed checkpoint(s), last seq %lld\n",
              static_cast<long long>(report->records), static_cast<long long>(report->checkpoints),
              static_cast<long long>(report->last_seq));
  if (report->purge) std::printf("retention: %s\n", describe_purge(*report->purge).c_str());
  if (report->rotations > 0) {
    std::printf("key rotations followed: %lld; checkpoints are now signed by %s\n",
                static_cast<long long>(report->rotations), report->signing_key.c_str());
  }
  if (report->earlier_key_checkpoints > 0) {
    std::printf(
        "%lld checkpoint(s) before the rotation to this key were signed by earlier keys: the chain binds what they "
        "cover to the checkpoints this key signed (--public-key with the first key checks their signatures too)\n",
        static_cast<long long>(report->earlier_key_checkpoints));
  }
  return {};
}

Status rotate_audit_key(Services& s) {
  auto r = rotate_audit_signing_key(s, ctl_actor());
  if (!r) return r.error();
  std::printf("%s the audit signing key:\n  old: %s   (signed the rotation checkpoint%s)\n  new: %s   (in %s.pub)\n",
              r->resumed ? "completed the rotation of" : "rotated", r->old_key_line.c_str(),
              r->rotate_seq ? (" at seq " + std::to_string(r->rotate_seq)).c_str() : "", r->new_key_line.c_str(),
              s.config().audit_signing_key.c_str());
  auto reloaded = control_call(s.config().control_socket, {monitor::Control::kAuditKey, "reload", ""}, 5000);
  if (reloaded && reloaded->ok) {
    std::printf("bastiond signs with the new key\n");
  } else {
    ctl_warn("bastiond did not reload the key (" + (reloaded ? reloaded->error : reloaded.error().message) +
             "); until it starts or gets SIGHUP, its checkpoints are refused");
  }
  std::printf(
      "Keep the new public key apart with the old one: `audit verify --public-key` with the old key follows the "
      "rotation; with the new one it checks from the rotation on. Other gateway nodes: copy the key file there, "
      "then SIGHUP.\n");
  return {};
}

struct PurgeArgs {
  std::string older_than;
  bool dry_run = false;
  std::optional<Micros> age;  // --older-than, parsed
};

Status check_purge(PurgeArgs& a) {
  if (a.older_than.empty()) return {};
  auto d = parse_duration(a.older_than);
  if (!d) return d.error().prefixed("--older-than: ");
  a.age = *d;
  return {};
}

Status purge_audit(Services& s, const PurgeArgs& a) {
  Micros age = a.age.value_or(static_cast<Micros>(s.config().retention_days) * 86400 * kMicrosPerSecond);
  auto key = Ed25519Key::load(s.config().audit_signing_key);
  if (!key) return key.error();
  auto r = s.retention().purge_older_than(*key, s.clock().now() - age, a.dry_run, ctl_actor());
  if (!r) {
    return make_error(r.error().message + (a.dry_run ? "; investigate with 'bastionctl audit verify'"
                                                     : "; an audit.alert is recorded: investigate with "
                                                       "'bastionctl audit verify' before purging"));
  }
  if (!r->cut_at) {
    std::printf(
        "nothing to remove: no signed checkpoint older than %s after %s (only signed records are purged; "
        "'bastionctl audit checkpoint' signs the newest)\n",
        format_duration(age).c_str(),
        r->previous_anchor ? ("the purge anchor at seq " + std::to_string(r->previous_anchor)).c_str()
                           : "the start of the log");
    return {};
  }
  std::string cut = "the " + r->cut_at->kind + " checkpoint of " + format_utc_seconds(r->cut_at->ts);
  std::printf("%s %lld audit records and %lld recordings older than %s, up to seq %lld (%s)%s\n",
              a.dry_run ? "would remove" : "removed", static_cast<long long>(r->audit_records),
              static_cast<long long>(r->recordings), format_duration(age).c_str(),
              static_cast<long long>(r->cut_at->seq), cut.c_str(),
              r->anchor_seq ? ("; signed purge anchor at seq " + std::to_string(r->anchor_seq)).c_str() : "");
  return {};
}

// Where syslog delivery stands: the target, the cursor (its file, or on
// PostgreSQL the database's) and how far it is behind the newest record
// (what the delivery thread will send next).
Status syslog_status(Services& s, const JsonFlag& a) {
  const Config& c = s.config();
  nlohmann::json j = {{"target", c.syslog.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.syslog)}};
  auto last = s.audit().last_seq();
  if (!last) return last.error();
  const int64_t newest = *last;
  j["newest_seq"] = newest;
  bool stream = c.syslog.starts_with("tcp://") || c.syslog.starts_with("tls://");
  j["delivery"] = c.syslog.empty() ? "off" : stream ? "at least once, in order" : "fire-and-forget";
  std::string note;
  const bool shared = stream && Database::is_postgres(c.database);
  if (shared) {
    // Several nodes: the lead delivers, from the cursor in the database.
    auto row = s.audit().syslog_cursor(c.syslog);
    if (!row) return row.error();
    j["cursor_in"] = "database";
    if (!*row) {
      j["cursor_seq"] = nullptr;
      note = "nothing delivered yet";
    } else {
      j["cursor_seq"] = (*row)->seq;
      j["cursor_node"] = (*row)->node;
      j["cursor_updated_at"] = format_utc((*row)->updated_at);
      j["behind"] = std::max<int64_t>(0, newest - (*row)->seq);
    }
  } else if (stream) {
    auto cur = recorder::load_syslog_cursor(c.syslog_cursor);
    if (!cur) return cur.error();
    j["cursor_file"] = c.syslog_cursor;
    if (!*cur || (*cur)->target != c.syslog) {
      j["cursor_seq"] = nullptr;
      note = *cur ? "the cursor is for " + (*cur)->target + "; bastiond starts over ([audit] syslog_start)"
                  : "nothing delivered yet";
    } else {
      j["cursor_seq"] = (*cur)->seq;
      j["behind"] = std::max<int64_t>(0, newest - (*cur)->seq);
    }
  }
  if (a.json) {
    print_json(j);
    return {};
  }
  std::printf("target:     %s\ndelivery:   %s\n", c.syslog.empty() ? "(off)" : c.syslog.c_str(),
              j["delivery"].get<std::string>().c_str());
  if (shared && j["cursor_seq"].is_number()) {
    std::printf("cursor:     seq %lld (in the database; delivered by node %s, %s)\n",
                static_cast<long long>(j["cursor_seq"].get<int64_t>()), j["cursor_node"].get<std::string>().c_str(),
                j["cursor_updated_at"].get<std::string>().c_str());
  } else if (stream && j["cursor_seq"].is_number()) {
    std::printf("cursor:     seq %lld (%s)\n", static_cast<long long>(j["cursor_seq"].get<int64_t>()),
                c.syslog_cursor.c_str());
  } else if (stream) {
    std::printf("cursor:     none (%s)\n", note.c_str());
  }
  std::printf("newest:     seq %lld\n", static_cast<long long>(newest));
  if (j.contains("behind"))
    std::printf("behind:     %lld records\n", static_cast<long long>(j["behind"].get<int64_t>()));
  return {};
}

struct ExportArgs {
  std::string format = "jsonl";  // the only one
};

Status export_audit(Services& s, const ExportArgs&) {
  recorder::AuditFilter f;
  f.limit = std::numeric_limits<int>::max();
  auto rows = s.audit().query(f);
  if (!rows) return rows.error();
  for (const auto& r : *rows) std::cout << recorder::to_json(r).dump() << "\n";
  return {};
}

Status checkpoint(Services& s) {
  auto key_file = Ed25519Key::load(s.config().audit_signing_key);
  if (!key_file) return key_file.error();
  auto c = s.chain().write_checkpoint(*key_file, "manual");
  if (!c) return c.error();
  std::cout << (*c ? recorder::checkpoint_log_line(**c) : std::string("nothing new to sign")) << "\n";
  return {};
}

void register_audit_queries(CLI::App* audit, CtlGlobals& g) {
  auto list_args = std::make_shared<AuditArgs>();
  auto* list = audit->add_subcommand("list", "list audit records, oldest first");
  add_filter_options(list, *list_args);
  ctl_command(list, g, list_args, list_audit, check_audit_filter);

  auto search_args = std::make_shared<AuditArgs>();
  auto* search = audit->add_subcommand("search", "records whose reason or details contain TEXT");
  search->add_option("TEXT", search_args->f.text, "text to look for")->required();
  add_filter_options(search, *search_args);
  ctl_command(search, g, search_args, list_audit, check_audit_filter);

  auto* verify = audit->add_subcommand("verify", "recompute the hash chain and check every signed checkpoint");
  auto va = std::make_shared<VerifyArgs>();
  verify->add_option("--public-key", va->public_key, "audit public key file (default: the signing key's .pub)");
  ctl_command(verify, g, va, verify_audit);

  ctl_command(audit->add_subcommand("rotate-key",
                                    "replace the audit signing key: the old key signs a checkpoint naming the new one"),
              g, rotate_audit_key);

  auto* exp = audit->add_subcommand("export", "write every record, with its hash, for a SIEM");
  auto ea = std::make_shared<ExportArgs>();
  exp->add_option("--format", ea->format, "jsonl (one record per line)")->check(CLI::IsMember({"jsonl"}));
  ctl_command(exp, g, ea, export_audit);
}

void register_audit(CLI::App& app, CtlGlobals& g) {
  auto* audit = app.add_subcommand("audit", "the tamper-evident audit log");
  audit->require_subcommand(1);
  register_audit_queries(audit, g);

  auto* purge = audit->add_subcommand(
      "purge", "remove audit records and recordings past retention, up to the newest signed checkpoint");
  auto pa = std::make_shared<PurgeArgs>();
  purge->add_option("--older-than", pa->older_than, "instead of retention_days, e.g. 30d");
  purge->add_flag("--dry-run", pa->dry_run, "say what would be removed, remove nothing");
  ctl_command(purge, g, pa, purge_audit, check_purge);

  auto* sys = audit->add_subcommand("syslog-status", "syslog target, delivery cursor, newest record and lag");
  ctl_command(sys, g, add_json_flag(sys), syslog_status);

  ctl_command(audit->add_subcommand("checkpoint", "sign the newest record now"), g, checkpoint);
}

}  // namespace

struct NodeListArgs {
  bool json = false;
};

Status list_nodes(Services& s, const NodeListArgs& a) {
  Micros now = s.clock().now();
  auto to_json = [](const recorder::NodeRecord& n) {
    return nlohmann::json{{"name", n.name},
                          {"listen", n.listen},
                          {"started_at", format_utc(n.started_at)},
                          {"heartbeat_at", format_utc(n.heartbeat_at)},
                          {"up", n.up}};
  };
  auto table = [&](const std::vector<recorder::NodeRecord>& rows) {
    std::printf("%-20s %-22s %-6s %s\n", "NODE", "LISTEN", "STATE", "LAST HEARTBEAT");
    for (const auto& n : rows) {
      std::printf("%-20s %-22s %-6s %s (%llds ago)\n", n.name.c_str(), n.listen.c_str(), n.up ? "up" : "down",
                  format_utc(n.heartbeat_at).c_str(),
                  static_cast<long long>((now - n.heartbeat_at) / kMicrosPerSecond));
    }
    if (rows.empty()) std::printf("(no node has started yet)\n");
    if (!Database::is_postgres(s.config().database)) {
      std::printf("(SQLite: one node; heartbeats are written only when nodes share PostgreSQL)\n");
    }
  };
  return ctl_print_rows(s.nodes().list(), a.json, to_json, table);
}

void register_session_commands(CLI::App& app, CtlGlobals& g) {
  register_sessions(app, g);
  register_audit(app, g);
  auto* nodes = app.add_subcommand("nodes", "the gateway nodes that share this database");
  nodes->require_subcommand(1);
  auto na = std::make_shared<NodeListArgs>();
  auto* list = nodes->add_subcommand(
      "list", "each node, its heartbeat, and whether it is up (a node silent for 10s is down: its sessions end)");
  list->add_flag("--json", na->json, "machine-readable output");
  ctl_command(list, g, na, list_nodes);
}

}  // namespace bastion::gateway
