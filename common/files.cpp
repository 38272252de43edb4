#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/unique_fd.h"

namespace bastion {
namespace {

std::string errno_text(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

}  // namespace

Status write_all(int fd, std::string_view bytes) {
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return make_error(n < 0 ? std::strerror(errno) : "short write");
    p += n;
    left -= static_cast<size_t>(n);
  }
  return {};
}

Status write_file_atomic(const std::string& path, std::string_view content, unsigned mode, bool overwrite) {
  std::filesystem::path target(path);
  std::string dir = target.parent_path().empty() ? "." : target.parent_path().string();
  static std::atomic<unsigned> counter{0};  // the syslog delivery thread writes files too
  std::string tmp =
      dir + "/." + target.filename().string() + ".tmp." + std::to_string(getpid()) + "." + std::to_string(++counter);
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd) return make_error(errno_text("cannot create", tmp));
  if (::fchmod(fd.get(), mode) != 0) {  // umask must not widen or narrow what we asked for
    ::unlink(tmp.c_str());
    return make_error(errno_text("cannot chmod", tmp));
  }
  if (auto st = write_all(fd.get(), content); !st) {
    ::unlink(tmp.c_str());
    return st.error().prefixed("cannot write " + tmp + ": ");
  }
  if (::fsync(fd.get()) != 0) {
    ::unlink(tmp.c_str());
    return make_error(errno_text("cannot fsync", tmp));
  }
  fd.reset();
  int rc = overwrite ? ::rename(tmp.c_str(), path.c_str()) : ::link(tmp.c_str(), path.c_str());
  int saved = errno;
  if (!overwrite || rc != 0) ::unlink(tmp.c_str());
  if (rc != 0) {
    errno = saved;
    if (saved == EEXIST) return make_error("refusing to overwrite existing file " + path);
    return make_error(errno_text("cannot write", path));
  }
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd) ::fsync(dfd.get());
  return {};
}

Status sync_parent_directory(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd) return make_error(errno_text("cannot open", dir));
  if (::fsync(dfd.get()) != 0) return make_error(errno_text("cannot fsync", dir));
  return {};
}

namespace {

// Reads `fd` to its end, refusing more than `max_bytes` (`path` names it in errors).
Result<std::string> read_all(int fd, const std::string& path, size_t max_bytes) {
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(errno_text("cannot read", path));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) {
      return make_error(path + ": file is larger than " + std::to_string(max_bytes) + " bytes");
    }
  }
  return out;
}

}  // namespace

Result<std::string> read_file(const std::string& path, size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return make_error(errno_text("cannot open", path));
  return read_all(fd.get(), path, max_bytes);
}

Result<std::string> read_dropped_file(const std::string& path, size_t max_bytes) {
  // SECURITY: a plain open() of a FIFO blocks until a writer appears (the
  // daemon's loop would freeze), and following a symbolic link would read
  // whatever file the link names with the daemon's rights.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY));
  if (!fd) {
    if (errno == ELOOP) return make_error(path + ": is a symbolic link; only regular files are read");
    return make_error(errno_text("cannot open", path));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return make_error(errno_text("cannot stat", path));
  if (!S_ISREG(st.st_mode)) return make_error(path + ": not a regular file (a FIFO, device, socket or directory)");
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return make_error(path + ": file is larger than " + std::to_string(max_bytes) + " bytes");
  }
  return read_all(fd.get(), path, max_bytes);
}

Status make_dirs(const std::string& path, unsigned mode) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return {};
  std::filesystem::create_directories(path, ec);
  if (ec) return make_error("cannot create directory " + path + ": " + ec.message());
  if (::chmod(path.c_str(), mode) != 0) return make_error(errno_text("cannot chmod", path));
  return {};
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string resolve_path(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  return (std::filesystem::path(base_dir) / path).lexically_normal().string();
}

}  // namespace bastion
