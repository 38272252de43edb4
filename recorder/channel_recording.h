// ChannelRecording: one recorded channel of a gateway session, tied to the
// audit log. Every digest_interval the SHA-256 of the bytes written since the
// last digest goes into the audit log ("recording.chunk"); at the end, the
// file's size and SHA-256 ("recording.end"). Because the audit log is hash
// chained and signed, any later change, cut or splice of the file shows.
//
// Contract: any failure (file or audit) is returned and sticks; the caller
// must then end the channel when recording is mandatory. Not thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "recorder/asciicast.h"
#include "recorder/audit_log.h"

namespace bastion::recorder {

struct RecordingInfo {
  std::string session_id;
  int channel = 0;
  std::string path;
  Micros started_at = 0;
  std::optional<Micros> ended_at;
  std::optional<int64_t> size;
  std::string sha256;
};

struct RecordingSettings {
  std::string dir;               // root folder; files go to DIR/YYYY-MM-DD/SESSION-CHANNEL.cast
  bool record_input = true;
  Micros flush_interval = kMicrosPerSecond;
  Micros digest_interval = 10 * kMicrosPerSecond;
  std::vector<uint8_t> encrypt_to;  // reviewer X25519 public key; empty: plaintext
};

class ChannelRecording {
 public:
  // `audit_template` carries actor/target/login/session for the records.
  static Result<std::unique_ptr<ChannelRecording>> start(Database& db, AuditLog& audit, const Clock& clock,
                                                         const RecordingSettings& settings,
                                                         const AuditEvent& audit_template, int channel,
                                                         const CastHeader& header);
  Status output(std::string_view bytes);
  Status input(std::string_view bytes);
  Status resize(int cols, int rows);
  Status tick();
  // Flushes, fsyncs, writes the final digest and summary. Idempotent.
  Result<CastSummary> finish();
  [[nodiscard]] const std::string& path() const { return info_.path; }
  [[nodiscard]] const Status& status() const { return status_; }

 private:
  ChannelRecording(Database& db, AuditLog& audit, const Clock& clock, RecordingSettings s, AuditEvent tmpl);
  Status digest();
  Status sticky(Status st);

  Database& db_;
  AuditLog& audit_;
  const Clock& clock_;
  RecordingSettings settings_;
  AuditEvent template_;
  RecordingInfo info_;
  std::unique_ptr<CastWriter> writer_;
  Micros last_digest_ = 0;
  std::optional<CastSummary> summary_;
  Status status_;
};

// Where a channel's recording goes.
std::string recording_path(const std::string& dir, const std::string& session_id, int channel, Micros at);

Result<std::vector<RecordingInfo>> recordings_of(Database& db, const std::string& session_id);

}  // namespace bastion::recorder
