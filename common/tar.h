// POSIX ustar archives, written and read as streams (bastionctl backup and
// restore): an operator can list or unpack a plain backup with tar(1).
//
// Only regular files are written or accepted: a reader refuses links,
// devices, FIFOs and directories entries (restore creates directories
// itself), as well as a bad header checksum or an archive cut off before its
// end-of-archive marker. Names are kept as written; what a name may be is
// the caller's rule (safe_relative_path).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace bastion {

// Where a writer's bytes go (all of them, or an error).
using TarSink = std::function<Status(std::string_view bytes)>;
// Where a reader's bytes come from: up to `cap` bytes into `buf`; 0 at the end.
using TarSource = std::function<Result<size_t>(char* buf, size_t cap)>;

struct TarEntry {
  std::string name;
  uint32_t mode = 0644;
  uint64_t size = 0;
  int64_t mtime = 0;  // seconds since the epoch
};

class TarWriter {
 public:
  explicit TarWriter(TarSink sink) : sink_(std::move(sink)) {}
  // A regular file: the header, then exactly e.size bytes pulled from `data`
  // (an error if it ends early), padded to the block size.
  Status add(const TarEntry& e, const TarSource& data);
  Status add(const TarEntry& e, std::string_view bytes);
  // The end-of-archive marker (two zero blocks). Nothing may be added after.
  Status finish();
  [[nodiscard]] uint64_t bytes_written() const { return written_; }

 private:
  Status put(std::string_view bytes);
  TarSink sink_;
  uint64_t written_ = 0;
  bool finished_ = false;
};

class TarReader {
 public:
  explicit TarReader(TarSource source) : source_(std::move(source)) {}
  // The next entry's header (the rest of the previous entry's data is
  // skipped); nullopt at the end-of-archive marker. An error for a corrupt
  // or cut-off archive, or an entry that is not a regular file.
  Result<std::optional<TarEntry>> next();
  // The current entry's data: up to `cap` bytes, 0 when it is all read.
  Result<size_t> read(char* buf, size_t cap);

 private:
  Status fill(char* buf, size_t n);  // exactly n bytes, or an error
  Status skip_rest();
  TarSource source_;
  uint64_t left_ = 0;     // data bytes of the current entry not yet read
  uint64_t padding_ = 0;  // then this many padding bytes
  bool ended_ = false;
};

// `name` split on '/' into components that are each a plain file or folder
// name: no empty, "." or ".." component, no leading '/', no control
// characters or backslashes, at most 4096 bytes. Returns it unchanged or an error.
Result<std::string> safe_relative_path(std::string_view name);

}  // namespace bastion
