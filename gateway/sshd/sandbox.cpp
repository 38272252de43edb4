#include "gateway/sshd/sandbox.h"

#include <dirent.h>
#include <linux/capability.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string_view>

namespace bastion::gateway {
namespace {

// Allowed without looking at arguments. Grouped by who needs them.
constexpr const char* kAllowed[] = {
    // memory and threads' bookkeeping (glibc, the allocator, ASan builds)
    "brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "futex", "set_robust_list", "rseq",
    "set_tid_address", "sched_yield", "sched_getaffinity", "getrlimit", "prlimit64",
    // descriptors and files (SQLite, recordings, the HR/recording directories, name service files)
    "read", "write", "readv", "writev", "pread64", "pwrite64", "lseek", "close", "openat", "open", "fstat",
    "newfstatat", "stat", "lstat", "statx", "fsync", "fdatasync", "ftruncate", "fallocate", "fcntl", "flock",
    "unlink", "unlinkat", "rename", "renameat", "renameat2", "mkdir", "mkdirat", "access", "faccessat",
    "faccessat2", "readlink", "readlinkat", "getcwd", "getdents64", "fchmod", "fchown", "umask", "dup", "dup2",
    "dup3", "pipe2",
    // sockets: the client, the monitor channel, the upstream connection, name resolution
    "connect", "getsockname", "getpeername", "setsockopt", "getsockopt", "sendto", "recvfrom", "sendmsg",
    "recvmsg", "sendmmsg", "recvmmsg", "shutdown", "poll", "ppoll", "select", "pselect6", "epoll_create1",
    "epoll_ctl", "epoll_wait", "epoll_pwait",
    // time, timers (the login grace alarm), randomness
    "clock_gettime", "gettimeofday", "time", "nanosleep", "clock_nanosleep", "alarm", "setitimer", "getitimer",
    "getrandom",
    // identity and signals (its own)
    "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getgroups", "uname", "sysinfo",
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "prctl",
    "exit", "exit_group", "restart_syscall",
};

// What a compromised process would reach for: these kill it.
constexpr const char* kFatal[] = {
    "execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root",
    "chroot", "unshare", "setns", "clone3", "fork", "vfork", "bpf", "perf_event_open", "kexec_load",
    "kexec_file_load", "init_module", "finit_module", "delete_module", "setuid", "setgid", "setreuid", "setregid",
    "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid", "capset", "keyctl", "add_key", "request_key",
    "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "personality", "pidfd_open",
    "pidfd_getfd", "process_madvise", "memfd_create", "kcmp", "open_by_handle_at", "name_to_handle_at",
    "swapon", "swapoff", "reboot", "syslog", "quotactl", "acct", "settimeofday", "clock_settime", "adjtimex",
};

struct Ctx {
  scmp_filter_ctx ctx;
  ~Ctx() { seccomp_release(ctx); }
};

Status add(scmp_filter_ctx ctx, uint32_t action, const char* name, std::initializer_list<scmp_arg_cmp> args = {}) {
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) return {};  // not a system call on this architecture
  int rc = seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(args.size()), args.begin());
  if (rc != 0) return make_error(std::string("seccomp rule for ") + name + ": " + std::strerror(-rc));
  return {};
}

// Empties every capability set. A root connection process keeps uid 0 for
// now (it still opens root-owned files: the database, recordings) but loses
// the powers beyond file ownership: no reading other processes' memory, no
// bypassing file permissions, no binding, no raw sockets.
Status drop_capabilities() {
  for (int cap = 0; cap <= 63; ++cap) {
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) break;  // past the last capability
    // Without CAP_SETPCAP (not root) the bounding set cannot shrink; exec is killed anyway.
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EPERM) {
      return make_error(std::string("cannot drop capability bound: ") + std::strerror(errno));
    }
  }
  (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capset, &header, data) != 0) return make_error(std::string("capset: ") + std::strerror(errno));
  return {};
}

}  // namespace

