// Supervisor: bastiond's parent process. Accepts TCP connections and forks
// one connection process per client (isolation, like sshd); knows every live
// session (id, person, target, login, pid); serves the control socket; ends
// sessions on request; on SIGTERM stops accepting, tells live sessions, exits.
//
// It wires its parts together and runs the one poll loop: the connection
// processes and the pre-auth queue (ChildTable), the control socket
// (ControlServer), the web process (WebProcessManager), the HR spool
// (HrIntake) and the periodic jobs (MaintenanceTimers). The parts call back
// into it (lambdas over `this`), so it is neither copied nor moved.
//
// It holds no database connection across fork(): it opens one per operation.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "authn/user_ca.h"
#include "common/unique_fd.h"
#include "gateway/app/backoff.h"
#include "gateway/app/hr_service.h"
#include "gateway/app/hr_intake.h"
#include "gateway/app/metrics.h"
#include "gateway/app/notification_worker.h"
#include "gateway/app/web_backend.h"
#include "gateway/app/services.h"
#include "gateway/app/monitor_protocol.h"
#include "gateway/sshd/child_table.h"
#include "gateway/sshd/control_server.h"
#include "gateway/sshd/maintenance_timers.h"
#include "gateway/sshd/sandbox.h"
#include "gateway/sshd/ssh_handles.h"
#include "gateway/sshd/web_process.h"
#include "policy/revocation_feed.h"
#include "policy/decision.h"
#include "policy/model.h"
#include "recorder/stream_writer.h"
#include "recorder/syslog_forwarder.h"
#include <nlohmann/json.hpp>
#include <optional>

namespace bastion::gateway {

// Test seams, set only by test programs (tests/e2e's hostile daemon).
struct SupervisorHooks {
  // Runs in each connection process right after fork and become_child(),
  // with the child's end of the monitor channel; if it returns, the
  // connection runs as usual.
  std::function<void(int monitor_fd)> in_child;
  // Runs in each connection process right after fork, before the sandbox
  // (the hostile daemon opens its own output files here).
  std::function<void()> before_sandbox;
  // The same two for the web process: before its sandbox, and once it is
  // sandboxed (with its end of the web channel; if it returns, the web
  // process serves as usual).
  std::function<void()> before_web_sandbox;
  std::function<void(int monitor_fd)> in_web;
  // Runs on the HR spool worker's thread before each dropped file is read
  // (the hostile daemon stalls there, as a hung file system would).
  std::function<void(const std::string& path)> before_hr_read;
};

// An answer to a connection process held back until the group commit that
// makes its records durable (Supervisor::end_batch).
struct Outgoing {
  int pid = 0;
  monitor::Message message;
  UniqueFd pass;  // a descriptor handed over with it (a recording file)
};

class Supervisor {
 public:
  // Every deadline, back-off and audit time is read from `clock`.
  Supervisor(Config cfg, WebProcess run_web, SupervisorHooks hooks = {}, const Clock& clock = SystemClock::instance())
      : cfg_(std::move(cfg)),
        hooks_(std::move(hooks)),
        clock_(clock),
        source_backoff_(cfg_.auth_backoff_after, cfg_.auth_backoff_max),
        key_backoff_(cfg_.auth_backoff_after, cfg_.auth_backoff_max),
        children_(cfg_, clock_),
        web_(cfg_, clock_, std::move(run_web), web_host()) {}
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;
  // Runs until SIGTERM/SIGINT; returns the process exit code.
  int run();
  // `bastiond --check`: loads every key, opens the database read-only and
  // checks the sandbox users and the web settings, without listening or
  // writing anything. Prints one line per check; 0 if all passed, else 1.
  int check();

