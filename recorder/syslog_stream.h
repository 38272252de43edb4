// Internal to recorder/: the delivery thread behind a tcp:// or tls://
// SyslogForwarder. It reads the audit log through its own read-only SQLite
// connection, sends records after the persisted cursor, waits until the
// collector's TCP stack has acknowledged them, then advances the cursor.
//
// Thread-safety: notify(), enqueue_line() and the destructor may be called
// from the owning thread while the delivery thread runs. fork(): the thread
// makes its library calls under fork_gate(), so the child inherits no lock
// it held; the child must never destroy a SyslogStream (it would join a
// thread it does not have): SyslogForwarder::abandon_after_fork() leaks it.
// The thread is started with every signal blocked.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/database.h"
#include "common/result.h"

#include "recorder/syslog_cursor.h"
#include "recorder/syslog_transport.h"

namespace bastion::recorder {

// RFC 5424 messages for the audit records after `after_seq`, oldest first
// (at most `limit`); defined in syslog_forwarder.cpp. Throws DatabaseError.
struct AuditMessage {
  int64_t seq;
  std::string text;
};
std::vector<AuditMessage> read_audit_messages(Database& db, int64_t after_seq, int limit);
// A read-only connection to the audit log at PATH, for a reader of its own
// (the delivery thread); defined in syslog_forwarder.cpp. Throws DatabaseError.
// `writes`: a connection that may also write (the shared cursor).
Database open_audit_reader(const std::string& path, int busy_timeout_ms, bool writes = false);

struct SyslogStreamOptions {
  std::string target;  // the configured URL (stored in the cursor file)
  SyslogTarget parsed;
  std::vector<SocketAddress> addrs;
  SslCtx tls;            // null for tcp://
  std::string database;  // state database, opened read-only
  std::string cursor_file;
  SyslogCursor start;          // where to resume
  bool resumed = false;        // `start` came from the cursor file (a gap after it is worth a log line)
  bool shared_cursor = false;  // SyslogOptions::shared_cursor; `start`/`resumed` then only seed an empty database
  std::string node;
  bool start_from_oldest = true;  // shared_cursor: where to start when no cursor exists anywhere
  std::function<void(const std::string&)> log;
  // Records to read and send per batch (one acknowledgement wait each).
  int batch_records = 200;
  int64_t connect_timeout_ms = 5000;
  int64_t write_timeout_ms = 30000;  // a batch written and acknowledged within this
  int64_t poll_interval_ms = 1000;   // look for new records at least this often
  int64_t backoff_min_ms = 500, backoff_max_ms = 10000;
};

class SyslogStream {
 public:
  static Result<std::unique_ptr<SyslogStream>> start(SyslogStreamOptions opts);
  ~SyslogStream();
  SyslogStream(const SyslogStream&) = delete;
  SyslogStream& operator=(const SyslogStream&) = delete;

  // New records were committed: look now rather than at the next poll.
  void notify();
  // A message (not an audit record) to send after the records committed before it.
  void enqueue_line(std::string message);
  // shared_cursor: deliver (true) or stay idle, disconnected (false).
  void set_active(bool active);

 private:
  struct Impl;
  explicit SyslogStream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace bastion::recorder
