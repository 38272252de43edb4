#include "gateway/sshd/sandbox.h"

#include <dirent.h>
#include <grp.h>
#include <linux/landlock.h>
#include <pwd.h>
#include <sys/stat.h>
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
#include <csignal>
#include <climits>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "common/unique_fd.h"

namespace bastion::gateway {
namespace {

// The tables are grouped by hand, several names a line.
// clang-format off
// Allowed without looking at arguments. Grouped by who needs them.
constexpr const char* kAllowed[] = {
    // memory and threads' bookkeeping (glibc, the allocator, ASan builds)
    "brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "futex", "set_robust_list", "rseq",
    "set_tid_address", "sched_yield", "sched_getaffinity", "getrlimit", "prlimit64",
    // descriptors (recordings arrive open), and reading the name service files
    // (which files: Landlock decides; no creating, renaming, removing or truncating)
    "read", "write", "readv", "writev", "pread64", "pwrite64", "lseek", "close", "openat", "open", "fstat",
    "newfstatat", "stat", "lstat", "statx", "fsync", "fdatasync", "fcntl", "access", "faccessat", "faccessat2",
    "readlink", "readlinkat", "getcwd", "getdents64", "dup", "dup2", "dup3", "pipe2",
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
    "chroot", "unshare", "setns", "fork", "vfork", "bpf", "perf_event_open", "kexec_load",
    "kexec_file_load", "init_module", "finit_module", "delete_module", "setuid", "setgid", "setreuid", "setregid",
    "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid", "capset", "keyctl", "add_key", "request_key",
    "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "personality", "pidfd_open",
    "pidfd_getfd", "process_madvise", "memfd_create", "kcmp", "open_by_handle_at", "name_to_handle_at",
    "swapon", "swapoff", "reboot", "syslog", "quotactl", "acct", "settimeofday", "clock_settime", "adjtimex",
    "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
};
// clang-format on

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

// Empties every capability set: no reading other processes' memory, no
// bypassing file permissions, no binding, no raw sockets (a root bastiond
// whose privsep_user is missing refuses to start, so this is the second line).
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

bool has_capability(int cap) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  return (data[cap / 32].effective & (1u << (cap % 32))) != 0;
}

bool may_switch_user() { return geteuid() == 0 || (has_capability(CAP_SETUID) && has_capability(CAP_SETGID)); }

Status switch_user(uid_t uid, gid_t gid) {
  const uid_t before = ::geteuid();
  if (::setgroups(0, nullptr) != 0) return make_error(std::string("setgroups: ") + std::strerror(errno));
  if (::setresgid(gid, gid, gid) != 0) return make_error(std::string("setresgid: ") + std::strerror(errno));
  if (::setresuid(uid, uid, uid) != 0) return make_error(std::string("setresuid: ") + std::strerror(errno));
  // A bastiond that is not root switches with CAP_SETUID and CAP_SETGID
  // (systemd's AmbientCapabilities), and a change between two non-zero uids
  // keeps them: without this, the connection process could switch back.
  if (auto st = drop_capabilities(); !st) return st;
  // SECURITY: make sure there is no way back, to root or to bastiond's own
  // user (which owns the keys and the database).
  if (::setuid(0) == 0 || (before != uid && ::setuid(before) == 0) || getuid() != uid || geteuid() != uid ||
      getgid() != gid) {
    return make_error("the switch to the unprivileged user did not hold");
  }
  return {};
}

// Landlock (kernel >= 5.13): the ABI version, 0 when unavailable.
int landlock_abi() {
  long v = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return v < 0 ? 0 : static_cast<int>(v);
}

// The kernel's struct as of ABI 6 (older headers declare only the first field).
struct RulesetAttr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};
constexpr uint64_t kTruncate = 1ULL << 14;                                    // ABI 3
constexpr uint64_t kIoctlDev = 1ULL << 15;                                    // ABI 5
constexpr uint64_t kScopeAbstractUnix = 1ULL << 0, kScopeSignal = 1ULL << 1;  // ABI 6