 private:
  bool setup();
  // setup()'s steps, in order: the CA and audit keys (and the reviewer key
  // recordings are sealed to); syslog forwarding; the database and the
  // connection sandbox; the SSH, TCP and control sockets.
  Status load_keys();
  Status start_syslog();
  Status open_stores();
  Status open_sockets();
  // Accepts one connection (false: none was waiting).
  bool accept_client();
  static constexpr int kAcceptsPerRound = 64;
  static constexpr std::chrono::milliseconds kAcceptRoundTime{50};
  // Serves waiting connections as slots free up; closes those that waited
  // longer than login_grace_time (they then get login_grace_time to log in).
  void serve_waiting();
  void spawn(UniqueFd client, const std::string& ip, const std::string& source);
  // In a freshly forked child: drop the supervisor's sockets, keys and state.
  // Closes the monitor's Services before fork() unless they may cross it.
  void drop_services_before_fork();
  void become_child();
  // What the web process needs of the supervisor (its database
  // connection, become_child, audit records).
  WebProcessHost web_host();
  // The monitor (monitor.cpp): reads one message from a child and answers it
  // through the dispatch table; anything not allowed in the child's state,
  // or malformed, is a violation: audited, and the child is killed.
  void read_child(ChildInfo& c);
  bool read_one_request(ChildInfo& c);  // false: nothing more to read now
  void violation(ChildInfo& c, const std::string& what);
  // Answers a connection process: at once, or (inside a batch) once the
  // batch has committed.
  void send_to(ChildInfo& c, monitor::Message m, UniqueFd pass = {});
  void begin_batch();
  // Commits; on success sends the held answers, on failure ends (SIGKILL)
  // every connection that was waiting for one (fail closed).
  void end_batch();
  void on_key_probe(ChildInfo& c, const monitor::KeyProbe& m);
  // A refused probe or login: counts, and past max_auth_attempts ends the connection.
  void count_failure(ChildInfo& c);
  void on_authenticate(ChildInfo& c, const monitor::Authenticate& m);
  // One login's steps: the key's owner, the name asked for, the access
  // decision, the step-up. A refusal carries its reason and the audit action
  // it is recorded under; on success c.accepted and c.state are set.
  struct LoginRefusal {
    std::string why;
    const char* action = "auth";
  };
  struct LoginStep {
    std::optional<LoginRefusal> refusal;
    bool step_up_started = false;  // accepted pending a step-up (c.state kStepUp)
    static LoginStep refused(std::string why, const char* action = "auth") {
      return {LoginRefusal{std::move(why), action}, false};
    }
  };
  LoginStep decide_login(ChildInfo& c, const monitor::Authenticate& m, nlohmann::json& details, Micros now);
  LoginStep identify_key_owner(ChildInfo& c, Services& s, const monitor::Authenticate& m);
  // The certificate principal, grant and Accepted fields of an allowed access.
  void settle_access(ChildInfo& c, const policy::Target& t, const policy::Decision& d, const std::string& login);
  LoginStep start_step_up(ChildInfo& c, Services& s, const nlohmann::json& details, Micros now);
  void on_step_up_poll(ChildInfo& c);
  void on_sign(ChildInfo& c, const monitor::Sign& m);
  void on_elevation_changed(ChildInfo& c);
  void on_audit(ChildInfo& c, const monitor::Audit& m);
  Result<std::string> confirm_key(ChildInfo& c, Services& s, const std::string& code);
  void on_session_end(ChildInfo& c, const monitor::SessionEnd& m);
  void on_command(ChildInfo& c, const monitor::Command& m);
  void on_command_step_up_poll(ChildInfo& c);
  void on_recording_open(ChildInfo& c, const monitor::RecordingOpen& m);
  void on_index_open(ChildInfo& c, const monitor::RecordingOpen& m);
  void on_recording_chunk(ChildInfo& c, const monitor::RecordingChunk& m);
  void on_recording_end(ChildInfo& c, const monitor::RecordingEnd& m);
  // The template of the audit records about `c`'s session.
  recorder::AuditEvent session_event(const ChildInfo& c) const;
  // Writes the session row and its session.start record; the child becomes kProxy.
  Status begin_session(ChildInfo& c, const nlohmann::json& details);
  // Tells the child what it was accepted for (c.accepted).
  void accept(ChildInfo& c);
  // The monitor's database connection, opened on first use and closed
  // before each fork (SQLite connections must not cross fork); null when
  // the database cannot be opened (logged).
  Services* monitor_services();
  // The certificate's source-address: [upstream] egress_addresses, else the
  // child's upstream address when it is one of this host's (empty: refuse).
  std::string certificate_source_address(const std::string& reported);
  void reap_children();
  // What bastionctl's requests on the control socket do.
  ControlActions control_actions();
  // Ends the sessions (and logins pending a step-up) that logged in with
  // key `fingerprint` (audited); how many.
  uint32_t end_key_sessions(const std::string& fingerprint, const std::string& reason);
  // Ends the authenticated session `session_id` (audited); its pid, 0: none.
  int kill_session(const std::string& session_id, const std::string& message);
  // A console watch begins: tells the session's connection process (Watch); false when not live here.
  bool watch_session(const std::string& session_id, const std::string& notice);
  void request_kill(ChildInfo& c, const std::string& reason);
  void check_deadlines();
  // Expires due requests and grants, and ends sessions whose grant is no
  // longer active (revoked, expired). Runs every second, and at once when a
  // child or bastionctl says something changed.
  void sweep_grants(bool force);
  // What an HR event that changed a person's access does to their sessions.
  HrAccessChange hr_access_change();
  // Ends every live session of `user` with `message` (audited).
  void end_user_sessions(const std::string& user, const std::string& message);
  // Re-decides every live session of `user` against current policy; ends those no longer allowed.
  void recheck_user_sessions(const std::string& user);
  // Several gateway nodes on one database (supervisor_cluster.cpp): what
  // this node did to its sessions after a change is published for the
  // others (publish_revocation); what they published is done here to this
  // node's sessions (follow_revocations: on a wake-up from the database, and
  // every half second in case one was missed).
  void open_revocation_listener();
  // At start: registers this node, ending its session rows a previous run
  // left live. Then a heartbeat every second, and nodes silent for
  // kNodeTimeout are declared down with their sessions ended (PostgreSQL).
  void register_node();
  // Also, once a second, whether this node is the cluster's lead (lead_):
  // the one that expires grants in the database, applies scheduled HR
  // events, signs checkpoints, forwards to syslog and purges. A lead that
  // dies is replaced once it is down (kNodeTimeout). On SQLite: always.
  void check_nodes();
  void update_lead(Services* s);
  void release_lead();  // at a clean stop: another node leads from its next check
  // [web] metrics_listen, through the web process: GET /metrics and GET /healthz.
  std::string metrics_text();
  WebReply health();
  static constexpr Micros kNodeTimeout = recorder::kNodeTimeout;
  static constexpr const char* kLeadClaim = "cluster-lead";
  // Publishing is queued: what cannot be published now (the database is
  // unavailable) is kept in order and published when it is back.
  void publish_revocation(policy::RevocationKind kind, const std::string& subject, const std::string& message);
  void publish_pending();
  void follow_revocations(bool woken);
  // kill_session for a session that is not here: asks its node, if it is live on one.
  std::string kill_session_elsewhere(const std::string& session_id, const std::string& message);
  void maybe_checkpoint(const std::string& kind, bool force);
  void maybe_purge();
  void shutdown();
  // SIGHUP: the web process serves the TLS pair on disk (WebProcessManager::reload_tls).
  void reload();
  // The control socket's drain request (ControlActions::drain).
  Result<uint32_t> drain(const std::string& what, const std::string& message);
  // bastionctl ca rotate (and SIGHUP): reloads [ca] user_ca_key if `reload`;
  // the fingerprint of the key that signs.
  Result<std::string> user_ca(bool reload);
  std::string ca_fingerprint() const;
  // bastionctl audit rotate-key (and SIGHUP): reloads [audit] signing_key; its public line.
  Result<std::string> reload_audit_key();
  [[nodiscard]] uint32_t live_sessions();
  void audit(const std::string& action, const std::string& reason, const std::string& session_id,
             const std::string& user);
  // An audit record about connection process `c` (actor: `actor`, else its
  // person, else its key); false when it could not be written (logged).
  bool audit_event(const std::string& action, recorder::Outcome outcome, const std::string& reason, const ChildInfo& c,
                   nlohmann::json details, const std::string& actor = "");

