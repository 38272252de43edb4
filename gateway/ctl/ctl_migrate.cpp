// `bastionctl migrate`: moves a deployment from its embedded SQLite file to
// a shared PostgreSQL database (several gateway nodes), and proves the copy:
// every table's row count and content digest, and the audit chain verified
// on the target with the gateway's audit public key.
#include <cstdio>

#include "common/database_copy.h"
#include "common/files.h"
#include "gateway/ctl/control_client.h"
#include "gateway/ctl/ctl.h"
#include "recorder/audit_chain.h"

namespace bastion::gateway {
namespace {

struct MigrateArgs {
  std::string from;  // sqlite:PATH or PATH; default: the configured database
  std::string to;    // postgresql://...
};

Status check_migrate(MigrateArgs& a) {
  if (!Database::is_postgres(a.to)) {
    return make_error("--to: expected a postgresql:// URL (the database the gateway nodes will share)");
  }
  if (a.from.starts_with("sqlite:")) a.from = a.from.substr(7);
  if (Database::is_postgres(a.from)) return make_error("--from: expected a SQLite file (sqlite:PATH)");
  return {};
}

Status migrate(Services& s, const MigrateArgs& a) {
  const Config& cfg = s.config();
  std::string from = a.from.empty() ? cfg.database : a.from;
  if (Database::is_postgres(from)) {
    return make_error("this gateway's database is already PostgreSQL (" + Database::display_name(from) +
                      "); --from sqlite:PATH names a SQLite file to move");
  }
  // SECURITY: what a running gateway writes after the copy would be lost.
  if (control_call(cfg.control_socket, {monitor::Control::kSweep, "", ""}, 2000)) {
    return make_error("bastiond is running (its control socket " + cfg.control_socket +
                      " answers): stop it first, so that nothing is written after the copy");
  }
  auto key_text = read_file(cfg.audit_signing_key + ".pub", 4096);
  if (!key_text) return key_text.error().prefixed("audit public key (to verify the copy): ");
  auto key = recorder::parse_audit_public_key(*key_text);
  if (!key) return key.error();

  auto source = Database::open(from, Database::Mode::kOpenExisting);
  if (!source) return source.error().prefixed("--from: ");
  if (auto existing = Database::open(a.to, Database::Mode::kReadOnly); existing) {
    return make_error("refusing to migrate into " + Database::display_name(a.to) +
                      ": it already holds a bastion deployment");
  } else if (existing.error().code != ErrorCode::kNotFound) {
    return existing.error().prefixed("--to: ");
  }
  auto target = Database::open(a.to, Database::Mode::kCreate);
  if (!target) return target.error().prefixed("--to: ");

  std::printf("copying %s to %s\n", from.c_str(), Database::display_name(a.to).c_str());
  auto report = copy_database(*source, *target, [](const std::string& table, int64_t rows) {
    std::printf("  %-24s %10lld rows\n", table.c_str(), static_cast<long long>(rows));
    std::fflush(stdout);
  });
  if (!report) return report.error();
  if (std::string bad = report->mismatch(); !bad.empty()) {
    return make_error("verification FAILED: table " + bad +
                      " differs between the source and the target after the copy; do not use the target "
                      "(drop its schema and run migrate again)");
  }
  int64_t rows = 0;
  for (const auto& t : report->target) rows += t.rows;
  std::printf("verified: %zu tables, %lld rows, the same row counts and content digests on both sides\n",
              report->target.size(), static_cast<long long>(rows));

  Config on_target = cfg;
  on_target.database = a.to;
  auto t = Services::open(on_target);
  if (!t) return t.error().prefixed("--to: ");
  auto chain = (*t)->chain().verify(*key);
  if (!chain) return chain.error();
  if (!chain->ok) {
    return make_error("verification FAILED: the audit log on the target fails at seq " +
                      std::to_string(chain->bad_seq) + ": " + chain->problem);
  }
  std::printf("audit log on the target intact: %lld records, %lld signed checkpoint(s), last seq %lld\n",
              static_cast<long long>(chain->records), static_cast<long long>(chain->checkpoints),
              static_cast<long long>(chain->last_seq));
  ctl_audit(**t, "database.migrate", "",
            {{"from", from}, {"to", Database::display_name(a.to)}, {"tables", report->target.size()}, {"rows", rows}});
  std::printf(
      "\nNext: in %s set\n  [state]\n  database = \"%s\"\nthen start bastiond. The SQLite file is left as it was "
      "(keep it until the new setup has run for a while).\n",
      cfg.config_path.c_str(), Database::display_name(a.to).c_str());
  return {};
}

}  // namespace

void register_migrate_commands(CLI::App& app, CtlGlobals& g) {
  auto* cmd = app.add_subcommand(
      "migrate", "copy this deployment's SQLite database into an empty PostgreSQL database, and verify the copy");
  auto a = std::make_shared<MigrateArgs>();
  cmd->add_option("--to", a->to, "postgresql://USER@HOST/DB (empty; the gateways' shared database)")->required();
  cmd->add_option("--from", a->from, "sqlite:PATH (default: the configured database)");
  ctl_command(cmd, g, a, migrate, check_migrate);
}

}  // namespace bastion::gateway
