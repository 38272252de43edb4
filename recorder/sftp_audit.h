// SftpAuditor: watches an SFTP conversation (both directions, as the relay
// sees it) and turns it into file events for the audit log. `sftp` and modern
// `scp` both speak SFTP (draft-ietf-secsh-filexfer-02, version 3).
//
// Contract: a parser of untrusted input. Bytes may arrive split anywhere;
// packets are reassembled with a size limit. A malformed packet makes feed()
// return an error, after which the caller must end the channel; nothing here
// can crash or grow without bound. One event per file operation: open,
// close (with the bytes read and written through that handle), remove,
// rename, mkdir, rmdir, setstat, symlink; each with the server's answer.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace bastion::recorder {

struct FileEvent {
  std::string action;     // "open", "close", "remove", "rename", "mkdir", "rmdir", "setstat", "symlink"
  std::string path;
  std::string path2;      // rename/symlink target
  std::string mode;       // open: "read", "write", "read+write"
  uint64_t bytes_read = 0;     // close: target -> client (download)
  uint64_t bytes_written = 0;  // close: client -> target (upload)
  bool ok = true;
  std::string status;     // "ok" or the server's failure text
};

class SftpAuditor {
 public:
  static constexpr size_t kMaxPacket = 256 * 1024 + 1024;

  Status client_data(std::string_view bytes);  // client -> target
  Status server_data(std::string_view bytes);  // target -> client
  std::vector<FileEvent> take_events();
  // Files still open at the end (a channel that ends without CLOSE).
  std::vector<FileEvent> close_all(const std::string& why);

 private:
  struct Pending {
    uint8_t type = 0;
    std::string path, path2, handle, mode;
  };
  struct OpenFile {
    std::string path, mode;
    uint64_t read = 0, written = 0;
  };
  Status feed(std::string& buf, std::string_view bytes, bool from_client);
  Status on_request(uint8_t type, std::string_view body);
  Status on_response(uint8_t type, std::string_view body);

  std::string client_buf_, server_buf_;
  std::map<uint32_t, Pending> pending_;
  std::map<std::string, OpenFile> open_;
  std::vector<FileEvent> events_;
};

}  // namespace bastion::recorder
