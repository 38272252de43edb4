// The connection process's sandbox (DESIGN.md, "Process model"), entered
// after fork and before the first byte from the client is parsed.
//
// What it does today: every inherited descriptor but the client socket, the
// monitor channel and stdio is closed; the process cannot gain privileges
// (no_new_privs), holds no capability (run as root, it keeps uid 0 but not
// root's powers: no reading the supervisor's memory, no bypassing file
// permissions), and is not dumpable (no same-user ptrace or /proc/PID/mem of
// it); and a seccomp filter allows only the system calls the relay, the
// recorder and SQLite need: anything else fails with EPERM, and the calls an
// attacker would reach for (execve, ptrace, process_vm_*, mount, namespaces,
// BPF, kernel modules, setuid, kill of another process) kill the process.
//
// What it does not do yet, stated plainly: the process still opens the
// database and the recording files itself, so the filter allows opening
// files, there is no Landlock ruleset, and the process keeps the daemon's uid
// (uid 0 when bastiond runs as root; the packaged unit runs it as `bastion`);
// the unprivileged user and Landlock come when the monitor does those writes
// (the privilege-separation issue).
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "common/result.h"

namespace bastion::gateway {

// Closes every descriptor from 3 up, except those in `keep` and those open
// on a path that starts with `keep_path_prefix` (if not empty). The database
// needs that: SQLite shares one WAL-index mapping and its descriptor per file
// among every connection in a process, and a connection the supervisor had
// open at fork (an HR batch being applied) is part of the child's copy; closing
// its descriptors makes the child's own connection fail with "disk I/O error".
// Goes when connection processes no longer open the database.
void close_inherited_fds(std::initializer_list<int> keep, const std::string& keep_path_prefix = "");

// no_new_privs, not dumpable, and the seccomp filter. Irreversible.
Status enter_connection_sandbox();

// The system calls the filter allows (some only with the arguments noted, e.g.
// "kill(self)"), and those that kill the process: for the README and tests.
std::vector<std::string> sandbox_allowed_syscalls();
std::vector<std::string> sandbox_fatal_syscalls();

}  // namespace bastion::gateway
