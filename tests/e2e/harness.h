// E2E harness: run real programs (ssh, scp, sftp, sshd, bastiond, bastionctl)
// with deadlines, never bare sleeps.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace bastion::e2e {

struct ProcResult {
  int exit_code = -1;  // -1: killed at the deadline
  std::string out;
  std::string err;
};

using Env = std::map<std::string, std::string>;

// Runs argv to completion (or kills it at the deadline), feeding `input`.
ProcResult run(const std::vector<std::string>& argv, const Env& env = {}, const std::string& input = "",
               int timeout_ms = 60000);

// A background process; stderr+stdout go to `log_path`. Stopped on destruction.
class Process {
 public:
  Process() = default;
  Process(const std::vector<std::string>& argv, const std::string& log_path, const Env& env = {});
  Process(Process&& o) noexcept;
  Process& operator=(Process&& o) noexcept;
  ~Process();
  [[nodiscard]] pid_t pid() const { return pid_; }
  bool running();
  // SIGTERM, wait up to timeout, then SIGKILL. Returns the exit status.
  int stop(int timeout_ms = 5000);
  int wait(int timeout_ms);

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

// Waits until pred() or the deadline; returns pred()'s last value.
bool wait_for(const std::function<bool()>& pred, int timeout_ms);
int free_port();
bool port_open(int port);
// Whether an SSH server on 127.0.0.1:`port` sends its banner ("SSH-2.0-...")
// within `timeout_ms`: it accepts and serves, not only listens.
bool ssh_banner(int port, int timeout_ms);
// GET `path` from 127.0.0.1:`port` over plain HTTP/1.0: the whole response
// (status line, headers, body), or "" when nothing answers within 30 s.
std::string http_get(int port, const std::string& path);
std::string read_text(const std::string& path);
void write_text(const std::string& path, const std::string& text, unsigned mode = 0644);
std::string sha256_file(const std::string& path);

}  // namespace bastion::e2e

namespace bastion::e2e {
// Direct children of `pid` (from /proc).
std::vector<pid_t> child_pids(pid_t pid);
// bastiond's connection processes: its children but the web process ("bastiond-web").
std::vector<pid_t> connection_pids(pid_t bastiond);
// bastiond's web process ("bastiond-web"), 0 while there is none.
pid_t web_pid(pid_t bastiond);
// A field of /proc/PID/status in KiB (e.g. "VmHWM", "VmRSS"); -1 if unknown.
long proc_status_kib(pid_t pid, const std::string& field);
}  // namespace bastion::e2e

namespace bastion::e2e {
// A program on a pseudo-terminal we control, like a person at a terminal.
class PtySession {
 public:
  PtySession(const std::vector<std::string>& argv, int rows, int cols);
  ~PtySession();
  PtySession(const PtySession&) = delete;
  PtySession& operator=(const PtySession&) = delete;
  void type(const std::string& keys);
  // Reads until `needle` has appeared since the last call that found one.
  bool read_until(const std::string& needle, int timeout_ms = 15000);
  void resize(int rows, int cols);
  // Exit status, or -1 if it did not exit in time.
  int wait_exit(int timeout_ms = 15000);
  [[nodiscard]] const std::string& screen() const { return screen_; }

 private:
  pid_t pid_ = -1;
  int master_ = -1;
  std::string screen_;
  size_t consumed_ = 0;
};
}  // namespace bastion::e2e
