// The web process: bastiond's HTTPS endpoint for WebAuthn registration
// (invitations) and step-up approval. It runs as a child of the supervisor,
// without the user CA or the audit signing key, with its own database
// connection; browsers' untrusted input is parsed there, not in the process
// that signs certificates. Restarted a second after it exits. What it runs is
// the WebProcess the supervisor was given (gateway/web/ in bastiond).
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>

#include "gateway/app/web_origin.h"
#include "gateway/sshd/sandbox.h"
#include "gateway/sshd/supervisor.h"

namespace bastion::gateway {
namespace {

void log(const std::string& msg) { std::fprintf(stderr, "bastiond[%d]: [web] %s\n", getpid(), msg.c_str()); }

}  // namespace

bool Supervisor::check_web() {
  if (cfg_.public_url.empty()) return true;  // no web endpoint: step-ups are impossible, logins needing one are denied
  if (!run_web_) {
    log("public_url is set, but this program has no web process");
    return false;
  }
  auto origin = parse_public_url(cfg_.public_url);
  if (!origin) {
    log(origin.error().message);
    return false;
  }
  // SECURITY: the TLS key is a secret of the service user, like the CA key.
  struct stat st{};
  if (::stat(cfg_.tls_key.c_str(), &st) != 0) {
    log("tls_key " + cfg_.tls_key + ": " + std::strerror(errno) + " (bastionctl init makes a self-signed pair)");
    return false;
  }
  if ((st.st_mode & 077) != 0) {
    log("tls_key " + cfg_.tls_key + " is readable by others; chmod 600 it");
    return false;
  }
  if (::access(cfg_.tls_cert.c_str(), R_OK) != 0) {
    log("tls_cert " + cfg_.tls_cert + ": " + std::strerror(errno));
    return false;
  }
  web_start_at_ = 1;  // at once
  return true;
}

void Supervisor::maybe_start_web() {
  if (web_pid_ != 0 || web_start_at_ == 0 || SystemClock::instance().now() < web_start_at_) return;
  auto origin = parse_public_url(cfg_.public_url);
  if (!origin) return;
  pid_t parent = getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    log(std::string("fork: ") + std::strerror(errno));
    web_start_at_ = SystemClock::instance().now() + 5 * kMicrosPerSecond;
    return;
  }
  if (pid == 0) {
    // The web process ends with the supervisor, even one that was SIGKILLed
    // (it has no channel to the supervisor that would tell it).
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) ::_exit(1);
    become_child();
    close_inherited_fds({}, cfg_.database);
    run_web_(cfg_, *origin);
    std::fflush(stderr);  // a WebProcess does not return; if one did, the child must not carry on as the supervisor
    ::_exit(1);
  }
  web_pid_ = pid;
  web_start_at_ = 0;
}

void Supervisor::web_exited(int status) {
  web_pid_ = 0;
  if (stopping_) return;
  std::string how = WIFSIGNALED(status) ? std::string("killed by signal ") + strsignal(WTERMSIG(status))
                                        : "exited with status " + std::to_string(WEXITSTATUS(status));
  log("web process " + how + "; restarting in 5s");
  web_start_at_ = SystemClock::instance().now() + 5 * kMicrosPerSecond;
}

void Supervisor::stop_web() {
  web_start_at_ = 0;
  if (web_pid_ != 0) ::kill(web_pid_, SIGTERM);
}

}  // namespace bastion::gateway
