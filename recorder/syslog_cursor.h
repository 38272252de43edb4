// SyslogCursor: how far a stream syslog collector (tcp://, tls://) has
// received the audit log, kept in a small file in the state directory so
// delivery resumes where it stopped after a restart or an outage. (On a
// database several nodes share, the cursor is the database's instead,
// AuditLog::syslog_cursor; this file only seeds it: syslog_forwarder.h.)
//
// Contract: `seq` is the last audit record the collector's TCP stack
// acknowledged; every record after it is (re)sent. The file names the target
// it belongs to. save() is atomic and durable (temp file, fsync, rename,
// fsync of the directory). load() never resets silently: a file that exists
// but cannot be read or parsed is an error that names the file and says what
// to do. Plain values; no shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace bastion::recorder {

struct SyslogCursor {
  std::string target;  // e.g. "tls://logs.example:6514"
  int64_t seq = 0;     // last delivered audit record; 0 = none yet
};

// The file's text, and its parser (the error says which line is wrong).
std::string format_syslog_cursor(const SyslogCursor& c);
Result<SyslogCursor> parse_syslog_cursor(std::string_view text);

// nullopt if `path` does not exist (never delivered anything).
Result<std::optional<SyslogCursor>> load_syslog_cursor(const std::string& path);
Status save_syslog_cursor(const std::string& path, const SyslogCursor& c);

}  // namespace bastion::recorder