Status restrict_files(const SandboxPlan& plan) {
  const int abi = plan.landlock_abi;
  constexpr uint64_t kRead = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
  uint64_t all = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | kRead | LANDLOCK_ACCESS_FS_REMOVE_DIR |
                 LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |
                 LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
                 LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
  if (abi >= 2) all |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) all |= kTruncate;
  if (abi >= 5) all |= kIoctlDev;
  RulesetAttr attr{all, 0, 0};
  size_t size = sizeof attr.handled_access_fs;
  if (abi >= 6) {
    // No signals to processes outside this one, no abstract sockets of others.
    attr.scoped = kScopeAbstractUnix | kScopeSignal;
    size = sizeof attr;
  }
  UniqueFd ruleset(static_cast<int>(syscall(SYS_landlock_create_ruleset, &attr, size, 0)));
  if (!ruleset) return make_error(std::string("landlock_create_ruleset: ") + std::strerror(errno));
  auto allow = [&](const std::string& path, uint64_t access) -> Status {
    UniqueFd fd(::open(path.c_str(), O_PATH | O_CLOEXEC));
    if (!fd) return {};  // not on this system (e.g. /lib64)
    landlock_path_beneath_attr rule{};
    rule.allowed_access = access & all;
    rule.parent_fd = fd.get();
    if (syscall(SYS_landlock_add_rule, ruleset.get(), LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0) {
      return make_error("landlock rule for " + path + ": " + std::strerror(errno));
    }
    return {};
  };
  // Name resolution and the C library read these; nothing else is readable,
  // and nothing at all writable (recordings arrive as open descriptors).
  for (const char* dir : {"/etc", "/usr", "/lib", "/lib64", "/lib32"}) {
    if (auto st = allow(dir, kRead); !st) return st;
  }
  if (auto st = allow("/dev/null", LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE); !st) return st;
  for (const auto& dir : plan.writable_dirs) {
    if (auto st = allow(dir, kRead | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_MAKE_REG); !st) return st;
    if (auto st = allow("/proc", kRead); !st) return st;  // the sanitizer reads /proc/self/maps
  }
  for (const auto& dir : plan.readable_dirs) {
    if (auto st = allow(dir, kRead); !st) return st;
  }
  if (syscall(SYS_landlock_restrict_self, ruleset.get(), 0) != 0) {
    return make_error(std::string("landlock_restrict_self: ") + std::strerror(errno));
  }
  return {};
}

}  // namespace

void close_inherited_fds(std::initializer_list<int> keep) {
  int high = static_cast<int>(sysconf(_SC_OPEN_MAX));
  if (high <= 0 || high > (1 << 20)) high = 1 << 20;
  // The open descriptors, from /proc (cheaper than trying a million numbers).
  std::vector<int> open;
  if (DIR* d = opendir("/proc/self/fd")) {
    int own = dirfd(d);
    while (dirent* e = readdir(d)) {
      char* end = nullptr;
      long fd = std::strtol(e->d_name, &end, 10);
      if (end == e->d_name || *end != '\0' || fd < 3 || fd > INT_MAX || fd == own) continue;
      open.push_back(static_cast<int>(fd));
    }
    closedir(d);
  } else {
    for (int fd = 3; fd < high; ++fd) open.push_back(fd);
  }
  for (int fd : open) {
    if (std::find(keep.begin(), keep.end(), fd) == keep.end()) ::close(fd);
  }
}

std::string SandboxPlan::describe() const {
  std::string out = switch_user ? "user " + user : "bastiond's own uid (cannot switch users)";
  if (landlock_abi > 0) out += ", Landlock ABI " + std::to_string(landlock_abi);
  else if (!chroot_dir.empty()) out += ", chroot " + chroot_dir + " (no Landlock on this kernel)";
  else out += ", NO file confinement (no Landlock on this kernel, not root)";
  return out + ", seccomp";
}

Result<SandboxPlan> plan_sandbox(SandboxRole role, const std::string& privsep_user, const std::string& state_dir) {
  SandboxPlan plan;
  plan.role = role;
  plan.supervisor = getpid();
  if (may_switch_user()) {
    // SECURITY: like sshd, refuse to run rather than give connection
    // processes bastiond's identity.
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buf(16384);
    int rc = getpwnam_r(privsep_user.c_str(), &pw, buf.data(), buf.size(), &found);
    if (rc != 0 || found == nullptr) {
      const char* key = role == SandboxRole::kWeb      ? "[web] privsep_user"
                        : role == SandboxRole::kNotify ? "[notify] sender_user"
                                                       : "[gateway] privsep_user";
      return make_error(std::string(key) + " " + privsep_user +
                        " does not exist; create it (useradd --system --no-create-home --shell /usr/sbin/nologin " +
                        privsep_user + ") or name another in " + key);
    }
    if (pw.pw_uid == 0 || pw.pw_gid == 0) return make_error("privsep_user " + privsep_user + " must not be root");
    if (pw.pw_uid == geteuid()) return make_error("privsep_user " + privsep_user + " must not be bastiond's own user");
    // SECURITY: a supervisor that is not root signals processes of another
    // user only with CAP_KILL: without it, `sessions kill`, a grant's end
    // and the parent-death signal (the kernel checks the dying parent's
    // right to signal) would not reach them, and they would outlive it.
    if (geteuid() != 0 && !has_capability(CAP_KILL)) {
      return make_error(
          "bastiond runs with CAP_SETUID and CAP_SETGID but without CAP_KILL: it could not end its processes "
          "running as " +
          privsep_user + "; grant CAP_KILL too (the packaged unit's AmbientCapabilities does)");
    }
    plan.switch_user = true;
    plan.user = privsep_user;
    plan.uid = pw.pw_uid;
    plan.gid = pw.pw_gid;
  }
  plan.landlock_abi = landlock_abi();
  if (plan.landlock_abi == 0 && geteuid() == 0) {
    // An empty, root-owned directory to chroot into.
    std::string dir = state_dir + "/empty";
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return make_error("cannot create " + dir + ": " + std::strerror(errno));
    }
    struct stat st {};
    std::error_code ec;
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022) != 0 ||
        !std::filesystem::is_empty(dir, ec)) {
      return make_error(dir + " must be an empty directory owned by root and writable only by it");
    }
    plan.chroot_dir = dir;
  }
