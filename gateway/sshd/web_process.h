// WebProcessManager: bastiond's web process (HTTPS for WebAuthn
// registration and step-ups) as the supervisor sees it: checks [web] at
// start, forks the process into its sandbox, answers its WebCalls over the
// web channel (the monitor's side, against the monitor's database), and
// restarts it 5 s after it exits. What the process runs is `run`.
//
// Contract: holds a reference to `cfg` and `clock`, which must outlive it.
// Not thread-safe (the supervisor's loop calls everything). The supervisor
// reaps children: it calls exited() when waitpid() reports pid(). After
// stop() the process is never restarted.
// SECURITY: anything but a well-formed WebCall on the channel kills the web
// process (audited as web.violation): it parses browsers' bytes, so it is
// treated as a connection process is.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/config.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "gateway/app/services.h"
#include "gateway/app/scim_service.h"
#include "gateway/app/web_backend.h"
#include "gateway/app/web_origin.h"
#include "gateway/sshd/sandbox.h"

namespace bastion::gateway {

// The body of the web process (HTTPS for WebAuthn registration and step-ups),
// called in a freshly forked child that holds no database, key or socket of
// the supervisor's, only `monitor_fd`, its end of the web channel (typed
// WebCall/WebAnswer messages, gateway/app/monitor_protocol.h): the monitor
// runs every call against its database. The body loads its TLS key, binds
// its socket, then calls `enter_sandbox` (own user, Landlock, seccomp) and
// must end the process if that fails, before accepting a connection. It
// never returns. bastiond (gateway/daemon.cpp) passes gateway/web/'s
// run_web_process, so this module does not link the web server. Empty: no
// web process (a config with [web] public_url is then refused at start).
using WebProcess = std::function<void(const Config& cfg, int monitor_fd, const std::function<Status()>& enter_sandbox)>;

// What the web process needs of the supervisor.
struct WebProcessHost {
  // Test seams (SupervisorHooks): run in the web process before its
  // sandbox, and once sandboxed (with its end of the web channel).
  std::function<void()> before_sandbox;
  std::function<void(int monitor_fd)> in_web;
  // The monitor's database connection; null when it cannot be opened.
  std::function<Services*()> services;
  // Runs before fork: closes the monitor's database connection (SQLite
  // connections must not cross fork).
  std::function<void()> before_fork;
  // Runs first in the forked web process: drops the supervisor's sockets,
  // keys and state.
  std::function<void()> become_child;
  // Appends an audit record about the web process `pid` (actor "web", deny).
  std::function<void(const std::string& action, const std::string& reason, int pid)> audit;
  // [web] metrics_listen: the node's readiness and its metrics (Supervisor::health, metrics_text).
  std::function<WebReply()> health;
  std::function<std::string()> metrics;
  // A console action changed elevations: end the sessions a revocation ended.
  std::function<void()> elevations_changed;
  // The console ends a live session (here or on its own node); false when it is live nowhere.
  std::function<bool(const std::string& id, const std::string& message)> end_session;
  // Someone starts watching live session `id`: its connection process writes
  // its recordings at the watch interval and shows `notice` (if any); false
  // when it is not live on this node.
  std::function<bool(const std::string& id, const std::string& notice)> watch_session;
  // A SCIM request changed someone's access (HR): end or re-check their sessions.
  HrAccessChange hr_changed;
};

class WebProcessManager {
 public:
  WebProcessManager(const Config& cfg, const Clock& clock, WebProcess run, WebProcessHost host)
      : cfg_(cfg), clock_(clock), run_(std::move(run)), host_(std::move(host)) {}
  WebProcessManager(const WebProcessManager&) = delete;
  WebProcessManager& operator=(const WebProcessManager&) = delete;

  // Checks [web] (public_url, its own privsep user, the TLS key and
  // certificate) and plans the sandbox; false (logged): bastiond must not
  // start. Without public_url: true, and there is no web process.
  bool check();
  // Starts the web process when it is due: at once after check(), 5 s
  // after it exited or could not be started.
  void maybe_start();
  // The monitor's end of the web channel, -1 while there is none: when it
  // is readable or hung up, call read().
  [[nodiscard]] int channel_fd() const { return channel_.get(); }
  // Answers a few of the web process's calls.
  void read();
  // The running web process, 0: none.
  [[nodiscard]] int pid() const { return pid_; }
  // The web process ended with wait status `status`.
  void exited(int status);
  // SIGTERM to the web process, and no restart.
  void stop();
  // SIGHUP: checks the TLS pair on disk (tls_cert, tls_key) and, when it is
  // good, restarts the web process at once so that it serves it; live SSH
  // sessions are untouched (they are not the web process's). A bad pair
  // changes nothing: the running process keeps the pair it has. Returns
  // what happened, for the log and the audit record; an error for a bad pair.
  Result<std::string> reload_tls();
  // SCIM requests answered since start, by HTTP status (metrics).
  [[nodiscard]] const std::map<int, int64_t>& scim_counts() const { return scim_counts_; }
  // In a forked child: closes the web channel.
  void abandon_after_fork() { channel_.reset(); }

 private:
  void violation(const std::string& what);
  // Sends `reply` to the web process; false (and the process is restarted) when the channel is full or gone.
  bool answer(const WebReply& reply);
  // A SCIM call (gateway/app/scim_service.h), against the monitor's database.
  WebReply scim(Services& s, const nlohmann::json& call);

  const Config& cfg_;
  const Clock& clock_;
  WebProcess run_;
  WebProcessHost host_;
  int pid_ = 0;
  UniqueFd channel_;                    // the monitor's end, while the web process runs
  std::optional<WebOrigin> origin_;     // [web] public_url, parsed in check()
  std::optional<SandboxPlan> sandbox_;  // decided in check(), entered by the web process
  Micros start_at_ = 0;                 // when to (re)start the web process; 0: not wanted
  bool stopping_ = false;               // stop() was called
  ScimRateLimiter scim_limiter_;
  std::map<int, int64_t> scim_counts_;  // per provisioning client, across calls
  bool reloading_ = false;              // reload_tls() ended the process: start the next one at once
};

}  // namespace bastion::gateway
