// File-system helpers with the durability and permission rules bastion needs.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace bastion {

// Writes `content` to `path` atomically: a temp file in the same directory,
// fsync, rename, fsync of the directory. `mode` applies from creation, so a
// secret is never briefly world-readable. If `overwrite` is false and `path`
// exists, fails and changes nothing.
Status write_file_atomic(const std::string& path, std::string_view content, unsigned mode, bool overwrite);

// Reads a whole file of at most `max_bytes`.
// Writes all of `bytes` to `fd` (retrying after EINTR and partial writes);
// the error is strerror's text, or "short write".
Status write_all(int fd, std::string_view bytes);
Result<std::string> read_file(const std::string& path, size_t max_bytes = 1 << 20);

// Reads a whole file that someone else dropped into a directory we watch
// (a spool): opened with O_NOFOLLOW | O_NONBLOCK, so a symbolic link is
// refused and a FIFO or device cannot block the caller in open(); only a
// regular file (checked with fstat on the open descriptor) of at most
// `max_bytes` is read. The error message says which rule the file broke.
Result<std::string> read_dropped_file(const std::string& path, size_t max_bytes);

// Creates a directory (and parents) with `mode` if missing.
Status make_dirs(const std::string& path, unsigned mode);

bool file_exists(const std::string& path);

// fsync()s the directory that holds `path`, so that a rename, link or unlink
// of `path` survives a crash.
Status sync_parent_directory(const std::string& path);

// `path` if absolute, else `base_dir/path`.
std::string resolve_path(const std::string& base_dir, const std::string& path);

}  // namespace bastion
