// The files in a recorded SFTP channel: with `[recording] sftp_content = true`
// an sftp/scp channel is recorded byte-exact like any non-terminal channel
// (stdin: what the client sent, stdout: what the target answered), and
// SftpReplay reads the files back out of that conversation.
//
// A transfer is one handle: an OPEN of a path, then WRITEs (an upload: the
// bytes as the client sent them) or READs answered with DATA (a download: the
// bytes as the target sent them), then CLOSE. Its content is put together by
// offset, so pipelined requests answered out of order come out right.
//
// Contract: a parser of a file an attacker may have touched. Packets are at
// most SftpAuditor::kMaxPacket; what is held for reordering is bounded
// (kMaxReorderBytes): past it, an error. Content that never passed (a READ
// never answered, a gap between WRITEs) is an error naming the first missing
// byte, not silently zeros. Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace bastion::recorder {

struct SftpTransfer {
  int number = 0;  // 1-based, in the order the OPENs were answered
  std::string path;
  uint64_t uploaded = 0;    // bytes the client wrote
  uint64_t downloaded = 0;  // bytes the target returned to reads
  bool closed = false;
};

class SftpReplay {
 public:
  static constexpr size_t kMaxReorderBytes = size_t{64} << 20;
  using Sink = std::function<Status(std::string_view)>;

  // Lists transfers only.
  SftpReplay();
  // Also writes the content of transfer number `want` (1-based) to `sink`, in
  // offset order, from offset 0.
  SftpReplay(int want, Sink sink);
  ~SftpReplay();
  SftpReplay(const SftpReplay&) = delete;
  SftpReplay& operator=(const SftpReplay&) = delete;

  Status client(std::string_view bytes);  // the client's bytes (stdin)
  Status server(std::string_view bytes);  // the target's bytes (stdout)
  // The conversation is over: the wanted transfer must be complete.
  Status finish();
  [[nodiscard]] const std::vector<SftpTransfer>& transfers() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bastion::recorder
