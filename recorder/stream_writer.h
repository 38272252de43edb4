// StreamWriter: one non-terminal channel (exec without a PTY) recorded byte
// exact: no escaping, no re-encoding, stdin/stdout/stderr kept apart.
//
// File layout ("bastion-stream" version 1; all integers big-endian or LEB128):
//
//   header  one JSON line, plaintext:
//           {"format":"bastion-stream","version":1,"session":S,"channel":N,
//            "command":C,"started_at":MICROS,"compression":"zstd"|"none",
//            "encryption":"none"|"bastion-encrypted-cast v1 EPH REV"
//            [,"sealed_command":BASE64]}\n
//           Encrypted files have "command":"" and the command line in
//           sealed_command: CastSealer::seal(command), frame counter 0.
//   block*  one per flush:
//           unencrypted: u32 length || payload[length]
//           encrypted:   CastSealer::seal(payload), i.e.
//                        u32 length || nonce[12] || AES-256-GCM(payload) || tag[16]
//                        (frame counters go on from the sealed command: the
//                        n-th block's nonce is the counter n + 1; cast_crypto.h)
//   payload = one zstd frame (with its content size) of RECORDS when
//             compression is "zstd", else RECORDS
//   RECORDS = record*, record = u8 stream (0 stdin, 1 stdout, 2 stderr)
//                               || uvarint at (microseconds since started_at)
//                               || uvarint length || raw bytes[length]
//   uvarint: LEB128, 7 bits a byte, low first, at most 10 bytes.
//
// SECURITY: a command line can hold secrets (a password in an argument), so
// an encrypted file seals it too, as it sealed the asciicast header before.
//
// A reader caps a payload at kMaxStreamPayload bytes. A crash leaves at most
// a cut-off last block, which readers report as a truncated tail.
//
// Hashing: each byte written is hashed once, into the digest of its chunk
// (take_chunk()). The final digest (recording.end, kDigestOfChunks) is the
// SHA-256 of the raw 32-byte digests of all non-empty chunks, in order.
//
// Contract: that of RecordingWriter (recording_writer.h). Compression comes
// before encryption. Not thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/unique_fd.h"
#include "recorder/cast_crypto.h"
#include "recorder/recording_writer.h"
#include "recorder/zstd_codec.h"

namespace bastion::recorder {

inline constexpr std::string_view kStreamFormat = "bastion-stream";
inline constexpr size_t kMaxStreamPayload = 4 << 20;

struct StreamHeader {
  std::string session;
  int channel = 0;
  std::string command;  // exec command or subsystem name
  Micros started_at = 0;
  std::string subsystem;  // a subsystem channel's name ("sftp"); empty for exec
};

class StreamWriter final : public RecordingWriter {
 public:
  // Over a file the monitor created (CastWriter::create_file). `compress`:
  // zstd each block. With a sealer, each block is encrypted after compression.
  static Result<std::unique_ptr<StreamWriter>> open(UniqueFd file, const StreamHeader& header, Micros flush_interval,
                                                    bool compress, std::unique_ptr<CastSealer> sealer = nullptr);
  // The same, creating PATH (tests, benchmarks).
  static Result<std::unique_ptr<StreamWriter>> open(const std::string& path, const StreamHeader& header,
                                                    Micros flush_interval, bool compress,
                                                    std::unique_ptr<CastSealer> sealer = nullptr);
  ~StreamWriter() override;
  StreamWriter(const StreamWriter&) = delete;
  StreamWriter& operator=(const StreamWriter&) = delete;

  Status write(Micros at, StreamId stream, std::string_view bytes) override;
  Status resize(Micros, int, int) override { return failed_; }
  Status tick(Micros now) override;
  void set_flush_interval(Micros interval) override { flush_interval_ = interval; }
  Status flush() override;
  CastChunk take_chunk() override;
  Result<CastSummary> close() override;
  [[nodiscard]] int64_t size() const override { return written_; }

 private:
  struct Hashes;
  StreamWriter(UniqueFd fd, Micros start, Micros flush_interval);
  Status write_block(std::string_view payload);
  Status write_out(std::string_view bytes);
  CastChunk next_chunk();

  UniqueFd fd_;
  Micros start_;
  Micros flush_interval_;
  Micros last_flush_;
  std::string buffer_;      // records not yet written
  std::string compressed_;  // reused between blocks
  int64_t written_ = 0;
  int64_t chunk_start_ = 0;
  std::unique_ptr<Hashes> hashes_;
  std::unique_ptr<Compressor> compressor_;
  std::unique_ptr<CastSealer> sealer_;
  std::optional<CastChunk> last_chunk_;  // taken by close(), handed out by take_chunk()
  Status failed_;
};

// A stream recording's final digest (kDigestOfChunks), computed as the chunk
// digests come (hex, as the audit log has them), in constant memory: the
// monitor re-derives it this way. Not thread-safe.
class ChunkDigests {
 public:
  ChunkDigests();
  ~ChunkDigests();
  ChunkDigests(ChunkDigests&&) noexcept;
  ChunkDigests& operator=(ChunkDigests&&) noexcept;
  // False (and every later final() is "") if `sha256_hex` is not 64 lowercase hex digits.
  bool add(std::string_view sha256_hex);
  // The digest of all chunks added so far (hex); "" after a bad add().
  [[nodiscard]] std::string final() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The same, for a whole list.
std::string digest_of_chunks(const std::vector<std::string>& chunk_sha256_hex);

// LEB128 unsigned varint, appended to `out`.
void append_uvarint(std::string& out, uint64_t v);
// Reads one at `pos` (advanced past it); false if cut off or longer than 10 bytes.
bool read_uvarint(std::string_view in, size_t& pos, uint64_t& v);

}  // namespace bastion::recorder
