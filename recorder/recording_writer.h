// RecordingWriter: what a channel recording writes through, whatever the file
// format. Two implementations:
//   CastWriter   (asciicast.h)      terminals (PTY channels): asciicast v2
//   StreamWriter (stream_writer.h)  everything else: byte-exact framed streams
//
// Contract shared by both: events are buffered and written at least every
// flush_interval (a crash loses at most that much); close() flushes and
// fsyncs. Any write error is returned, and every later call fails too:
// callers must then end the session (fail closed). take_chunk() hands out the
// SHA-256 of the bytes written to the file since the previous call, for the
// audit chain. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"

namespace bastion::recorder {

// Which direction of a channel bytes belong to (also the stream id on disk).
enum class StreamId : uint8_t { kStdin = 0, kStdout = 1, kStderr = 2 };

// Which writer made a recording file, and so its name's extension.
enum class RecordingFormat { kAsciicast, kStream };

struct CastChunk {
  int64_t offset = 0;
  int64_t length = 0;
  std::string sha256;  // hex
};

// How a recording's final digest (recording.end "sha256") is computed.
inline constexpr std::string_view kDigestWholeFile = "sha256";        // SHA-256 of the file (casts of older versions)
inline constexpr std::string_view kDigestOfChunks = "chunks-sha256";  // SHA-256 of the raw chunk digests, in order

struct CastSummary {
  int64_t size = 0;
  std::string sha256;  // hex; see `digest`
  std::string digest = std::string(kDigestWholeFile);
};

class RecordingWriter {
 public:
  virtual ~RecordingWriter() = default;
  virtual Status write(Micros at, StreamId stream, std::string_view bytes) = 0;
  // A terminal's new size; a no-op where there is no terminal.
  virtual Status resize(Micros at, int cols, int rows) = 0;
  // Writes buffered events if the flush interval has passed.
  virtual Status tick(Micros now) = 0;
  // From now on, write at least this often (someone watches the session live).
  virtual void set_flush_interval(Micros interval) = 0;
  virtual Status flush() = 0;
  // The bytes written to the file since the previous call (and, after
  // close(), the last of them).
  virtual CastChunk take_chunk() = 0;
  virtual Result<CastSummary> close() = 0;
  [[nodiscard]] virtual int64_t size() const = 0;
};

}  // namespace bastion::recorder
