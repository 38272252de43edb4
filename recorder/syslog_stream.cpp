#include "recorder/syslog_stream.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "common/clock.h"
#include "common/database.h"
#include "common/database_sql.h"
#include "recorder/audit_log.h"

namespace bastion::recorder {
namespace {

constexpr size_t kMaxQueuedLines = 256;
constexpr int64_t kFailureLogEveryMs = 60000;
// Short: the thread holds the fork gate while it reads, and a busy database
// is simply retried after the backoff.
constexpr int kBusyTimeoutMs = 250;

// Doubling delay between reconnection attempts (recorder/ may not use gateway/app/backoff.h).
class Backoff {
 public:
  Backoff(int64_t min_ms, int64_t max_ms) : min_(min_ms), max_(max_ms), next_(min_ms) {}
  int64_t next() {
    int64_t d = next_;
    next_ = std::min(max_, next_ * 2);
    return d;
  }
  void reset() { next_ = min_; }

 private:
  int64_t min_, max_, next_;
};

}  // namespace

struct SyslogStream::Impl {
  explicit Impl(SyslogStreamOptions o)
      : opts(std::move(o)),
        wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
        link(opts.parsed, opts.addrs, opts.tls.get(), wake.get(), &stopping),
        cursor(opts.start),
        backoff(opts.backoff_min_ms, opts.backoff_max_ms),
        active(!opts.shared_cursor) {}

  void run();
  Result<bool> step();  // one batch; false when there was nothing to send
  Result<std::vector<AuditMessage>> read_batch();
  std::vector<std::string> take_lines();
  void put_back(std::vector<std::string> taken);
  void pause(int64_t ms, bool until_wake);
  void failed(const std::string& why);
  void delivered();
  Status load_shared_cursor();
  void open_db() { db.emplace(open_audit_reader(opts.database, kBusyTimeoutMs, opts.shared_cursor)); }
  void log(const std::string& m) {
    std::lock_guard gate(fork_gate());
    if (opts.log) opts.log(m);
  }
  int64_t read_newest() {  // under the gate; throws DatabaseError
    Statement q(*db, "SELECT COALESCE(MAX(seq), 0) FROM audit_log");
    q.step();
    return q.column(0).int64();
  }
  std::string behind() const {
    return std::to_string(newest > cursor.seq ? newest - cursor.seq : 0) + " records behind (delivered up to seq " +
           std::to_string(cursor.seq) + ", newest " + std::to_string(newest) + ")";
  }

  SyslogStreamOptions opts;
  UniqueFd wake;
  std::atomic<bool> stopping{false};
  SyslogLink link;
  SyslogCursor cursor;
  Backoff backoff;
  std::optional<Database> db;
  std::atomic<bool> active;    // shared_cursor: this node delivers
  bool shared_loaded = false;  // shared_cursor: `cursor` was read from the database since becoming active
  int64_t newest = 0;
  bool failing = false, ever_connected = false, checked_resume = false;
  int64_t failing_since = 0, next_failure_log = 0;

  std::mutex mu;  // guards lines, dropped_lines
  std::deque<std::string> lines;
  size_t dropped_lines = 0;
  std::thread thread;
};

Result<std::unique_ptr<SyslogStream>> SyslogStream::start(SyslogStreamOptions opts) {
  install_fork_gate();
  auto impl = std::make_unique<Impl>(std::move(opts));
  if (!impl->wake) return make_error(std::string("syslog: eventfd: ") + std::strerror(errno));
  Impl* raw = impl.get();
  // The thread takes no signals: the supervisor blocks SIGTERM, SIGCHLD, ...
  // to read them from a signalfd, and a thread that left them unblocked
  // would receive them instead (SIGTERM's default action ends the process).
  // It also keeps a SIGPIPE from OpenSSL's write() to a reset connection
  // pending on this thread instead of ending the process; the write fails with EPIPE.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  impl->thread = std::thread([raw] { raw->run(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return std::unique_ptr<SyslogStream>(new SyslogStream(std::move(impl)));
}

SyslogStream::SyslogStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SyslogStream::~SyslogStream() {
  if (!impl_) return;
  impl_->stopping = true;
  notify();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void SyslogStream::notify() {
  uint64_t one = 1;
  (void)!::write(impl_->wake.get(), &one, sizeof one);
}

void SyslogStream::set_active(bool active) {
  if (impl_->active.exchange(active) != active) notify();
}

void SyslogStream::enqueue_line(std::string message) {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->lines.size() >= kMaxQueuedLines) {
      impl_->lines.pop_front();
      ++impl_->dropped_lines;
    }
    impl_->lines.push_back(std::move(message));
  }
  notify();
}