#if defined(__SANITIZE_ADDRESS__)
  // Sanitizer builds (tests): the reports must still reach their folder.
  for (const char* var : {"ASAN_OPTIONS", "UBSAN_OPTIONS"}) {
    const char* v = std::getenv(var);
    if (v == nullptr) continue;
    std::string opts = v;
    size_t at = opts.find("log_path=");
    if (at == std::string::npos) continue;
    std::string path =
        opts.substr(at + 9, opts.find(':', at) == std::string::npos ? std::string::npos : opts.find(':', at) - at - 9);
    plan.writable_dirs.push_back(std::filesystem::path(path).parent_path().string());
  }
  // ... and name the functions: the sanitizer reads the program to symbolize.
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec && !plan.writable_dirs.empty()) plan.readable_dirs.push_back(exe.parent_path().string());
#endif
  return plan;
}

Status enter_sandbox(const SandboxPlan& plan) {
  // SECURITY: without these, a compromised connection process could gain
  // privileges through a setuid program, or be read (and read others of the
  // same user) through ptrace and /proc/PID/mem.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return make_error(std::string("no_new_privs: ") + std::strerror(errno));
  if (!plan.chroot_dir.empty()) {
    if (::chroot(plan.chroot_dir.c_str()) != 0 || ::chdir("/") != 0) {
      return make_error("chroot " + plan.chroot_dir + ": " + std::strerror(errno));
    }
  }
  if (plan.switch_user) {
    if (auto st = switch_user(plan.uid, plan.gid); !st) return st;
  }
  // SECURITY: die with the supervisor, even a SIGKILLed one (set after the
  // switch of user, which clears it), and make sure it was not already gone.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0)
    return make_error(std::string("pdeathsig: ") + std::strerror(errno));
  if (plan.supervisor != 0 && getppid() != plan.supervisor) return make_error("the supervisor has exited");
  if (plan.landlock_abi > 0) {
    if (auto st = restrict_files(plan); !st) return st;
  }
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
  // Threads, never new processes: clone without CLONE_THREAD kills. clone3
  // passes its flags in memory, where a filter cannot look: it fails with
  // ENOSYS, and the C library falls back to clone.
  if (!(st = add(c.ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3"))) return st;
  if (!(st = add(c.ctx, SCMP_ACT_ALLOW, "clone", {SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)}))) return st;
  if (!(st = add(c.ctx, SCMP_ACT_KILL_PROCESS, "clone", {SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0)}))) return st;
  // ioctl: non-blocking mode, bytes waiting, and "is this a terminal" only (no TIOCSTI).
  for (unsigned long req : {static_cast<unsigned long>(FIONBIO), static_cast<unsigned long>(FIONREAD),
                            static_cast<unsigned long>(TCGETS), static_cast<unsigned long>(FIOCLEX)}) {
    if (!(st = add(c.ctx, SCMP_ACT_ALLOW, "ioctl", {SCMP_A1(SCMP_CMP_EQ, req)}))) return st;
  }
  // The web process serves its listening socket (bound before the sandbox).
  if (plan.role == SandboxRole::kWeb) {
    for (const char* name : {"accept", "accept4"}) {
      if (!(st = add(c.ctx, SCMP_ACT_ALLOW, name))) return st;
    }
  }
  if (plan.role == SandboxRole::kNotify) {
    if (!(st = add(c.ctx, SCMP_ACT_ALLOW, "socketpair", {SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(AF_UNIX))}))) {
      return st;
    }
  }
  if (int rc = seccomp_load(c.ctx); rc != 0) return make_error(std::string("seccomp_load: ") + std::strerror(-rc));
  return {};
}

std::vector<std::string> sandbox_allowed_syscalls() {
  std::vector<std::string> out(std::begin(kAllowed), std::end(kAllowed));
  for (const char* s : {"kill(self)", "tgkill(self)", "tkill(self)", "socket(AF_INET|AF_INET6|AF_UNIX|AF_NETLINK)",
                        "clone(CLONE_THREAD)", "clone3 (fails with ENOSYS)", "ioctl(FIONBIO|FIONREAD|TCGETS|FIOCLEX)",
                        "accept, accept4 (the web process only)", "socketpair(AF_UNIX) (notification senders only)"}) {
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
