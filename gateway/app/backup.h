// bastionctl backup and restore: one file holding a deployment's database (a
// consistent snapshot taken while bastiond runs), its keys, its configuration
// and, unless left out, its recordings.
//
// The file is a POSIX tar (tar tvf lists it) whose last entry, MANIFEST.json,
// names every other entry with its size and SHA-256, or that tar sealed to an
// operator's X25519 public key (recorder/cast_crypto.h, kBackupSeal: AES-256-GCM
// frames of 1 MiB; altered, reordered or dropped frames are refused).
//
// Entry names: "state/<path>" for a file under the state directory,
// "external/<absolute path>" for one the configuration names elsewhere.
// A PostgreSQL deployment's database is not in the file: PostgreSQL's own
// tools (pg_dump, pg_basebackup) back it up; keys and configuration are.
//
// SECURITY: an unencrypted backup holds the gateway's private keys (user CA,
// audit signing key, host keys, TLS key) in the clear: it is written 0600,
// and the operator keeps it as they keep those keys, or encrypts it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"
#include "gateway/app/services.h"

namespace bastion::gateway {

struct BackupOptions {
  std::string out;         // the backup file; refused if it exists
  std::string encrypt_to;  // X25519 public key (PEM); "": not encrypted
  bool recordings = true;  // include the recordings folder
  std::string actor;       // who takes it (the manifest's created_by)
};

struct BackupReport {
  int files = 0;               // entries besides the manifest
  uint64_t content_bytes = 0;  // their bytes
  uint64_t file_bytes = 0;     // the backup file's size
  bool database_included = false;
  uint64_t database_bytes = 0;
  std::string sha256;              // of the backup file, hex
  std::vector<std::string> notes;  // what was left out, and why
};

// Writes the backup (to OUT.partial, fsynced, then renamed to OUT).
Result<BackupReport> write_backup(Services& s, const BackupOptions& o);

struct RestoreOptions {
  std::string file;
  std::string state_dir;  // absent, or an empty directory
  std::string identity;   // X25519 private key (PEM) for an encrypted backup
};

struct RestoreReport {
  std::string config_path;  // the restored configuration, in state_dir
  int files = 0;
  uint64_t bytes = 0;
  bool database_included = false;
  nlohmann::json manifest;
  std::vector<std::string> notes;  // paths the configuration now names instead of the old ones
  bool made_dir = false;           // state_dir did not exist before
};

// Unpacks a backup into state_dir and checks every file against the
// manifest; rewrites the configuration's paths (the old state directory,
// external files) to the restored copies. On any error nothing is left
// behind (state_dir is removed if this made it, emptied otherwise).
// Verifying the audit chain is the caller's next step (it opens Services).
Result<RestoreReport> restore_backup(const RestoreOptions& o);

// Removes what restore_backup made in state_dir (the caller's verification
// failed): the directory itself when it made it, else its contents.
void discard_restore(const std::string& state_dir, bool made_dir);

}  // namespace bastion::gateway
