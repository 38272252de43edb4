// CastWriter: one session channel recorded as asciicast v2
// (https://docs.asciinema.org/manual/asciicast/v2/): a JSON header line, then
// one JSON array per event: [seconds, "o"|"i"|"r", data].
//
// Contract: that of RecordingWriter (recording_writer.h). Output split inside
// a UTF-8 sequence is carried to the next event, so the JSON is always valid.
// Standard error is recorded as output ("o"), as a terminal shows it. The
// writer hashes each byte once, into the SHA-256 of its chunk (since the last
// take_chunk()); the final digest is over the chunk digests (kDigestOfChunks),
// so the audit log vouches for every byte. Not thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "recorder/cast_crypto.h"
#include "recorder/recording_writer.h"

namespace bastion::recorder {

struct CastHeader {
  int width = 80;
  int height = 24;
  Micros started_at = 0;
  std::string term = "xterm";
  std::string title;    // "alice: root@prod-db-1"
  std::string command;  // exec command, if any
};

class CastWriter final : public RecordingWriter {
 public:
  // Creates PATH (and its folders), mode 0600, refusing an existing file.
  // With a sealer, the file is encrypted (see cast_crypto.h), one frame per flush.
  static Result<std::unique_ptr<CastWriter>> open(const std::string& path, const CastHeader& header,
                                                  Micros flush_interval, std::unique_ptr<CastSealer> sealer = nullptr);
  // The same over a file someone else created (create_file): the gateway's
  // monitor creates recordings and hands the connection process the descriptor.
  static Result<std::unique_ptr<CastWriter>> open(UniqueFd file, const CastHeader& header, Micros flush_interval,
                                                  std::unique_ptr<CastSealer> sealer = nullptr);
  // Creates PATH (and its folders) for appending, mode 0600, refusing an existing file.
  static Result<UniqueFd> create_file(const std::string& path);
  ~CastWriter() override;
  CastWriter(const CastWriter&) = delete;
  CastWriter& operator=(const CastWriter&) = delete;

  Status output(Micros at, std::string_view bytes);
  Status input(Micros at, std::string_view bytes);
  Status write(Micros at, StreamId stream, std::string_view bytes) override;
  Status resize(Micros at, int cols, int rows) override;
  Status tick(Micros now) override;
  void set_flush_interval(Micros interval) override { flush_interval_ = interval; }
  Status flush() override;
  CastChunk take_chunk() override;
  Result<CastSummary> close() override;
  [[nodiscard]] int64_t size() const override { return written_; }

 private:
  struct Hashes;
  CastChunk next_chunk();
  CastWriter(UniqueFd fd, Micros start, Micros flush_interval);
  Status event(Micros at, const char* kind, std::string_view data);
  // An "o" or "i" event, holding back an incomplete UTF-8 tail in `carry`.
  Status stream(Micros at, const char* kind, std::string& carry, std::string_view bytes);
  Status write_out(std::string_view bytes);

  UniqueFd fd_;
  Micros start_;
  Micros flush_interval_;
  Micros last_flush_;
  std::string buffer_;
  std::string carry_o_, carry_i_;  // incomplete UTF-8 tails
  int64_t written_ = 0;
  int64_t chunk_start_ = 0;
  std::unique_ptr<Hashes> hashes_;
  std::optional<CastChunk> last_chunk_;  // taken by close(), handed out by take_chunk()
  std::unique_ptr<CastSealer> sealer_;
  Status failed_;
};

// Appends `s` as a JSON string literal (quotes included). Invalid UTF-8
// becomes U+FFFD, so the output is always valid JSON.
void append_json_string(std::string& out, std::string_view s);

// Splits `data` into the longest prefix that does not end inside a UTF-8
// sequence, and the incomplete tail (at most 3 bytes).
size_t complete_utf8_prefix(std::string_view data);

}  // namespace bastion::recorder
