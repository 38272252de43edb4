// The web process: bastiond's HTTPS endpoint for WebAuthn registration
// (invitations) and step-up approval. It runs as a child of the supervisor,
// without the user CA or the audit signing key, with its own database
// connection; browsers' untrusted input is parsed there, not in the process
// that signs certificates. Restarted a second after it exits.
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>

#include "gateway/mfa_web.h"
#include "gateway/supervisor.h"
#include "gateway/web_server.h"

namespace bastion::gateway {
namespace {

void log(const std::string& msg) { std::fprintf(stderr, "bastiond[%d]: [web] %s\n", getpid(), msg.c_str()); }

WebServer* g_server = nullptr;
void on_term(int) {
  if (g_server != nullptr) g_server->request_stop();
}

[[noreturn]] void run_web(const Config& cfg, const WebOrigin& origin) {
  prctl(PR_SET_NAME, "bastiond-web");  // tells it apart in ps and /proc
  auto services = Services::open(cfg);
  if (!services) {
    log(services.error().message);
    std::fflush(stderr);
    ::_exit(1);
  }
  MfaWeb backend(**services, origin);
  WebServerOptions opt;
  opt.cert_pem_path = cfg.tls_cert;
  opt.key_pem_path = cfg.tls_key;
  opt.bind_address = cfg.web_listen_host;
  opt.port = cfg.web_listen_port;
  opt.log = [](const std::string& line) { log(line); };
  WebServer server(backend, opt);
  if (auto st = server.start(); !st) {
    log("cannot serve " + cfg.public_url + ": " + st.message());
    std::fflush(stderr);
    ::_exit(1);
  }
  g_server = &server;
  std::signal(SIGTERM, on_term);
  log("serving " + cfg.public_url + " on " + cfg.web_listen_host + ":" + std::to_string(server.port()));
  server.run();
  g_server = nullptr;
  std::fflush(stderr);
  ::_exit(0);
}

}  // namespace

bool Supervisor::check_web() {
  if (cfg_.public_url.empty()) return true;  // no web endpoint: step-ups are impossible, logins needing one are denied
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
  pid_t pid = ::fork();
  if (pid < 0) {
    log(std::string("fork: ") + std::strerror(errno));
    web_start_at_ = SystemClock::instance().now() + 5 * kMicrosPerSecond;
    return;
  }
  if (pid == 0) {
    become_child();
    run_web(cfg_, *origin);
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