  Config cfg_;
  SupervisorHooks hooks_;
  const Clock& clock_;
  // SECURITY: back-off after failed logins, per source address (checked at
  // accept) and per key (children inherit the table at fork and check it).
  Backoff source_backoff_, key_backoff_;
  MaintenanceTimers timers_;  // when each periodic job (checkpoint, purge, sweep, prune, rate-limited logs) is due
  SshBind bind_;
  std::optional<authn::UserCa> ca_;
  std::optional<Ed25519Key> audit_key_;
  std::optional<recorder::SyslogForwarder> syslog_;
  std::string checkpoint_alerted_;  // the tampered-tail alert already written
  struct Unpublished {
    policy::RevocationKind kind;
    std::string subject, message;
  };
  std::deque<Unpublished> unpublished_;  // revocations not yet published (publish_pending)
  bool publish_failing_ = false;         // logged once per outage
  Metrics metrics_ = gateway_metrics();  // for GET /metrics (metrics_text)
  Micros unavailable_logged_at_ = 0;     // the last "refusing logins while the database is unavailable" line
  bool lead_ = true;                     // this node does the cluster's once-only jobs (check_nodes)
  // The HR spool: inotify on incoming/, files read on the intake's worker
  // thread, applied in small steps so the supervisor stays responsive.
  std::unique_ptr<HrIntake> hr_;
  // Notifications: the outbox delivered on a thread of its own.
  std::unique_ptr<NotificationWorker> notifications_;
  std::unique_ptr<Services> monitor_services_;  // see monitor_services(), drop_services_before_fork()
  std::optional<SandboxPlan> sandbox_;          // decided in setup(), entered by every connection process
  UniqueFd listen_fd_, signal_fd_;
  std::optional<ControlServer> control_;  // the control socket, opened in setup()
  ChildTable children_;                   // connection processes by pid, and connections waiting for a pre-auth slot
  // The monitor's group commit: the requests of one round of the event loop
  // are handled in one transaction; their answers go out once it commits.
  struct Batch {
    bool open = false;
    std::vector<Outgoing> outbox;
  } batch_;
  bool stopping_ = false;
  // bastionctl drain: new logins are refused (and /healthz says so) until
  // bastiond restarts or the drain is cancelled.
  struct Drain {
    Micros since = 0;
    std::string message;
  };
  std::optional<Drain> drain_;
  // Revocations from other nodes: a connection that LISTENs (PostgreSQL),
  // and the newest one acted on.
  std::optional<Database> revocation_listener_;
  int64_t revocations_seen_ = 0;
  Micros listener_retry_at_ = 0;
  WebProcessManager web_;  // HTTPS for WebAuthn registration and step-ups, restarted if it exits
};

}  // namespace bastion::gateway
