// SftpAuditor: watches an SFTP conversation (both directions, as the relay
// sees it) and turns it into file events for the audit log. `sftp` and modern
// `scp` both speak SFTP (draft-ietf-secsh-filexfer-02, version 3).
//
// Contract: a parser of untrusted input. Bytes may arrive split anywhere;
// packets are reassembled with a size limit. Nothing here can crash or grow
// without bound. client_data()/server_data() return an error when the channel
// must end; the caller then forwards nothing more of that channel (not even
// the rest of the chunk it just showed us) and closes it:
//   - a malformed packet (a stream we cannot parse is one we cannot audit);
//   - a protocol violation: a request id reused while a request with that id
//     is outstanding, a reply to no outstanding request or of the wrong type,
//     success on a handle this channel never opened, a version other than 3;
//   - a refused request: an EXTENDED request off the allow-list below, or a
//     request type version 3 does not define. Its event (refused) is queued
//     before the error is returned. SECURITY: the target never sees it complete,
//     because every request is shown to us before it is forwarded.
//
// One event per operation, with the server's answer, except READ, WRITE and
// READDIR, which are summed into the handle's "close" event (bytes, entries).
// Actions: open, opendir, close, remove, rename, mkdir, rmdir, setstat,
// fsetstat, stat, lstat, fstat, realpath, readlink, symlink, and for the
// allowed extensions: rename (posix-rename@openssh.com), hardlink, fsync,
// statvfs, fstatvfs, lsetstat, limits, expand-path, copy-data, home-directory,
// users-groups-by-id. Refused requests: "extension" or "request".
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace bastion {
class WireReader;
}

namespace bastion::recorder {

struct FileEvent {
  std::string action;          // see above
  std::string path;            // the file; for handle requests, the path it was opened with
  std::string path2;           // rename/hardlink/symlink/copy-data target;
                               // realpath/readlink/expand-path/home-directory: the server's answer
  std::string mode;            // open: "read", "write", "read+write" (CREAT, TRUNC, APPEND write); opendir: "list"
  std::string flags;           // open: the flags asked for, e.g. "READ|CREAT|TRUNC"
  std::string detail;          // attributes set ("mode=04755 uid=0"), other arguments, "entries=N" for a directory
  std::string extension;       // EXTENDED requests: the extension name as sent
  uint64_t bytes_read = 0;     // close: target -> client (download)
  uint64_t bytes_written = 0;  // close: client -> target (upload), as sent
  bool ok = true;
  bool refused = false;  // refused by the auditor: never reached the target
  std::string status;    // "ok", the server's failure text, or why it was refused
};

class SftpAuditor {
 public:
  static constexpr size_t kMaxPacket = 256 * 1024 + 1024;
  struct Rule;  // what a request carries and what answers it (private to sftp_audit.cpp)

  Status client_data(std::string_view bytes);  // client -> target
  Status server_data(std::string_view bytes);  // target -> client
  std::vector<FileEvent> take_events();
  // Files still open at the end (a channel that ends without CLOSE).
  std::vector<FileEvent> close_all(const std::string& why);

 private:
  struct Pending {
    uint8_t type = 0;
    uint8_t reply = 0;  // the reply type expected besides STATUS (0: STATUS only)
    FileEvent event;
    std::string handle, handle2;  // handle requests: the handle(s) named (copy-data: from, to)
    bool needs_handle = false;
    bool handle_known = false;  // at the reply: every handle it names is open in this channel
    uint64_t bytes = 0;         // WRITE: bytes sent
    bool recorded = true;       // false for READ, WRITE, READDIR (summed at close)
  };
  struct OpenFile {
    FileEvent opened;  // the open/opendir event
    uint64_t read = 0, written = 0, entries = 0;
  };
  Status feed(std::string& buf, std::string_view bytes, bool from_client);
  Status on_request(uint8_t type, std::string_view body);
  Status on_response(uint8_t type, std::string_view body);
  Result<Pending> parse_request(uint8_t type, WireReader& r);
  Status parse_path_args(const Rule& rule, WireReader& r, FileEvent& e);
  Status parse_handle_args(const Rule& rule, WireReader& r, Pending& p);
  void resolve_handles(Pending& p);
  Error refuse(FileEvent e, const std::string& why);
  Status on_success_reply(Pending& p, uint8_t type, WireReader& r);
  void finish(Pending& p, bool ok, std::string status);

  std::string client_buf_, server_buf_;
  std::map<uint32_t, Pending> pending_;
  std::map<std::string, OpenFile> open_;
  std::vector<FileEvent> events_;
};

}  // namespace bastion::recorder
