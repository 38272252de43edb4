// Internal to recorder/: the statements behind AuditChain, Retention and
// RecordingCatalog, on the database they are given. gateway/ uses those
// classes (cmake/CheckLayering.cmake refuses this header there); the
// recorder's own stores and its tests call these directly.
#pragma once

#include <limits>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/database.h"
#include "common/database_sql.h"
#include "common/ed25519_key.h"
#include "common/result.h"
#include "recorder/audit_chain.h"
#include "recorder/audit_log.h"
#include "recorder/channel_recording.h"
#include "recorder/retention.h"

namespace bastion::recorder {

// Signs `c` (filling its signature) and inserts it; inside the caller's transaction.
Status store_signed_checkpoint(Database& db, const Ed25519Key& key, Checkpoint& c);
// AuditChain::write_checkpoint, unsigned_tail and verify (audit_chain.h).
Result<std::optional<Checkpoint>> write_checkpoint(Database& db, const Ed25519Key& key, const Clock& clock,
                                                   const std::string& kind, const std::string& next_key = "");
// OK when `key` is the audit key in force (names the newest checkpoint's
// next key, or signed it, or there is none); for any signing.
Status check_key_in_force(Database& db, const Ed25519Key& key);
// The columns read_checkpoint() reads, after SELECT.
inline constexpr const char* kCheckpointColumns = "SELECT seq, hash, ts, kind, signature, next_key";
Checkpoint read_checkpoint(Statement& q);
// The columns read_record() reads, after SELECT.
inline constexpr const char* kRecordColumns =
    "SELECT seq, ts, actor, action, target, login, source, session_id, outcome, reason, details, prev_hash, hash";
StoredRecord read_record(Statement& q);
Result<std::pair<int64_t, Micros>> unsigned_tail(Database& db);
Result<VerifyReport> verify_chain(Database& db, std::span<const uint8_t> public_key,
                                  int64_t through = std::numeric_limits<int64_t>::max());
// The records after the newest checkpoint (or purge anchor): each follows the
// one before and matches its hash. The error names the first that does not.
Status verify_unsigned_tail(Database& db);

// Retention::purge_older_than (retention.h).
Result<PurgeReport> purge_older_than(Database& db, const Ed25519Key& key, const Clock& clock, Micros cutoff,
                                     bool dry_run, const std::string& actor = "system");

// RecordingCatalog::begin, end and of (channel_recording.h).
Result<RecordingJournal::Opened> begin_recording(Database& db, AuditLog& audit, const Clock& clock,
                                                 const std::string& dir, bool encrypted, const AuditEvent& tmpl,
                                                 int channel, RecordingFormat format = RecordingFormat::kAsciicast);
// Whether the FTS5 trigram table `fts_table` (audit_text,
// recording_commands_text) holds more than `n` rows with every trigram of
// `text` (recorder/text_match.h): how a search picks its way through.
bool fts_holds_more_than(Database& db, const std::string& fts_table, const std::string& text, int64_t n);
Status end_recording(Database& db, AuditLog& audit, const Clock& clock, const AuditEvent& tmpl, int channel,
                     const std::string& path, const CastSummary& s, const IndexDigest* index = nullptr);
Result<std::vector<RecordingInfo>> recordings_of(Database& db, const std::string& session_id);

}  // namespace bastion::recorder
