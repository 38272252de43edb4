// The web process's body: bastiond's HTTPS endpoint for WebAuthn registration
// (invitations) and step-up approval. The supervisor forks a child for it and
// calls this there (bastiond's main hands it to the supervisor, which does not
// link the web server). It holds no database, user CA or audit signing key:
// each request the pages make is one WebCall over the web channel to the
// monitor, which decides from its own database; only the TLS key (loaded
// before the sandbox) is a secret in this process.
#pragma once

#include <functional>

#include "common/config.h"
#include "common/result.h"
#include "gateway/app/web_backend.h"

namespace bastion::gateway {

// A WebBackend that asks the monitor over `monitor_fd` (a SOCK_SEQPACKET
// channel): one call at a time (calls from the server's threads wait their
// turn), each answered within `timeout_ms` or with 503. If the channel
// breaks, every later call answers 503.
class MonitorWebBackend : public WebBackend {
 public:
  explicit MonitorWebBackend(int monitor_fd, int timeout_ms = 30000);
  ~MonitorWebBackend() override;
  MonitorWebBackend(const MonitorWebBackend&) = delete;
  MonitorWebBackend& operator=(const MonitorWebBackend&) = delete;

  WebReply invite_info(const std::string& token) override;
  WebReply invite_options(const std::string& token) override;
  WebReply invite_register(const std::string& token, const nlohmann::json& credential) override;
  WebReply stepup_info(const std::string& code) override;
  WebReply stepup_options(const std::string& code) override;
  WebReply stepup_assert(const std::string& code, const nlohmann::json& credential) override;
  WebReply health() override;
  WebReply metrics() override;
  WebReply console(const std::string& op, const nlohmann::json& call) override;
  WebReply scim(const nlohmann::json& call) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Loads the TLS certificate and key and binds [web] listen, calls
// `enter_sandbox` (ending the process if it fails), then serves until
// SIGTERM and ends the process with _exit(0) (no destructors: nothing may
// hold up the exit); _exit(1) if the server cannot start. Logs to stderr as
// "bastiond[PID]: [web] ...". Installs a SIGTERM handler: call it only in the
// freshly forked web child.
[[noreturn]] void run_web_process(const Config& cfg, int monitor_fd, const std::function<Status()>& enter_sandbox);

}  // namespace bastion::gateway
