#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace bastion::e2e {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void exec_child(const std::vector<std::string>& argv, const Env& env) {
  for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execvp(args[0], args.data());
  std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
  _exit(127);
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

ProcResult run(const std::vector<std::string>& argv, const Env& env, const std::string& input, int timeout_ms) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) throw std::runtime_error("pipe");
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    setpgid(0, 0);
    exec_child(argv, env);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  ProcResult r;
  size_t written = 0;
  if (input.empty()) {
    close(in[1]);
    in[1] = -1;
  }
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  bool out_open = true, err_open = true;
  while (out_open || err_open) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      kill(-pid, SIGKILL);
      break;
    }
    std::vector<pollfd> fds;
    if (out_open) fds.push_back({out[0], POLLIN, 0});
    if (err_open) fds.push_back({err[0], POLLIN, 0});
    if (in[1] >= 0) fds.push_back({in[1], POLLOUT, 0});
    if (poll(fds.data(), fds.size(), static_cast<int>(std::min<long>(left, 500))) < 0 && errno != EINTR) break;
    for (auto& f : fds) {
      if (f.fd == in[1] && (f.revents & (POLLOUT | POLLERR | POLLHUP))) {
        ssize_t n = write(in[1], input.data() + written, std::min<size_t>(input.size() - written, 65536));
        if (n > 0) written += static_cast<size_t>(n);
        if (n < 0 && errno != EAGAIN) written = input.size();
        if (written >= input.size()) {
          close(in[1]);
          in[1] = -1;
        }
      } else if (f.revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[65536];
        ssize_t n = read(f.fd, buf, sizeof buf);
        std::string& dst = (f.fd == out[0]) ? r.out : r.err;
        if (n > 0) {
          dst.append(buf, static_cast<size_t>(n));
        } else {
          (f.fd == out[0] ? out_open : err_open) = false;
        }
      }
    }
  }
  if (in[1] >= 0) close(in[1]);
  close(out[0]);
  close(err[0]);
  int status = 0;
  // The pipes closed; the process may still be exiting.
  for (;;) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (Clock::now() > deadline + std::chrono::seconds(5)) {
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      r.exit_code = -1;
      return r;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r.exit_code = (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ? -1 : decode_status(status);
  return r;
}

Process::Process(const std::vector<std::string>& argv, const std::string& log_path, const Env& env) {
  int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot open " + log_path);
  pid_ = fork();
  if (pid_ == 0) {
    // A test binary that is killed (ctest's timeout) takes its daemons with
    // it instead of leaving them running without their directories.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(fd, 1);
    dup2(fd, 2);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    exec_child(argv, env);
  }
  close(fd);
}

Process::Process(Process&& o) noexcept : pid_(o.pid_), status_(o.status_) { o.pid_ = -1; }
Process& Process::operator=(Process&& o) noexcept {
  if (this != &o) {
    stop();
    pid_ = o.pid_;
    status_ = o.status_;
    o.pid_ = -1;
  }
  return *this;
}
Process::~Process() { stop(); }

bool Process::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t w = waitpid(pid_, &status, WNOHANG);
  if (w == pid_) {
    status_ = decode_status(status);
    pid_ = -1;
    return false;
  }
  return true;
}

int Process::wait(int timeout_ms) {
  wait_for([&] { return !running(); }, timeout_ms);
  return pid_ <= 0 ? status_ : -1;
}

int Process::stop(int timeout_ms) {
  if (!running()) return status_;
  kill(pid_, SIGTERM);
  if (wait(timeout_ms) == -1 && pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    status_ = decode_status(status);
    pid_ = -1;
  }
  return status_;
}

bool wait_for(const std::function<bool()>& pred, int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// A TCP connection to 127.0.0.1:`port`: its descriptor, or -1.
int connect_loopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
  close(fd);
  return -1;
}

bool port_open(int port) {
  int fd = connect_loopback(port);
  if (fd >= 0) close(fd);
  return fd >= 0;
}

