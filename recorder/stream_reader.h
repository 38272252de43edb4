// Reading byte-exact stream recordings (stream_writer.h has the layout).
//
// A parser of files an attacker may have touched: bounded (a block's payload
// is at most kMaxStreamPayload bytes, compressed or not), returns errors and
// never trusts a declared length; a cut-off last block (a crash mid-write) is
// not an error but is reported (`cut_off`).
#pragma once

#include <array>
#include <functional>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"
#include "recorder/recording_writer.h"

namespace bastion::recorder {

struct StreamRecord {
  Micros at = 0;  // since the header's started_at
  StreamId stream = StreamId::kStdout;
  std::string_view bytes;  // valid during the callback only
};

struct StreamScan {
  nlohmann::json header;
  int64_t blocks = 0;
  bool cut_off = false;  // the file ends inside a block
};

// Whether FILE_BYTES starts like a stream recording (its header line).
bool is_stream_recording(std::string_view file_bytes);
// The header of a stream recording, without reading further. Its "session",
// "command", "compression" and "encryption" are strings (checked).
Result<nlohmann::json> parse_stream_header(std::string_view file_bytes, const std::string& name);
// The header of the file at PATH if it is a stream recording (reads only its
// start), nullopt if it is not one (e.g. asciicast).
Result<std::optional<nlohmann::json>> stream_header_of_file(const std::string& path);

// The command line in a stream header; for an encrypted file, unsealed with
// the reviewer's private key (an error without one).
Result<std::string> stream_command(const nlohmann::json& header, const std::string& key_path);

using StreamVisitor = std::function<Status(const StreamRecord&)>;
// Calls `each` for every record, in file order. `key_path`: the reviewer's
// private key, needed when the file is encrypted. A visitor's error stops
// the scan and is returned.
Result<StreamScan> scan_stream(std::string_view file_bytes, const std::string& key_path, const StreamVisitor& each,
                               const std::string& name);

// What `sessions replay` shows of a stream recording.
struct StreamStats {
  int64_t bytes = 0, records = 0;
  Micros first_at = 0, last_at = 0;
  std::string head;  // the first 64 bytes
};
struct StreamSummary {
  StreamScan scan;
  std::array<StreamStats, 3> streams;  // by StreamId
};
Result<StreamSummary> summarize_stream(std::string_view file_bytes, const std::string& key_path,
                                       const std::string& name);

// "stdin", "stdout", "stderr"; and back (false if none of these).
std::string_view stream_name(StreamId s);
bool parse_stream_name(std::string_view name, StreamId& out);

}  // namespace bastion::recorder
