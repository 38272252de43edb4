// ChannelRecording: one recorded channel of a gateway session, tied to the
// audit log. A terminal (PTY) channel is written as asciicast v2 (CastWriter),
// any other as a byte-exact stream (StreamWriter). Every digest_interval the
// SHA-256 of the bytes written since the last digest goes into the audit log
// ("recording.chunk"); at the end, the file's size and final digest
// ("recording.end": SHA-256 of the file for asciicast, of the chunk digests
// for streams, named by its "digest" field). Because the audit log is hash
// chained and signed, any later change, cut or splice of the file shows.
//
// A terminal channel also gets a command index (command_index.h): the
// command lines the person ran, read off the emulated screen, written at the
// end to SESSION-CHANNEL.cmdidx beside the cast (sealed to the reviewer key
// like the cast when recordings are encrypted). The monitor hashes that file
// itself and puts its digest in the recording.end record ("index",
// "index_size", "index_sha256"), so `sessions verify` catches a changed index.
//
// Contract: any failure (file or journal) is returned and sticks; the caller
// must then end the channel when recording is mandatory. Not thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "recorder/asciicast.h"
#include "recorder/audit_log.h"
#include "recorder/command_index.h"
#include "recorder/recording_writer.h"

namespace bastion::recorder {

struct RecordingInfo {
  std::string session_id;
  int channel = 0;
  std::string path;
  Micros started_at = 0;
  std::optional<Micros> ended_at;
  std::optional<int64_t> size;
  std::string sha256;
  std::string node;  // the gateway node that wrote it (its session's node)
};

struct RecordingSettings {
  bool record_input = true;
  Micros flush_interval = kMicrosPerSecond;
  Micros digest_interval = 10 * kMicrosPerSecond;
  std::vector<uint8_t> encrypt_to;  // reviewer X25519 public key; empty: plaintext
  bool compress = true;             // zstd for stream recordings (asciicast is never compressed)
};

// What ChannelRecording::start needs to know of the channel.
struct ChannelHeader {
  bool pty = true;         // a terminal: asciicast; otherwise a byte-exact stream
  std::string session_id;  // stream header
  CastHeader cast;         // asciicast header (its command and started_at serve both)
  std::string subsystem;   // a subsystem channel (stream header): its name, e.g. "sftp"
};

// Where a recording's bookkeeping goes: the file's creation, its row in the
// recordings table, and its audit records. In the gateway the monitor keeps
// it (a connection process asks over its channel; the monitor calls the
// functions below).
class RecordingJournal {
 public:
  virtual ~RecordingJournal() = default;
  struct Opened {
    UniqueFd file;  // open for appending, empty
    std::string path;
  };
  // Creates the file for `channel` (never an existing one), records its start.
  virtual Result<Opened> begin(int channel, RecordingFormat format) = 0;
  // Creates the command index file of terminal channel `channel`, after begin().
  virtual Result<Opened> begin_index(int channel) = 0;
  // The SHA-256 of the bytes [offset, offset+length) written since the last chunk.
  virtual Status chunk(int channel, const CastChunk& c) = 0;
  // The file is complete: its size and final digest.
  virtual Status end(int channel, const CastSummary& s) = 0;
};

// Audits one chunk's digest (a recording.chunk record), for the journal.
Status record_chunk(AuditLog& audit, const AuditEvent& tmpl, int channel, const CastChunk& c);

// A command index file as the monitor found it at the recording's end.
struct IndexDigest {
  std::string path;
  int64_t size = 0;
  std::string sha256;   // hex, of the whole file
  std::string content;  // the bytes hashed (at most kMaxIndexFileBytes)
};
// How many commands of a recording's channel the console's search by command
// finds (the first ones; `bastionctl sessions search --command` reads them all).
inline constexpr size_t kMaxSearchableCommands = 10'000;
// A command of a recording, as the search by command finds it.
struct CommandHit {
  int channel = 0;
  Micros offset = 0;  // from the recording's start
  std::string command;
};
// The largest command index a connection process writes (entries past it are
// dropped and the index says it is truncated); the monitor refuses to vouch
// for a larger file.
inline constexpr int64_t kMaxIndexFileBytes = int64_t{16} << 20;
// The index beside the recording at RECORDING_PATH: its name with ".cmdidx"
// for its extension.
std::string index_path_for(const std::string& recording_path);
// Creates the (empty) index file of the recording at RECORDING_PATH, mode 0600,
// never an existing one.
Result<RecordingJournal::Opened> begin_index(const std::string& recording_path);
// Hashes the index file at PATH (not following a symbolic link); an error if
// it is larger than kMaxIndexFileBytes.
Result<IndexDigest> digest_index_file(const std::string& path);

// The journal's writes, for the process that holds the database (the
// gateway's monitor), and the recordings a session has. Not thread-safe (one
// per process, like Database).
class RecordingCatalog {
 public:
  RecordingCatalog(Database& db, AuditLog& audit, const Clock& clock) : db_(db), audit_(audit), clock_(clock) {}