bool ssh_banner(int port, int timeout_ms) {
  int fd = connect_loopback(port);
  std::string got;
  if (fd >= 0) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (got.size() < 4 && Clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (poll(&p, 1, static_cast<int>(std::max<int64_t>(left, 1))) <= 0) break;
      char buf[64];
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    close(fd);
  }
  return got.starts_with("SSH-");
}

std::string http_get(int port, const std::string& path) {
  int fd = connect_loopback(port);
  std::string out;
  if (fd >= 0) {
    std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[8192];
      pollfd p{fd, POLLIN, 0};
      while (poll(&p, 1, 30000) > 0) {  // a loaded machine answers late; a dead one closes
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
      }
    }
    close(fd);
  }
  return out;
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text, unsigned mode) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  chmod(path.c_str(), mode);
}

std::string sha256_file(const std::string& path) {
  auto r = run({"sha256sum", path});
  return r.out.substr(0, 64);
}

}  // namespace bastion::e2e

namespace bastion::e2e {

std::vector<pid_t> child_pids(pid_t pid) {
  std::vector<pid_t> out;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat = read_text(entry.path().string() + "/stat");
    auto close_paren = stat.rfind(')');
    if (close_paren == std::string::npos) continue;
    std::istringstream in(stat.substr(close_paren + 2));
    std::string state;
    pid_t ppid = 0;
    in >> state >> ppid;
    if (ppid == pid) out.push_back(std::stoi(name));
  }
  return out;
}

std::vector<pid_t> connection_pids(pid_t bastiond) {
  std::vector<pid_t> out;
  for (pid_t p : child_pids(bastiond)) {
    std::string comm = read_text("/proc/" + std::to_string(p) + "/comm");
    if (comm.rfind("bastiond-web", 0) != 0) out.push_back(p);
  }
  return out;
}

pid_t web_pid(pid_t bastiond) {
  for (pid_t p : child_pids(bastiond)) {
    if (read_text("/proc/" + std::to_string(p) + "/comm").rfind("bastiond-web", 0) == 0) return p;
  }
  return 0;
}

long proc_status_kib(pid_t pid, const std::string& field) {
  std::istringstream in(read_text("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

}  // namespace bastion::e2e

#include <pty.h>
#include <sys/ioctl.h>

namespace bastion::e2e {

PtySession::PtySession(const std::vector<std::string>& argv, int rows, int cols) {
  winsize ws{static_cast<unsigned short>(rows), static_cast<unsigned short>(cols), 0, 0};
  pid_ = forkpty(&master_, nullptr, nullptr, &ws);
  if (pid_ < 0) throw std::runtime_error("forkpty failed");
  if (pid_ == 0) exec_child(argv, {});
}

PtySession::~PtySession() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (master_ >= 0) close(master_);
}

void PtySession::type(const std::string& keys) {
  size_t done = 0;
  while (done < keys.size()) {
    ssize_t n = write(master_, keys.data() + done, keys.size() - done);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

bool PtySession::read_until(const std::string& needle, int timeout_ms) {
  bool found = wait_for(
      [&] {
        pollfd p{master_, POLLIN, 0};
        while (poll(&p, 1, 0) > 0) {
          char buf[4096];
          ssize_t n = read(master_, buf, sizeof buf);
          if (n <= 0) break;
          screen_.append(buf, static_cast<size_t>(n));
        }
        return screen_.find(needle, consumed_) != std::string::npos;
      },
      timeout_ms);
  if (found) consumed_ = screen_.find(needle, consumed_) + needle.size();
  return found;
}

void PtySession::resize(int rows, int cols) {
  winsize ws{static_cast<unsigned short>(rows), static_cast<unsigned short>(cols), 0, 0};
  ioctl(master_, TIOCSWINSZ, &ws);
  kill(pid_, SIGWINCH);
}

int PtySession::wait_exit(int timeout_ms) {
  int status = 0;
  if (!wait_for([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, timeout_ms)) return -1;
  pid_ = -1;
  return decode_status(status);
}

}  // namespace bastion::e2e