// Waits `ms`, or (if `until_wake`) until notified or the socket has
// something to say; returns early on stop.
void SyslogStream::Impl::pause(int64_t ms, bool until_wake) {
  int64_t deadline = steady_ms() + ms;
  while (!stopping) {
    int64_t left = deadline - steady_ms();
    if (left <= 0) return;
    pollfd p[2] = {{wake.get(), POLLIN, 0}, {link.connected() && until_wake ? link.fd() : -1, POLLIN, 0}};
    if (::poll(p, 2, static_cast<int>(left)) <= 0) continue;
    if (p[0].revents) {
      uint64_t n;
      (void)!::read(wake.get(), &n, sizeof n);
      if (until_wake) return;
    }
    if (p[1].revents) {
      if (Status st = link.drain(); !st) {
        link.close();
        failed(st.message());
      }
      return;
    }
  }
}

void SyslogStream::Impl::failed(const std::string& why) {
  if (stopping) return;
  int64_t now = steady_ms();
  if (!failing) {
    failing = true;
    std::lock_guard gate(fork_gate());
    try {  // for the "behind" figure; the failure may have come before any read
      if (!db) open_db();
      newest = read_newest();
    } catch (const DatabaseError&) {
      db.reset();
    }
    failing_since = now;
    next_failure_log = 0;
  }
  if (now >= next_failure_log) {  // the first failure, then at most once a minute
    next_failure_log = now + kFailureLogEveryMs;
    log("syslog: delivery to " + opts.target + " failing: " + why + "; " + behind() + "; retrying");
  }
}

void SyslogStream::Impl::delivered() {
  if (failing) {
    log("syslog: delivering to " + opts.target + " again after " +
        std::to_string((steady_ms() - failing_since) / 1000) + "s; " + behind());
  }
  failing = false;
  backoff.reset();
}

Result<std::vector<AuditMessage>> SyslogStream::Impl::read_batch() {
  std::vector<AuditMessage> batch;
  {
    std::lock_guard gate(fork_gate());
    try {
      if (!db) open_db();
      batch = read_audit_messages(*db, cursor.seq, opts.batch_records);
      newest = read_newest();
    } catch (const DatabaseError& e) {
      db.reset();
      return database_error("reading the audit log: ", e);
    }
  }
  if (!checked_resume) {
    checked_resume = true;
    if (opts.resumed && !batch.empty() && batch.front().seq > cursor.seq + 1) {
      log("syslog: records " + std::to_string(cursor.seq + 1) + " to " + std::to_string(batch.front().seq - 1) +
          " were purged before they reached " + opts.target);
    }
    if (newest < cursor.seq) {
      log("syslog: the cursor (seq " + std::to_string(cursor.seq) + ") is ahead of the audit log (newest " +
          std::to_string(newest) + "); was the database replaced? Records after seq " + std::to_string(cursor.seq) +
          " will be sent");
    }
  }
  return batch;
}

std::vector<std::string> SyslogStream::Impl::take_lines() {
  std::lock_guard lock(mu);
  std::vector<std::string> out(std::make_move_iterator(lines.begin()), std::make_move_iterator(lines.end()));
  lines.clear();
  if (dropped_lines > 0) {
    log("syslog: " + std::to_string(dropped_lines) + " checkpoint lines dropped while " + opts.target +
        " was unreachable");
    dropped_lines = 0;
  }
  return out;
}

void SyslogStream::Impl::put_back(std::vector<std::string> taken) {
  std::lock_guard lock(mu);
  lines.insert(lines.begin(), std::make_move_iterator(taken.begin()), std::make_move_iterator(taken.end()));
}

