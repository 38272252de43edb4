// Reviewing recordings: read, verify against the audit log, search.
//
// read_cast() is a parser of files an attacker may have touched: it is
// bounded and returns errors, and tolerates a cut-off last line (a crash
// mid-write), reporting it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/database.h"
#include "common/result.h"
#include "recorder/audit_log.h"

namespace bastion::recorder {

struct CastEvent {
  double t = 0;
  std::string kind;  // "o", "i", "r"
  std::string data;
};

struct CastFile {
  nlohmann::json header;
  std::vector<CastEvent> events;
  bool cut_off = false;  // the last line was incomplete
};

// `key_path`: the reviewer's private key, needed for encrypted recordings.
Result<CastFile> read_cast(const std::string& path, const std::string& key_path = "",
                           size_t max_bytes = size_t{4} << 30);
Result<CastFile> parse_cast(std::string_view text, const std::string& name);
// The plaintext asciicast of a recording file (decrypted when needed).
Result<std::string> cast_text(const std::string& path, const std::string& key_path, bool& cut_off);

struct RecordingCheck {
  bool ok = false;
  bool complete = false;  // a recording.end record vouches for the whole file
  int64_t file_size = 0;
  int64_t verified_bytes = 0;  // covered by chained digests
  std::string problem;         // why not ok
  std::string note;            // e.g. an unverified tail after a crash
  std::string index_path;      // the command index, checked against recording.end too
};

// Checks the file at `path` against the recording.chunk / recording.end
// records of (session, channel) in the audit log.
Result<RecordingCheck> verify_recording(AuditLog& audit, const std::string& session_id, int channel,
                                        const std::string& path);

struct SearchHit {
  double offset = 0;    // seconds into the recording: when the matching line was last written
  std::string snippet;  // the line, cut to about 120 bytes around the match; no control characters
};

// Finds `text` in what the recording's terminal showed: its output ("o")
// and resize ("r") events, from the header's width x height (80x24 when
// missing), run through a terminal emulator (ScreenText, screen_text.h, says
// which lines it sees and when), and each rendered line is searched for the
// plain, case-sensitive substring (a match does not span lines; a soft
// wrapped line is one line). One hit per matching line; the max_hits
// earliest, in offset order. An empty `text` finds nothing.
std::vector<SearchHit> search_cast(const CastFile& cast, const std::string& text, size_t max_hits = 20);

}  // namespace bastion::recorder
