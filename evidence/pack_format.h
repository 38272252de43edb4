// The evidence pack (bastionctl evidence export, bastion-verify): a POSIX
// tar archive an auditor checks on their own machine without trusting the
// gateway. Its entries, in the order they are written (the verifier reads
// the archive once, as a stream, and requires the checkpoints before the
// records and the records before the rest):
//
//   README.txt                 what the pack is and how to check it
//   audit/checkpoint-key.pub   the audit key in force at export ("bastion-audit-ed25519 BASE64")
//   audit/checkpoints.jsonl    every signed checkpoint from the first record to the last
//   audit/purge-anchors.json   where retention cut the log, with the checkpoint it cut at
//   audit/records.jsonl        the records, seq order, as stored (details as text), with their hashes
//   review/access-review.json  bastionctl review report for the period (people, roles, grants, leavers)
//   review/grants.jsonl        every request or grant of the period, from the database
//   review/leavers.jsonl       every leaver revoked in the period, with the revocation's record
//   sessions/sessions.jsonl    every session of the period with its recordings' digests
//   config/bastion.toml        the gateway's configuration, secrets removed
//   recordings/SESSION/N.EXT   the recordings themselves (--with-recordings)
//   MANIFEST.json              the period, the record range, SHA-256 and size of every entry above
//   MANIFEST.sig               the audit key's Ed25519 signature over MANIFEST.json's bytes
//
// The records run from the one before the period's first (the context
// record, which shows nothing before the period was cut away), or from the
// request of the oldest grant used in the period if that is earlier, to the
// newest checkpoint, which the export writes when the period's end is not
// signed yet: every record in the pack is covered by a signed checkpoint.
#pragma once

#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/audit_format.h"
#include "common/result.h"

namespace bastion::evidence {

inline constexpr std::string_view kFormat = "bastion-evidence-pack 1";

inline constexpr std::string_view kReadme = "README.txt";
inline constexpr std::string_view kKeyFile = "audit/checkpoint-key.pub";
inline constexpr std::string_view kCheckpoints = "audit/checkpoints.jsonl";
inline constexpr std::string_view kPurgeAnchors = "audit/purge-anchors.json";
inline constexpr std::string_view kRecords = "audit/records.jsonl";
inline constexpr std::string_view kAccessReview = "review/access-review.json";
inline constexpr std::string_view kGrants = "review/grants.jsonl";
inline constexpr std::string_view kLeavers = "review/leavers.jsonl";
inline constexpr std::string_view kSessions = "sessions/sessions.jsonl";
inline constexpr std::string_view kConfig = "config/bastion.toml";
inline constexpr std::string_view kRecordingsDir = "recordings/";
inline constexpr std::string_view kManifest = "MANIFEST.json";
inline constexpr std::string_view kManifestSig = "MANIFEST.sig";

// A record as one JSON object (one line of audit/records.jsonl).
nlohmann::json record_json(const StoredRecord& r);
Result<StoredRecord> record_from_json(const nlohmann::json& j);
// A checkpoint as one JSON object (one line of audit/checkpoints.jsonl).
nlohmann::json checkpoint_json(const Checkpoint& c);
Result<Checkpoint> checkpoint_from_json(const nlohmann::json& j);

// MANIFEST.sig: "bastion-evidence-signature ed25519 BASE64" and a newline.
std::string signature_file(std::span<const uint8_t> signature);
Result<std::vector<uint8_t>> parse_signature_file(std::string_view text);

// The name a recording has in the pack: recordings/SESSION/CHANNEL.EXT
// (EXT from its path on the gateway: cast or stream).
std::string recording_entry(const std::string& session_id, int channel, const std::string& gateway_path);

// The gateway's configuration without secrets (config/bastion.toml): a
// password in a URL ("postgresql://user:PASSWORD@host") or a "password="
// keyword, and the value of any key named like a secret (password, secret,
// token, passphrase). Paths to key files stay: they are not the keys.
// `removed`: how many lines changed.
std::string redact_config(const std::string& text, int& removed);

}  // namespace bastion::evidence
