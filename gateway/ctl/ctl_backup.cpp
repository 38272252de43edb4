// `bastionctl backup` and `bastionctl restore` (gateway/app/backup.h): one
// file with the database, keys, configuration and recordings, taken while
// bastiond runs; restored into an empty state directory and proven there
// (every file against the manifest, then the audit chain).
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "common/files.h"
#include "gateway/app/backup.h"
#include "gateway/ctl/ctl.h"
#include "recorder/audit_chain.h"

namespace bastion::gateway {
namespace {

using SteadyClock = std::chrono::steady_clock;

double seconds_since(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

struct BackupArgs {
  BackupOptions o;
  bool no_recordings = false;
};

Status backup(Services& s, const BackupArgs& a) {
  BackupOptions o = a.o;
  o.recordings = !a.no_recordings;
  o.actor = ctl_actor();
  auto t0 = SteadyClock::now();
  auto r = write_backup(s, o);
  if (!r) return r.error();
  double took = seconds_since(t0);
  std::printf("backup written: %s\n", o.out.c_str());
  std::printf("  %d files, %s of content%s; the file is %s, sha256 %s\n", r->files, mib(r->content_bytes).c_str(),
              r->database_included ? (" (database snapshot " + mib(r->database_bytes) + ")").c_str() : "",
              mib(r->file_bytes).c_str(), r->sha256.c_str());
  std::printf("  took %.1f s\n", took);
  for (const auto& n : r->notes) std::printf("  note: %s\n", n.c_str());
  if (o.encrypt_to.empty()) {
    std::printf(
        "  NOT encrypted: it holds the gateway's private keys (user CA, audit signing, host and TLS keys).\n"
        "  Keep it as you keep them, or take the next one with --encrypt-to.\n");
  } else {
    std::printf("  encrypted to %s: only its private key restores it\n", o.encrypt_to.c_str());
  }
  ctl_audit(s, "backup.create", "",
            {{"file", o.out},
             {"sha256", r->sha256},
             {"bytes", r->file_bytes},
             {"files", r->files},
             {"database", r->database_included},
             {"recordings", o.recordings},
             {"encrypted", !o.encrypt_to.empty()}});
  return {};
}

Status check_backup(BackupArgs& a) {
  if (a.o.out.empty()) return make_error("--out: a file name is needed");
  return {};
}

struct RestoreArgs {
  RestoreOptions o;
  std::string audit_public_key;  // kept apart from the gateway: the restored chain must verify with it
};

// The restored deployment, proven: its configuration loads with the new
// state directory, and its audit chain verifies with its audit public key.
Status verify_restored(const RestoreReport& r, const std::string& state_dir, const std::string& trusted_key) {
  auto cfg = load_config(r.config_path);
  if (!cfg) return cfg.error().prefixed("the restored configuration: ");
  std::error_code ec;
  if (std::filesystem::weakly_canonical(cfg->state_dir, ec) != std::filesystem::weakly_canonical(state_dir, ec)) {
    return make_error("the restored configuration names the state directory " + cfg->state_dir + ", not " + state_dir +
                      "; edit its [state] dir");
  }
  if (Database::is_postgres(cfg->database)) {
    std::printf(
        "database: PostgreSQL (%s), not part of this backup: restore it with pg_restore, then run\n"
        "  bastionctl --config %s audit verify\n",
        Database::display_name(cfg->database).c_str(), r.config_path.c_str());
    return {};
  }
  auto key_text = read_file(cfg->audit_signing_key + ".pub", 4096);
  if (!key_text) return key_text.error().prefixed("audit public key: ");
  auto key = recorder::parse_audit_public_key(*key_text);
  if (!key) return key.error();
  if (!trusted_key.empty()) {
    // SECURITY: the key inside a backup vouches only for a backup nobody
    // replaced; one kept apart (the auditors' copy) vouches for the chain.
    auto trusted_text = read_file(trusted_key, 4096);
    if (!trusted_text) return trusted_text.error().prefixed("--audit-public-key: ");
    auto trusted = recorder::parse_audit_public_key(*trusted_text);
    if (!trusted) return trusted.error().prefixed("--audit-public-key " + trusted_key + ": ");
    if (*trusted != *key) {
      return make_error("the backup's audit public key is not the one in " + trusted_key +
                        ": its audit log was not signed by the key you trust; do not use this backup");
    }
    std::printf("the backup's audit key is the one in %s\n", trusted_key.c_str());
  }
  auto s = Services::open(*cfg);
  if (!s) return s.error().prefixed("the restored database: ");
  auto t0 = SteadyClock::now();
  auto chain = (*s)->chain().verify(*key);
  if (!chain) return chain.error();
  if (!chain->ok) {
    return make_error("the restored audit log FAILED verification at seq " + std::to_string(chain->bad_seq) + ": " +
                      chain->problem);
  }
  std::printf("audit log intact: %lld records, %lld signed checkpoint(s), last seq %lld (verified in %.1f s)\n",
              static_cast<long long>(chain->records), static_cast<long long>(chain->checkpoints),
              static_cast<long long>(chain->last_seq), seconds_since(t0));
  auto people = (*s)->policy().list_people();
  auto grants = (*s)->policy().list_elevations("", true);
  if (people && grants) {
    std::printf("people: %zu; open elevation requests and grants: %zu\n", people->size(), grants->size());
  }
  ctl_audit(**s, "backup.restore", "",
            {{"from", r.manifest.value("created_at", "")},
             {"node", r.manifest.value("node", "")},
             {"files", r.files},
             {"state_dir", state_dir}});
  return {};
}

Status restore(const CtlTools& /*tools*/, const RestoreArgs& a) {
  auto t0 = SteadyClock::now();
  auto r = restore_backup(a.o);
  if (!r) return r.error();
  std::printf("restored %d files (%s) from a backup of %s taken %s into %s\n", r->files, mib(r->bytes).c_str(),
              r->manifest.value("node", "?").c_str(), r->manifest.value("created_at", "?").c_str(),
              a.o.state_dir.c_str());
  std::printf("every file matches the backup's manifest (SHA-256); took %.1f s\n", seconds_since(t0));
  for (const auto& n : r->notes) std::printf("  %s\n", n.c_str());
  std::string state_dir = std::filesystem::path(r->config_path).parent_path().string();
  if (auto st = verify_restored(*r, state_dir, a.audit_public_key); !st) {
    discard_restore(state_dir, r->made_dir);
    return st.error().prefixed("restore undone: ");
  }
  std::printf(
      "\nNext: bastiond --config %s --check, then start bastiond with that configuration.\n"
      "(Sessions that were live when the backup was taken are not resumed: people log in again.)\n",
      r->config_path.c_str());
  return {};
}

}  // namespace

void register_backup_commands(CLI::App& app, CtlGlobals& g) {
  auto* b = app.add_subcommand(
      "backup",
      "write one file with the database (a consistent snapshot, taken while bastiond runs), keys, configuration and "
      "recordings");
  auto ba = std::make_shared<BackupArgs>();
  b->add_option("--out", ba->o.out, "the backup file to write (refused if it exists; mode 0600)")->required();
  b->add_option("--encrypt-to", ba->o.encrypt_to,
                "encrypt to this X25519 public key (PEM; make a pair with `bastionctl recording keygen`); without it "
                "the file holds the gateway's private keys in the clear");
  b->add_flag("--no-recordings", ba->no_recordings, "leave the recordings folder out");
  b->footer(
      "A PostgreSQL deployment's database is not included: back it up with pg_dump or pg_basebackup.\n"
      "Restore with: bastionctl restore FILE --state-dir DIR");
  ctl_command(b, g, ba, backup, check_backup);

  auto* r = app.add_subcommand(
      "restore", "unpack a backup into a new, empty state directory and verify it (files, then the audit chain)");
  auto ra = std::make_shared<RestoreArgs>();
  r->add_option("FILE", ra->o.file, "the backup file")->required();
  r->add_option("--state-dir", ra->o.state_dir, "the directory to restore into (absent or empty)")->required();
  r->add_option("--identity", ra->o.identity, "the X25519 private key (PEM) an encrypted backup was made for");
  r->add_option("--audit-public-key", ra->audit_public_key,
                "the audit public key kept apart from the gateway (audit_signing_key.pub): the restored audit log "
                "must be signed with it");
  r->footer("Needs no --config: the backup carries its configuration, rewritten to name the new directory.");
  ctl_offline_command(r, g, ra, restore);
}

}  // namespace bastion::gateway