Result<bool> SyslogStream::Impl::step() {
  // Lines (checkpoints) go after the records committed before them: taken
  // before the read, and sent only if the read reached the end of the log.
  std::vector<std::string> extra = take_lines();
  auto batch = read_batch();
  if (!batch || batch->size() >= static_cast<size_t>(opts.batch_records)) {
    put_back(std::move(extra));
    extra.clear();
  }
  if (!batch) return batch.error();
  if (batch->empty() && extra.empty()) return false;
  std::string out;
  for (const auto& m : *batch) out += frame_octet_counted(m.text);
  for (const auto& l : extra) out += frame_octet_counted(l);
  int64_t deadline = steady_ms() + opts.write_timeout_ms;
  Status st = link.write_all(out, deadline);
  if (st) st = link.wait_acknowledged(deadline);
  if (!st) {
    put_back(std::move(extra));  // resent with the next attempt
    return st.error();
  }
  if (!batch->empty()) {
    cursor.seq = batch->back().seq;
    Status saved;
    if (opts.shared_cursor) {
      std::lock_guard gate(fork_gate());
      try {
        if (!db) open_db();
        saved = AuditLog(*db, SystemClock::instance()).set_syslog_cursor(opts.target, cursor.seq, opts.node);
      } catch (const DatabaseError& e) {
        db.reset();
        saved = database_error("cannot record the syslog cursor: ", e);
      }
    } else {
      // Plain system calls (no library lock), so outside the fork gate: an
      // fsync must not hold up the supervisor's next fork.
      saved = save_syslog_cursor(opts.cursor_file, cursor);
    }
    // Delivered but not remembered: a restart resends these (duplicates, never a gap).
    if (!saved) log("syslog: " + saved.message());
  }
  return true;
}

// shared_cursor, on becoming active: deliver from where the collector has
// the log by the database's record (whichever node delivered before), or
// else from a cursor file this node kept alone, or else from syslog_start.
Status SyslogStream::Impl::load_shared_cursor() {
  std::string from;
  {
    std::lock_guard gate(fork_gate());
    try {
      if (!db) open_db();
      AuditLog audit(*db, SystemClock::instance());
      auto row = audit.syslog_cursor(opts.target);
      if (!row) return row.error().prefixed("reading the syslog cursor: ");
      if (*row) {
        cursor.seq = (*row)->seq;
        opts.resumed = true;
        from = "after seq " + std::to_string(cursor.seq) + " (delivered by node " + (*row)->node + ")";
      } else {
        if (opts.resumed) {
          cursor.seq = opts.start.seq;
          from = "after seq " + std::to_string(cursor.seq) + " (this node's cursor file)";
        } else {
          cursor.seq = opts.start_from_oldest ? 0 : read_newest();
          from = "after seq " + std::to_string(cursor.seq) + " ([audit] syslog_start: nothing delivered yet)";
        }
        if (auto st = audit.set_syslog_cursor(opts.target, cursor.seq, opts.node); !st) {
          return st.error().prefixed("recording the syslog cursor: ");
        }
      }
    } catch (const DatabaseError& e) {
      db.reset();
      return database_error("reading the syslog cursor: ", e);
    }
  }
  checked_resume = false;
  log("syslog: this node delivers to " + opts.target + " now, " + from);
  return {};
}

void SyslogStream::Impl::run() {
  while (!stopping) {
    if (!active) {
      // Another node delivers: no connection, nothing read, until told.
      if (link.connected()) link.close();
      shared_loaded = false;
      pause(opts.poll_interval_ms, true);
      continue;
    }
    if (opts.shared_cursor && !shared_loaded) {
      if (Status st = load_shared_cursor(); !st) {
        failed(st.message());
        pause(backoff.next(), false);
        continue;
      }
      shared_loaded = true;
    }
    if (!link.connected()) {
      Status st = link.connect(steady_ms() + opts.connect_timeout_ms);
      if (!st) {
        failed(st.message());
        pause(backoff.next(), false);
        continue;
      }
      if (!ever_connected)
        log("syslog: connected to " + opts.target + "; resuming after seq " + std::to_string(cursor.seq));
      ever_connected = true;
    }
    Result<bool> sent = step();
    if (!sent) {
      link.close();
      failed(sent.error().message);
      pause(backoff.next(), false);
    } else if (*sent) {
      delivered();
    } else {
      pause(opts.poll_interval_ms, true);
    }
  }
  link.close();
  std::lock_guard gate(fork_gate());
  db.reset();
}

}  // namespace bastion::recorder