void close_inherited_fds(std::initializer_list<int> keep, const std::string& keep_path_prefix) {
  int high = static_cast<int>(sysconf(_SC_OPEN_MAX));
  if (high <= 0 || high > (1 << 20)) high = 1 << 20;
  // The open descriptors, from /proc (cheaper than trying a million numbers).
  std::vector<int> open;
  if (DIR* d = opendir("/proc/self/fd")) {
    int own = dirfd(d);
    while (dirent* e = readdir(d)) {
      int fd = std::atoi(e->d_name);
      if (e->d_name[0] != '.' && fd >= 3 && fd != own) open.push_back(fd);
    }
    closedir(d);
  } else {
    for (int fd = 3; fd < high; ++fd) open.push_back(fd);
  }
  // /proc shows canonical paths; the configured one may have symlinks or "..".
  std::error_code ec;
  std::string prefix = keep_path_prefix.empty() ? "" : std::filesystem::weakly_canonical(keep_path_prefix, ec).string();
  if (ec) prefix = keep_path_prefix;
  for (int fd : open) {
    if (std::find(keep.begin(), keep.end(), fd) != keep.end()) continue;
    if (!prefix.empty()) {
      char target[4096];
      std::string link = "/proc/self/fd/" + std::to_string(fd);
      ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
      if (n > 0 && std::string_view(target, static_cast<size_t>(n)).starts_with(prefix)) continue;
    }
    ::close(fd);
  }
}

Status enter_connection_sandbox() {
  // SECURITY: without these, a compromised connection process could gain
  // privileges through a setuid program, or be read (and read others of the
  // same user) through ptrace and /proc/PID/mem.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return make_error(std::string("no_new_privs: ") + std::strerror(errno));
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return make_error(std::string("dumpable: ") + std::strerror(errno));
  if (auto st = drop_capabilities(); !st) return st;
  Ctx c{seccomp_init(SCMP_ACT_ERRNO(EPERM))};
  if (c.ctx == nullptr) return make_error("seccomp_init failed");
  for (const char* name : kAllowed) {
    if (auto st = add(c.ctx, SCMP_ACT_ALLOW, name); !st) return st;
  }
  for (const char* name : kFatal) {
    if (auto st = add(c.ctx, SCMP_ACT_KILL_PROCESS, name); !st) return st;
  }
  auto self = static_cast<scmp_datum_t>(getpid());
  Status st;
  // Signals only to itself (abort() raises SIGABRT): never to the supervisor or another session.
  if (!(st = add(c.ctx, SCMP_ACT_ALLOW, "kill", {SCMP_A0(SCMP_CMP_EQ, self)}))) return st;
  if (!(st = add(c.ctx, SCMP_ACT_ALLOW, "tgkill", {SCMP_A0(SCMP_CMP_EQ, self)}))) return st;
  if (!(st = add(c.ctx, SCMP_ACT_ALLOW, "tkill", {SCMP_A0(SCMP_CMP_EQ, self)}))) return st;
  // Sockets of the families the relay and name resolution use.
  for (int family : {AF_INET, AF_INET6, AF_UNIX, AF_NETLINK}) {
    if (!(st = add(c.ctx, SCMP_ACT_ALLOW, "socket", {SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(family))}))) {
      return st;
    }
  }
  // Threads, never new processes: clone without CLONE_THREAD kills.
  if (!(st = add(c.ctx, SCMP_ACT_ALLOW, "clone", {SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)}))) return st;
  if (!(st = add(c.ctx, SCMP_ACT_KILL_PROCESS, "clone", {SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0)}))) return st;
  // ioctl: non-blocking mode, bytes waiting, and "is this a terminal" only (no TIOCSTI).
  for (unsigned long req : {static_cast<unsigned long>(FIONBIO), static_cast<unsigned long>(FIONREAD),
                            static_cast<unsigned long>(TCGETS), static_cast<unsigned long>(FIOCLEX)}) {
    if (!(st = add(c.ctx, SCMP_ACT_ALLOW, "ioctl", {SCMP_A1(SCMP_CMP_EQ, req)}))) return st;
  }
  if (int rc = seccomp_load(c.ctx); rc != 0) return make_error(std::string("seccomp_load: ") + std::strerror(-rc));
  return {};
}

std::vector<std::string> sandbox_allowed_syscalls() {
  std::vector<std::string> out(std::begin(kAllowed), std::end(kAllowed));
  for (const char* s : {"kill(self)", "tgkill(self)", "tkill(self)", "socket(AF_INET|AF_INET6|AF_UNIX|AF_NETLINK)",
                        "clone(CLONE_THREAD)", "ioctl(FIONBIO|FIONREAD|TCGETS|FIOCLEX)"}) {
    out.emplace_back(s);
  }
  return out;
}

std::vector<std::string> sandbox_fatal_syscalls() {
  std::vector<std::string> out(std::begin(kFatal), std::end(kFatal));
  out.emplace_back("clone (a new process)");
  return out;
}

}  // namespace bastion::gateway
