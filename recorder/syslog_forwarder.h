// SyslogForwarder: sends audit records, in sequence order, as RFC 5424
// messages to a collector, so a copy of the chain lives outside the gateway.
// Each message carries the record's seq and hash as structured data
// ([bastion@32473 seq="N" hash="..."]): a collector deduplicates by seq.
//
// Transports and what they promise:
//  - udp://HOST:PORT, unix:PATH: datagrams, fire-and-forget. Sent from the
//    caller's thread without blocking; lost if the collector is down, and
//    nothing written while bastiond was stopped is sent (it starts at the
//    newest record).
//  - tcp://HOST:PORT (RFC 6587 octet counting), tls://HOST:PORT (RFC 5425):
//    at least once, in order. A thread owned by the forwarder reads records
//    after a persisted cursor (SyslogCursor, or the database's with
//    shared_cursor) through its own database connection (read-only unless
//    shared_cursor), sends them, waits until the collector's TCP stack
//    has acknowledged every byte, and only then advances the cursor. After a
//    drop it reconnects (backoff 0.5 s .. 10 s) and resends from the cursor,
//    so a record may arrive twice, never out of order within a connection.
//    "Acknowledged" is the peer's kernel: a collector that crashes after the
//    ACK but before writing the record loses it.
// Checkpoint lines (send_line) are best effort on every transport: on
// tcp/tls they are queued in memory (at most 256), sent after the records
// committed before them and resent after a drop, but lost on restart (the
// checkpoints themselves stay in the database).
//
// Contract: forwarding never blocks or fails an access decision; the
// caller's calls (forward_new, send_line) never wait on the network.
// Records are read after they commit, so a record is forwarded only once it
// is part of the chain. Thread-safety: one owner thread calls the methods.
// fork(): a child must call abandon_after_fork() before destroying it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "common/unique_fd.h"
#include "recorder/audit_log.h"

namespace bastion::recorder {

class SyslogStream;

struct SyslogOptions {
  std::string target;       // "udp://HOST:PORT", "unix:PATH", "tcp://HOST:PORT", "tls://HOST:PORT"
  std::string ca_file;      // tls: PEM CA certificates for the collector; "" = the system trust store
  std::string cert_file;    // tls: client certificate (PEM chain) for mutual TLS; "" = none
  std::string key_file;     // tls: its private key (PEM); with cert_file
  std::string database;     // tcp/tls: the state database (read-only)
  std::string cursor_file;  // tcp/tls: the delivery cursor file
  // tcp/tls on a database several gateway nodes share (PostgreSQL): the
  // cursor lives in the database (AuditLog::syslog_cursor), and only an
  // active forwarder delivers (set_active: the node that leads the cluster),
  // so the collector gets one copy, and the next lead carries on where the
  // last one's collector acknowledged. cursor_file is then only read, once:
  // a cursor a single node left there is where delivery resumes if the
  // database has none for the target yet.
  bool shared_cursor = false;
  std::string node;  // shared_cursor: this node's name, recorded with the cursor
  // tcp/tls, when there is no cursor yet (or it names another target):
  // true = send the whole retained log, false = start after the newest record.
  bool start_from_oldest = true;
  std::function<void(const std::string&)> log;  // the daemon log; called from the delivery thread
};

class SyslogForwarder {
 public:
  // Checks the whole configuration (target, TLS files, cursor file) and, for
  // tcp/tls, starts the delivery thread. An error is one line for the log.
  static Result<SyslogForwarder> open(const SyslogOptions& opts);
  SyslogForwarder(SyslogForwarder&&) noexcept;
  SyslogForwarder& operator=(SyslogForwarder&&) noexcept;
  ~SyslogForwarder();  // stops the delivery thread (promptly, even with a dead collector)

  // Datagrams: sends every record after the last one sent (starting from the
  // newest at open), read from `log`. Streams: wakes the delivery thread
  // (`log` unused: the thread reads through its own connection).
  Status forward_new(AuditLog& log);
  void send_line(const std::string& msgid, int severity, const std::string& text);
  // shared_cursor streams: whether this node delivers (starts inactive);
  // becoming active re-reads the cursor from the database. Otherwise a no-op.
  void set_active(bool active);
  // In the child of fork(): forget the delivery thread (it does not exist
  // there) without touching its state.
  void abandon_after_fork();

  static std::string format(int severity, const std::string& msgid, const std::string& structured,
                            const std::string& text, int64_t ts_micros);

 private:
  SyslogForwarder();
  UniqueFd fd_;
  int64_t last_seq_ = -1;
  std::unique_ptr<SyslogStream> stream_;
};

}  // namespace bastion::recorder
