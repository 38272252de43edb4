#include "gateway/web/web_process.h"

#include <sys/prctl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>

#include "gateway/web/mfa_web.h"
#include "gateway/web/web_server.h"

namespace bastion::gateway {
namespace {

void log(const std::string& msg) { std::fprintf(stderr, "bastiond[%d]: [web] %s\n", getpid(), msg.c_str()); }

WebServer* g_server = nullptr;
void on_term(int) {
  if (g_server != nullptr) g_server->request_stop();
}

}  // namespace

[[noreturn]] void run_web_process(const Config& cfg, const WebOrigin& origin) {
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

}  // namespace bastion::gateway
