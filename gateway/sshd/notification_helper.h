// `bastiond --deliver-notification USER STATE_DIR`: sends one notification
// in the connection sandbox, so that libcurl and the TLS, SMTP and HTTP
// answers of relays and receivers are parsed by a process that holds
// nothing but that one job (DESIGN.md, "Process model": the code that parses
// what others send runs unprivileged). NotificationWorker starts it per
// send (fork and exec of /proc/self/exe) and writes the job
// (gateway/app/notifications.h, delivery_job) to its stdin; it enters the
// sandbox as USER before it sends, and answers one JSON line on stdout:
// {"ok": true} or {"ok": false, "error": "..."}, with "sandbox": what it
// ran in ("user bastion-session, Landlock ABI 7, seccomp").
#pragma once

#include <string>

namespace bastion::gateway {

int notification_helper_main(const std::string& user, const std::string& state_dir);

}  // namespace bastion::gateway
