// The sandbox of the processes that parse hostile bytes (DESIGN.md, "Process
// model"): each connection process, entered after fork and before the first
// byte from the client is parsed, and the web process, entered after it has
// loaded its TLS key and bound its socket and before the first connection.
//
// What it does: every inherited descriptor but the client socket, the
// monitor channel and stdio is closed (the process holds no database, key or
// spool: it asks the monitor); it switches to the unprivileged privsep_user
// when bastiond may (root, or CAP_SETUID and CAP_SETGID, with CAP_KILL to
// signal it, which the kernel also requires for the parent-death signal
// across users: refused without); a Landlock ruleset
// lets it read only /etc, /usr and /lib (name resolution) and /dev/null and
// nothing else, write nothing (its recording files arrive as open
// descriptors), and signal nothing outside itself; without Landlock (kernels
// before 5.13) a root bastiond chroots it into an empty directory instead; it
// cannot gain privileges (no_new_privs), holds no capability, is not
// dumpable; and a seccomp filter allows only the system calls the relay and
// the recorder need: anything else fails with EPERM, and the calls an
// attacker would reach for (execve, ptrace, process_vm_*, mount, namespaces,
// BPF, kernel modules, setuid, kill of another process) kill the process.
//
// Limits, stated plainly: a non-root bastiond without CAP_SETUID cannot give
// children another uid (they keep its uid; the packaged unit grants the two
// capabilities, and CAP_KILL); without Landlock and without root there is no file
// confinement beyond the uid and seccomp (logged at start).
#pragma once

#include <sys/types.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "common/result.h"

namespace bastion::gateway {

// Closes every descriptor from 3 up, except those in `keep`.
void close_inherited_fds(std::initializer_list<int> keep);

// Who enters it: a connection process, the web process (which also
// accepts connections on the socket it bound before entering), or a
// notification sender (`bastiond --deliver-notification`: libcurl, which
// also makes a socket pair for its resolver thread).
enum class SandboxRole { kConnection, kWeb, kNotify };

// What the supervisor decides at start, before any fork.
struct SandboxPlan {
  SandboxRole role = SandboxRole::kConnection;
  bool switch_user = false;  // to privsep_user
  std::string user;
  uid_t uid = 0;
  gid_t gid = 0;
  int landlock_abi = 0;                    // 0: no Landlock on this kernel
  std::string chroot_dir;                  // the fallback: root without Landlock
  pid_t supervisor = 0;                    // the planning process: children die with it
  std::vector<std::string> writable_dirs;  // sanitizer reports (sanitizer builds only)
  std::vector<std::string> readable_dirs;  // the program's folder (sanitizer builds only, for symbols)
  // One line for the log at start, e.g. "user bastion-session, Landlock ABI 6, seccomp".
  [[nodiscard]] std::string describe() const;
};

// Looks up privsep_user (an error when bastiond could switch to it and it
// does not exist, is root or is bastiond's own user), probes Landlock,
// prepares the chroot fallback.
Result<SandboxPlan> plan_sandbox(SandboxRole role, const std::string& privsep_user, const std::string& state_dir);

// Enters the sandbox: identity, Landlock (or chroot), no_new_privs, not
// dumpable, no capabilities, the seccomp filter. Irreversible.
Status enter_sandbox(const SandboxPlan& plan);

// The system calls the filter allows (some only with the arguments noted, e.g.
// "kill(self)"), and those that kill the process: for the README and tests.
std::vector<std::string> sandbox_allowed_syscalls();
std::vector<std::string> sandbox_fatal_syscalls();

}  // namespace bastion::gateway
