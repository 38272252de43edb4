// bastion-verify's checks of an evidence pack (pack_format.h), on the
// auditor's machine: nothing here trusts the gateway, its database or its
// host; only the pack and, if the auditor passes one, the audit key they
// obtained out of band.
//
// What is checked:
//   - MANIFEST.sig is the audit key's signature over MANIFEST.json, and that
//     key is the one the checkpoints end with (after the key rotations the
//     pack shows) and, with --expect-key, the one the auditor expects;
//   - every entry is in the manifest with its size and SHA-256, and nothing
//     else is in the archive;
//   - the hash chain from the first record to the last, each checkpoint's
//     hash and signature, that the last record is signed, what precedes the
//     first record (the record before the period, a retention cut, or the
//     start of the log), and that every record was signed within the
//     gateway's checkpoint interval (a removed checkpoint shows as a gap);
//   - every consented grant has its request and consent records before the
//     first session under it; no session started outside its grant's
//     window; the database's grants, sessions and recording digests agree
//     with the records that vouch for them; recordings in the pack match
//     their chunk digests in the chain;
//   - every leaver of the period has a revocation record, and the latency
//     from the HR event to it.
// Every inconsistency is an exception in the report (its one line names the
// record, session, grant or file); only an archive that cannot be read at
// all is an error.
#pragma once

#include <nlohmann/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "common/tar.h"

namespace bastion::evidence {

struct VerifyOptions {
  // --expect-key: fingerprints (audit_key_fingerprint) of the audit keys the
  // auditor trusts; the pack's key, or one of the keys its rotations went
  // through, must be one of them.
  std::vector<std::string> expect_keys;
  // How late a record may be signed; default: twice the gateway's
  // checkpoint interval (from the manifest) plus a minute.
  std::optional<Micros> max_signing_delay;
};

struct PackReport {
  std::string period_from, period_to, generated_at, generated_by, node, version;
  std::string key_fingerprint;            // the key that signs the manifest (in force at export)
  std::vector<std::string> earlier_keys;  // fingerprints of the keys before it (rotations in the pack)
  bool expected_key_matched = false;
  int64_t files = 0;
  int64_t first_seq = 0, last_seq = 0, period_first_seq = 0, period_last_seq = 0;
  int64_t checkpoints = 0, rotations = 0;
  std::string start;  // what precedes the first record
  Micros worst_signing_delay = 0;
  Micros max_signing_delay = 0;
  int64_t people = 0, people_left = 0;
  int64_t grants = 0, consented = 0, internal = 0, break_glass = 0;
  std::vector<std::string> break_glass_uses;  // one line each
  int64_t sessions = 0, sessions_under_grant = 0, recordings = 0, recordings_checked = 0;
  int64_t leavers = 0;
  double latency_median_s = 0, latency_max_s = 0;
  std::vector<std::string> exceptions;
  std::vector<std::string> notes;
  [[nodiscard]] bool ok() const { return exceptions.empty(); }
};

// Reads the pack from `source` once, as a stream (memory grows with the
// number of sessions, grants and checkpoints, not with the records). An
// error only when it is not a readable tar archive.
Result<PackReport> verify_pack(const TarSource& source, const VerifyOptions& options);

// The one-page summary bastion-verify prints.
std::string summary_text(const PackReport& r);
// The same, for machines (bastion-verify --json).
nlohmann::json report_json(const PackReport& r);

}  // namespace bastion::evidence