  // Creates DIR/YYYY-MM-DD/SESSION-CHANNEL.cast (asciicast) or .stream
  // (byte-exact stream) and records its start; `tmpl` carries
  // actor/target/login/session for the audit records.
  Result<RecordingJournal::Opened> begin(const std::string& dir, bool encrypted, const AuditEvent& tmpl, int channel,
                                         RecordingFormat format = RecordingFormat::kAsciicast);
  // The recording is complete; `index`: the command index's digest, when
  // the channel has one (a terminal). A plaintext index's commands (the
  // first kMaxSearchableCommands) are stored for the search by command, in
  // the same transaction; a sealed one's are not (the gateway cannot read
  // them), nor those of an index that does not parse.
  Status end(const AuditEvent& tmpl, int channel, const std::string& path, const CastSummary& s,
             const IndexDigest* index = nullptr);
  // The recordings of session `session_id`, in channel order.
  Result<std::vector<RecordingInfo>> of(const std::string& session_id);
  // The stored commands of session `session_id` that contain `text` (in any
  // case), in channel and time order, at most `limit`.
  Result<std::vector<CommandHit>> commands_containing(const std::string& session_id, const std::string& text,
                                                      int limit);

 private:
  Database& db_;
  AuditLog& audit_;
  const Clock& clock_;
};

class ChannelRecording {
 public:
  static Result<std::unique_ptr<ChannelRecording>> start(RecordingJournal& journal, const Clock& clock,
                                                         const RecordingSettings& settings, int channel,
                                                         const ChannelHeader& header);
  Status output(std::string_view bytes);
  Status error_output(std::string_view bytes);
  Status input(std::string_view bytes);
  Status resize(int cols, int rows);
  Status tick();
  // Someone watches live: write at least this often from now on.
  void set_flush_interval(Micros interval);
  // Flushes, fsyncs, writes the final digest and summary. Idempotent.
  Result<CastSummary> finish();
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] const std::string& index_path() const { return index_path_; }  // empty: no command index
  [[nodiscard]] const Status& status() const { return status_; }

 private:
  ChannelRecording(RecordingJournal& journal, const Clock& clock, RecordingSettings s, int channel);
  Status digest();
  Status sticky(const Status& st);

  RecordingJournal& journal_;
  const Clock& clock_;
  RecordingSettings settings_;
  int channel_;
  std::string path_;
  Status open_writer(RecordingJournal::Opened opened, const ChannelHeader& header, std::unique_ptr<CastSealer> sealer);
  Status open_index(const ChannelHeader& header);
  Status write_index();

  std::unique_ptr<RecordingWriter> writer_;
  // Terminal channels: the command index, written at finish() to index_file_.
  std::unique_ptr<CommandIndexer> indexer_;
  CommandIndexHeader index_header_;
  UniqueFd index_file_;
  std::string index_path_;
  Micros last_digest_ = 0;
  std::optional<CastSummary> summary_;
  Status status_;
};

// Where a channel's recording goes.
std::string recording_path(const std::string& dir, const std::string& session_id, int channel, Micros at,
                           RecordingFormat format = RecordingFormat::kAsciicast);

}  // namespace bastion::recorder
