#include "gateway/sshd/supervisor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <algorithm>
#include <filesystem>
#include <cstring>
#include <nlohmann/json.hpp>

#include "authn/public_key.h"
#include "common/address.h"
#include "common/encoding.h"
#include "common/strings.h"
#include "gateway/app/daemon_log.h"
#include "gateway/sshd/connection.h"
#include "gateway/sshd/listener.h"
#include "gateway/sshd/sandbox.h"
#include "gateway/app/services.h"
#include "gateway/app/session_id.h"
#include "recorder/audit_chain.h"
#include "recorder/retention.h"
#include "recorder/cast_crypto.h"

namespace bastion::gateway {

bool Supervisor::setup() {
  // Each step names what failed; the first failure ends the start.
  for (auto step :
       {&Supervisor::load_keys, &Supervisor::start_syslog, &Supervisor::open_stores, &Supervisor::open_sockets}) {
    if (Status st = (this->*step)(); !st) {
      daemon_log(st.message());
      return false;
    }
  }
  hr_ = std::make_unique<HrIntake>(cfg_, clock_, hr_access_change(), hooks_.before_hr_read);
  if (auto st = hr_->start(); !st) {
    daemon_log("hr", st.message());
    return false;
  }
  // Each send runs in a fresh bastiond in the sandbox, as [notify]
  // sender_user (notification_helper.h); that user must exist to start.
  if (!cfg_.smtp_url.empty() || !cfg_.notify_webhooks.empty()) {
    if (auto plan = plan_sandbox(SandboxRole::kNotify, cfg_.notify_sender_user, cfg_.state_dir); !plan) {
      daemon_log(plan.error().message);  // names [notify] sender_user
      return false;
    }
  }
  notifications_ = std::make_unique<NotificationWorker>(
      cfg_, clock_, [](const std::string& m) { daemon_log(m); },
      std::vector<std::string>{"/proc/self/exe", "--deliver-notification", cfg_.notify_sender_user, cfg_.state_dir});
  if (auto st = notifications_->start(); !st) {
    daemon_log("notify", st.message());
    return false;
  }
  if (!web_.check()) return false;
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  signal_fd_.reset(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  std::signal(SIGPIPE, SIG_IGN);
  return true;
}

int Supervisor::check() {
  int failed = 0;
  auto report = [&](const std::string& what, const Status& st, const std::string& ok = "ok") {
    if (st) {
      std::printf("ok      %s: %s\n", what.c_str(), ok.c_str());
    } else {
      std::printf("FAILED  %s: %s\n", what.c_str(), st.message().c_str());
      ++failed;
    }
  };
  std::printf("ok      configuration %s\n", cfg_.config_path.c_str());
  auto ca = authn::UserCa::load(cfg_.user_ca_key);
  std::string ca_fp;
  if (ca) {
    auto line = authn::parse_public_key_line(ca->public_key_line());
    ca_fp = line ? authn::fingerprint_sha256(line->blob) : "ok";
  }
  report("user CA key " + cfg_.user_ca_key, ca ? Status{} : Status{ca.error()}, ca_fp);
  auto audit_key = Ed25519Key::load(cfg_.audit_signing_key);
  report("audit signing key " + cfg_.audit_signing_key, audit_key ? Status{} : Status{audit_key.error()},
         audit_key ? "ed25519 " + base64_encode(audit_key->public_key()) : "");
  if (!cfg_.encrypt_to.empty()) {
    auto pub = recorder::load_reviewer_public_key(cfg_.encrypt_to);
    report("[recording] encrypt_to " + cfg_.encrypt_to, pub ? Status{} : Status{pub.error()});
  }
  auto bind = make_ssh_bind(cfg_);
  report("host keys " + join(cfg_.host_keys, ", "), bind ? Status{} : Status{bind.error()});
  auto db = Services::check_database(cfg_);
  std::string db_state;
  if (db) {
    db_state = "schema version " + std::to_string(db->version) +
               (db->version == db->latest ? " (current)"
                                          : " of " + std::to_string(db->latest) + "; bastiond applies " +
                                                std::to_string(db->latest - db->version) + " migration(s) at start");
  }
  report("database " + (db ? db->shown : cfg_.database), db ? Status{} : Status{db.error()}, db_state);
  auto plan = plan_sandbox(SandboxRole::kConnection, cfg_.privsep_user, cfg_.state_dir);
  report("connection sandbox", plan ? Status{} : Status{plan.error()},
         plan ? "connection processes run as " + plan->describe() : "");
  if (!cfg_.public_url.empty() || cfg_.metrics_listen_port != 0) {
    // Says why on stderr when it fails (the same checks as at start).
    std::string what = cfg_.public_url.empty() ? "web process (health and metrics only)" : "web " + cfg_.public_url;
    report(what, web_.check() ? Status{} : Status{make_error("why is on stderr")});
  }
  if (!cfg_.smtp_url.empty() || !cfg_.notify_webhooks.empty()) {
    auto secrets = load_notify_secrets(cfg_);
    std::string channels = cfg_.smtp_url.empty() ? "" : "e-mail via " + cfg_.smtp_url;
    for (const auto& [name, h] : cfg_.notify_webhooks) channels += (channels.empty() ? "" : ", ") + ("webhook " + name);
    report("notifications", secrets ? Status{} : Status{secrets.error()}, channels);
    auto sender = plan_sandbox(SandboxRole::kNotify, cfg_.notify_sender_user, cfg_.state_dir);
    report("notification senders", sender ? Status{} : Status{sender.error()},
           sender ? "each send runs as " + sender->describe() : "");
  }
  if (failed == 0) std::printf("bastiond can start with %s\n", cfg_.config_path.c_str());
  return failed == 0 ? 0 : 1;
}

Status Supervisor::load_keys() {
  // SECURITY: the monitor holds the CA and audit keys; a process of the same
  // user (a compromised child, the web process) must not read them through
  // ptrace or /proc/PID/mem. Inherited by every child at fork.
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return make_error(std::string("cannot make the supervisor non-dumpable: ") + std::strerror(errno));
  }
  auto ca = authn::UserCa::load(cfg_.user_ca_key);
  if (!ca) return ca.error().prefixed("cannot load user CA: ");
  ca_.emplace(std::move(*ca));
  auto audit_key = Ed25519Key::load(cfg_.audit_signing_key);
  if (!audit_key) return audit_key.error().prefixed("cannot load the audit signing key: ");
  audit_key_.emplace(std::move(*audit_key));
  if (!cfg_.encrypt_to.empty()) {
    if (auto pub = recorder::load_reviewer_public_key(cfg_.encrypt_to); !pub) {
      return pub.error().prefixed("[recording] encrypt_to: ");
    }
  }
  return {};
}

Status Supervisor::start_syslog() {
  if (cfg_.syslog.empty()) return {};
  recorder::SyslogOptions o;
  o.target = cfg_.syslog;
  o.ca_file = cfg_.syslog_ca;
  o.cert_file = cfg_.syslog_cert;
  o.key_file = cfg_.syslog_key;
  o.database = cfg_.database;
  o.cursor_file = cfg_.syslog_cursor;
  o.start_from_oldest = cfg_.syslog_from_oldest;
  // Several nodes may share a PostgreSQL database: one of them (the lead)
  // delivers, from a cursor they all see.
  o.shared_cursor = Database::is_postgres(cfg_.database);
  o.node = cfg_.node_name;
  o.log = [](const std::string& m) { daemon_log(m); };
  auto f = recorder::SyslogForwarder::open(o);
  if (!f) return f.error();  // names the setting or says "syslog"
  syslog_.emplace(std::move(*f));
  return {};
}

Status Supervisor::open_stores() {
  // Fail at start, not at first login.
  if (auto s = Services::open(cfg_, clock_); !s) return s.error();
  auto plan = plan_sandbox(SandboxRole::kConnection, cfg_.privsep_user, cfg_.state_dir);
  if (!plan) return plan.error();
  sandbox_ = std::move(*plan);
  daemon_log("connection processes run as " + sandbox_->describe());
  return {};
}

Status Supervisor::open_sockets() {
  auto bind = make_ssh_bind(cfg_);
  if (!bind) return bind.error();
  bind_ = std::move(*bind);
  auto lfd = listen_tcp(cfg_.listen_host, cfg_.listen_port);
  if (!lfd) return lfd.error();
  listen_fd_ = std::move(*lfd);
  // Non-blocking, so that one round accepts everything waiting (a burst).
  ::fcntl(listen_fd_.get(), F_SETFL, ::fcntl(listen_fd_.get(), F_GETFL) | O_NONBLOCK);
  auto cfd = listen_unix(cfg_.control_socket);
  if (!cfd) return cfd.error();
  control_.emplace(std::move(*cfd), control_actions());
  register_node();
  open_revocation_listener();
  return {};
}

int Supervisor::run() {
  if (!setup()) return 1;
  daemon_log("listening on " + cfg_.listen_host + ":" + std::to_string(cfg_.listen_port) + ", control " +
             cfg_.control_socket);
  while (!(stopping_ && children_.empty())) {
    std::vector<pollfd> fds;
    fds.push_back({signal_fd_.get(), POLLIN, 0});
    fds.push_back({control_->fd(), POLLIN, 0});
    fds.push_back({hr_->notify_fd(), POLLIN, 0});
    fds.push_back({hr_->worker_fd(), POLLIN, 0});
    // The layout is fixed here: handling a signal below may set stopping_,
    // and the child entries must still be read at the positions they have.
    const bool listening = !stopping_;
    if (listening) fds.push_back({listen_fd_.get(), POLLIN, 0});
    const int web_at = web_.channel_fd() >= 0 ? static_cast<int>(fds.size()) : -1;
    if (web_at >= 0) fds.push_back({web_.channel_fd(), POLLIN, 0});
    const int wake_fd = revocation_listener_ ? revocation_listener_->wake_fd() : -1;
    const int wake_at = wake_fd >= 0 ? static_cast<int>(fds.size()) : -1;
    if (wake_at >= 0) fds.push_back({wake_fd, POLLIN, 0});
    const size_t first_child = fds.size();
    std::vector<int> pids;
    for (auto& [pid, c] : children_) {
      fds.push_back({c.channel.get(), POLLIN, 0});
      pids.push_back(pid);
    }
    // While an HR batch is being applied, do not sleep between steps.
    int rc = ::poll(fds.data(), fds.size(), hr_->busy() ? 0 : 100);
    if (rc < 0 && errno != EINTR) {
      daemon_log(std::string("poll: ") + std::strerror(errno));
      return 1;
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo si{};
      while (::read(signal_fd_.get(), &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGCHLD) reap_children();
        else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) shutdown();
        else if (si.ssi_signo == SIGHUP) reload();
      }
    }
    if (fds[1].revents & POLLIN) control_->on_readable();
    if (fds[2].revents & POLLIN) hr_->on_notify();
    if (fds[3].revents & POLLIN) hr_->on_worker();
    if (listening && !stopping_ && (fds[4].revents & POLLIN)) {
      // A burst is taken in rounds bounded in count and in time (each accept
      // forks): between them the monitor answers the connections it has.
      const auto round_ends = std::chrono::steady_clock::now() + kAcceptRoundTime;
      for (int i = 0; i < kAcceptsPerRound && std::chrono::steady_clock::now() < round_ends && accept_client(); ++i) {
      }
    }
    if (web_at >= 0 && (fds[static_cast<size_t>(web_at)].revents & (POLLIN | POLLHUP))) web_.read();
    const bool woken = wake_at >= 0 && (fds[static_cast<size_t>(wake_at)].revents & (POLLIN | POLLHUP | POLLERR));
    // Group commit: every request read in this round is handled in one
    // transaction, and answered once it is durable (one fsync for all).
    bool batched = false;
    for (size_t i = first_child; i < fds.size(); ++i) {
      if (fds[i].revents & (POLLIN | POLLHUP)) {
        ChildInfo* c = children_.find(pids[i - first_child]);
        if (c == nullptr) continue;
        if (!batched) {
          begin_batch();
          batched = true;
        }
        read_child(*c);
      }
    }
    if (batched) end_batch();
    reap_children();
    serve_waiting();
    check_deadlines();
    sweep_grants(false);
    follow_revocations(woken);
    check_nodes();
    if (!stopping_) hr_->step();
    if (!stopping_) web_.maybe_start();
    maybe_checkpoint("periodic", false);
    maybe_purge();
  }
  maybe_checkpoint("shutdown", true);
  release_lead();
  ::unlink(cfg_.control_socket.c_str());
  daemon_log("stopped");
  return 0;
}

bool Supervisor::accept_client() {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  UniqueFd client(::accept4(listen_fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC));
  if (!client) return false;  // nothing waiting (EAGAIN), or that one failed
  // Interactive sessions: send small packets (echo) at once, as sshd does.
  int one = 1;
  ::setsockopt(client.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char host[NI_MAXHOST] = "?", port[NI_MAXSERV] = "?";
  getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, host, sizeof host, port, sizeof port,
              NI_NUMERICHOST | NI_NUMERICSERV);
  std::string ip = host;
  Micros now = clock_.now();
  if (timers_.due(Job::kBackoffPrune, now)) {
    source_backoff_.prune(now);
    key_backoff_.prune(now);
  }
  // Per-source limits count an IPv6 address with its /64 (common/address.h).
  const std::string group = source_group(ip);
  // SECURITY: a source that keeps failing waits (1s, 2s, 4s, ... up to
  // auth_backoff_max) before it may try again; refused before any fork.
  if (Micros until = source_backoff_.blocked_until(group, now); until != 0) {
    if (timers_.due(Job::kBackoffLog, now)) {
      daemon_log("refusing connection from " + ip + ": back-off after " +
                 std::to_string(source_backoff_.failures(group)) + " failed logins from " + group + " (" +
                 format_duration(until - now) + " left)");
    }
    return true;
  }
  if (!children_.room_to_serve(group)) {
    // A burst (an automation controller's forks, the 9 a.m. rush) waits for
    // a pre-auth slot instead of being refused; only past the queue's bounds
    // is a connection refused.
    if (!children_.wait({std::move(client), ip, group, std::string(port), now})) {
      if (timers_.due(Job::kQueueLog, now)) {
        daemon_log("refusing connection from " + ip + ": too many unauthenticated connections" +
                   (group != ip ? " from " + group : std::string()) + ", and " + std::to_string(children_.waiting()) +
                   " waiting (" + std::to_string(children_.waiting_from(group)) + " from this source)");
      }
    }
    return true;
  }
  spawn(std::move(client), ip, ip + ":" + port);
  return true;
}

void Supervisor::serve_waiting() {
  children_.serve_waiting(stopping_, [this](Waiting w) { spawn(std::move(w.client), w.ip, w.ip + ":" + w.port); });
}

void Supervisor::drop_services_before_fork() {
  if (monitor_services_ && !monitor_services_->survives_fork()) monitor_services_.reset();
}

void Supervisor::become_child() {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGTERM, SIG_DFL);
  std::signal(SIGINT, SIG_IGN);
  listen_fd_.reset();
  control_.reset();
  signal_fd_.reset();
  children_.abandon_after_fork();
  web_.abandon_after_fork();
  if (hr_) hr_->abandon_after_fork();
  hr_.reset();
  if (notifications_) notifications_->abandon_after_fork();
  (void)notifications_.release();
  // SECURITY: children never hold the user CA or the audit signing key;
  // connection processes ask for certificates over their channel.
  ca_.reset();
  audit_key_.reset();
  // The delivery thread was not copied by fork(): forget it, never join it.
  if (syslog_) syslog_->abandon_after_fork();
  syslog_.reset();
  // The monitor's database connection, if it crossed fork (PostgreSQL): never
  // used or closed here (closing would end the parent's session on the
  // server); its descriptor goes with the others the child does not keep.
  static_cast<void>(monitor_services_.release());
}

void Supervisor::spawn(UniqueFd client, const std::string& ip, const std::string& source) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    daemon_log(std::string("socketpair: ") + std::strerror(errno));
    return;
  }
  UniqueFd mine(sv[0]), theirs(sv[1]);
  ConnectionParams params{-1, theirs.get(), source, new_session_id(), {}, {}};
  // The reviewer's public key: read here, since the child opens no files.
  if (!cfg_.encrypt_to.empty()) {
    if (auto pub = recorder::load_reviewer_public_key(cfg_.encrypt_to)) params.reviewer_key = std::move(*pub);
    else params.reviewer_key_error = pub.error().message;
  }
  // SECURITY/SQLite: no SQLite connection crosses fork (a PostgreSQL one
  // may: the child closes its descriptor unused, and reconnecting for every
  // login would cost a round of authentication each).
  drop_services_before_fork();
  pid_t pid = ::fork();
  if (pid < 0) {
    daemon_log(std::string("fork: ") + std::strerror(errno));
    return;
  }
  if (pid == 0) {
    mine.reset();
    become_child();
    // SECURITY: the child holds no database, key or spool descriptor: it
    // asks the monitor for everything (and the parent's SQLite connection,
    // if one was open, is never used here).
    close_inherited_fds({client.get(), theirs.get()});
    if (hooks_.before_sandbox) hooks_.before_sandbox();
    int code = 1;
    if (Status sandboxed = enter_sandbox(*sandbox_); !sandboxed) {
      // SECURITY: never parse a client's bytes outside the sandbox.
      daemon_log(source + ": cannot enter the sandbox: " + sandboxed.message());
    } else {
      if (hooks_.in_child) hooks_.in_child(theirs.get());
      params.client_fd = client.release();
      Connection conn(cfg_, bind_.get(), params);
      code = conn.run();
    }
    std::fflush(stderr);
    ::_exit(code);
  }
  ChildInfo c;
  c.pid = pid;
  c.channel = std::move(mine);
  c.source_ip = ip;
  c.source_group = source_group(ip);
  c.source = source;
  c.session_id = params.session_id;
  c.started_at = clock_.now();
  children_.add(std::move(c));
}

void Supervisor::sweep_grants(bool force) {
  Micros now = clock_.now();
  // bastionctl's elevation commands end with a sweep: what they wrote to
  // the outbox goes out now rather than at the delivery thread's next look.
  if (force && notifications_) notifications_->wake();
  if (!timers_.due(Job::kGrantSweep, now, force)) return;
  // The monitor's own connection: this also runs inside its group commit.
  Services* s = monitor_services();
  if (s == nullptr) {
    daemon_log("cannot check grants: database unavailable");
    return;
  }
  // The database's record of expiry is written once, by the lead; every
  // node ends its own sessions below (a grant's window is its end anyway).
  if (lead_) {
    if (auto expired = s->elevation().expire_due(); !expired)
      daemon_log("cannot expire grants: " + expired.error().message);
    if (auto warned = s->notifier().warn_ending(s->audit()); !warned) {
      daemon_log("cannot warn of grants ending soon: " + warned.error().message);
    }
  }
  for (auto& [pid, c] : children_) {
    if (c.grant_id.empty() || c.kill_deadline != 0) continue;
    auto e = s->policy().find_elevation(c.grant_id);
    if (!e) {
      daemon_log("cannot check grant " + c.grant_id + ": " + e.error().message);
      continue;
    }
    // SECURITY: fail closed: a grant that vanished or is no longer active ends the session.
    if (!*e || !(*e)->active_at(now)) {
      request_kill(c, *e ? policy::grant_end_message(**e, now) : "grant " + c.grant_id + " no longer exists");
    }
  }
}

void Supervisor::reap_children() {
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    if (pid == web_.pid()) {
      web_.exited(status);
      continue;
    }
    ChildInfo* found = children_.find(pid);
    if (found == nullptr) continue;
    ChildInfo& c = *found;
    // What it sent before it exited is still read (its last audit records).
    while (c.state != ChildState::kKilled && read_one_request(c)) {
    }
    std::string why;
    bool grace_expired = WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM;
    // A connection that never logged in, after failing or idling out, counts against its source.
    if (!c.authenticated && (c.auth_failures > 0 || grace_expired)) {
      source_backoff_.failure(c.source_group, clock_.now());
    }
    if (c.unaudited_probes > 0) {
      audit_event(
          "auth", recorder::Outcome::kDeny,
          std::to_string(c.unaudited_probes) + " more refused keys offered (recorded as this summary, not one by one)",
          c, {{"keys", c.unaudited_probes}}, "unknown");
    }
    if (WIFSIGNALED(status)) {
      int sig = WTERMSIG(status);
      why = sig == SIGALRM ? "login grace time exceeded"
                           : std::string("connection process killed by signal ") + strsignal(sig);
      // SECURITY: the seccomp filter killed it for a system call a relay never makes.
      if (sig == SIGSYS) {
        audit_event("sandbox.violation", recorder::Outcome::kDeny,
                    "connection process killed by the sandbox (a forbidden system call)", c,
                    {{"pid", pid}, {"source", c.source}});
      }
    }
    if (c.session_row) {
      // A connection process that died without ending its session row.
      std::string reason = why.empty() ? "connection process exited" : why;
      auto s = Services::open(cfg_, clock_);
      auto ended =
          s ? (*s)->sessions().end_orphans(cfg_.node_name, pid, reason) : Result<std::vector<std::string>>(s.error());
      if (!ended) daemon_log("cannot end sessions of pid " + std::to_string(pid) + ": " + ended.error().message);
      if (ended && !ended->empty()) audit("session.end", reason, c.session_id, c.user);
    }
    control_->child_exited(pid);
    children_.erase(pid);
  }
}

void Supervisor::request_kill(ChildInfo& c, const std::string& reason) {
  if (!stopping_) metrics_.add("bastion_sessions_killed_total");
  (void)monitor::send_message(c.channel.get(), monitor::Kill{reason}, MSG_DONTWAIT);
  c.kill_deadline = clock_.now() + cfg_.kill_grace;
}

void Supervisor::check_deadlines() {
  Micros now = clock_.now();
  // SECURITY: the login grace timer runs inside the child, which a
  // compromised child could stop; the monitor enforces its own, as long as
  // the longest honest pre-auth phase (a step-up wait) plus a margin.
  Micros preauth_limit =
      std::max(cfg_.login_grace_time, cfg_.step_up_timeout + 30 * kMicrosPerSecond) + 10 * kMicrosPerSecond;
  for (auto& [pid, c] : children_) {
    bool preauth = c.state == ChildState::kPreauth || c.state == ChildState::kStepUp;
    if (preauth && now - c.started_at > preauth_limit && c.kill_deadline == 0) {
      daemon_log("connection process " + std::to_string(pid) + " (" + c.source +
                 ") overstayed its pre-auth time; killed");
      ::kill(pid, SIGKILL);
      c.state = ChildState::kKilled;
      audit_event("monitor.violation", recorder::Outcome::kDeny,
                  "pre-auth time exceeded (the login grace timer did not end it)", c,
                  {{"pid", pid}, {"source", c.source}});
    }
    if (c.kill_deadline != 0 && now >= c.kill_deadline) {
      // SECURITY: a session told to end that does not end is ended by force.
      ::kill(pid, SIGKILL);
      c.kill_deadline = 0;
    }
  }
}

void Supervisor::maybe_checkpoint(const std::string& kind, bool force) {
  Micros now = clock_.now();
  if (!timers_.due(Job::kCheckpointCheck, now, force)) return;
  if (!lead_ && !force) return;  // the lead signs the cluster's chain and forwards it
  auto s = Services::open(cfg_, clock_);
  if (!s) {
    daemon_log("cannot checkpoint the audit log: " + s.error().message);
    return;
  }
  if (syslog_) {
    if (auto st = syslog_->forward_new((*s)->audit()); !st) daemon_log(st.message());
  }
  auto tail = (*s)->chain().unsigned_tail();
  if (!tail || tail->first == 0) return;
  bool due = force || tail->first >= cfg_.checkpoint_records || now - tail->second >= cfg_.checkpoint_interval;
  if (!due) return;
  auto cp = (*s)->chain().write_checkpoint(*audit_key_, kind);
  if (!cp) {
    daemon_log("cannot checkpoint the audit log: " + cp.error().message);
    // SECURITY: a tampered tail is an alert, once per problem (this runs every second).
    if (cp.error().code == ErrorCode::kTampered && cp.error().message != checkpoint_alerted_) {
      checkpoint_alerted_ = cp.error().message;
      recorder::AuditEvent e;
      e.actor = "system";
      e.action = "audit.alert";
      e.outcome = recorder::Outcome::kDeny;
      e.reason = cp.error().message;
      if (auto r = (*s)->audit().append(e); !r) daemon_log("AUDIT FAILURE: " + r.error().message);
    }
  } else if (*cp) {
    // The same line goes to the log so a copy outside the database anchors the chain.
    daemon_log(recorder::checkpoint_log_line(**cp));
    if (syslog_) syslog_->send_line("CHECKPOINT", 5, recorder::checkpoint_log_line(**cp));
  }
}

void Supervisor::maybe_purge() {
  Micros now = clock_.now();
  if (!timers_.due(Job::kPurge, now)) return;
  if (!lead_) return;
  auto s = Services::open(cfg_, clock_);
  if (!s) return;
  // Revocations were acted on by every node within a second of being published.
  if (auto gone = (*s)->revocations().forget_before(now - 86400 * kMicrosPerSecond); !gone) {
    daemon_log("cannot forget old revocations: " + gone.error().message);
  }
  Micros cutoff = now - static_cast<Micros>(cfg_.retention_days) * 86400 * kMicrosPerSecond;
  auto r = (*s)->retention().purge_older_than(*audit_key_, cutoff, false);
  if (!r) {
    daemon_log("retention purge failed: " + r.error().message);
  } else if (r->audit_records > 0 || r->recordings > 0) {
    daemon_log("retention: purged " + std::to_string(r->audit_records) + " audit records and " +
               std::to_string(r->recordings) + " recordings older than " + std::to_string(cfg_.retention_days) +
               " days; purge anchor at seq " + std::to_string(r->anchor_seq));
  }
}

ControlActions Supervisor::control_actions() {
  // Each action is done here at once, then published for the other gateway
  // nodes, which do the same to their sessions.
  using Kind = policy::RevocationKind;
  ControlActions a;
  a.sweep_grants = [this] {
    sweep_grants(true);
    publish_revocation(Kind::kSweepGrants, "", "");
  };
  a.end_user = [this](const std::string& user, const std::string& reason) {
    end_user_sessions(user, reason);
    publish_revocation(Kind::kEndUser, user, reason);
  };
  a.end_key = [this](const std::string& fp, const std::string& reason) {
    uint32_t n = end_key_sessions(fp, reason);
    publish_revocation(Kind::kEndKey, fp, reason);
    return n;
  };
  a.recheck = [this](const std::string& user) {
    recheck_user_sessions(user);
    publish_revocation(Kind::kRecheckUser, user, "");
  };
  a.kill = [this](const std::string& id, const std::string& message) { return kill_session(id, message); };
  a.kill_elsewhere = [this](const std::string& id, const std::string& message) {
    return kill_session_elsewhere(id, message);
  };
  a.drain = [this](const std::string& what, const std::string& message) { return drain(what, message); };
  a.user_ca = [this](bool reload) { return user_ca(reload); };
  a.reload_audit_key = [this] { return reload_audit_key(); };
  return a;
}

WebProcessHost Supervisor::web_host() {
  WebProcessHost h;
  h.before_sandbox = hooks_.before_web_sandbox;
  h.in_web = hooks_.in_web;
  h.services = [this] { return monitor_services(); };
  h.before_fork = [this] { drop_services_before_fork(); };
  h.become_child = [this] { become_child(); };
  h.audit = [this](const std::string& action, const std::string& reason, int pid) {
    ChildInfo none;
    none.pid = pid;
    audit_event(action, recorder::Outcome::kDeny, reason, none, {{"pid", pid}}, "web");
  };
  h.health = [this] { return health(); };
  h.metrics = [this] { return metrics_text(); };
  h.elevations_changed = [this] { sweep_grants(true); };
  h.end_session = [this](const std::string& id, const std::string& message) {
    return kill_session(id, message) != 0 || !kill_session_elsewhere(id, message).empty();
  };
  h.watch_session = [this](const std::string& id, const std::string& notice) { return watch_session(id, notice); };
  h.hr_changed = hr_access_change();
  return h;
}

void Supervisor::shutdown() {
  if (stopping_) return;
  stopping_ = true;
  daemon_log("stopping: ending " + std::to_string(children_.size()) + " connection(s)");
  listen_fd_.reset();
  web_.stop();
  if (notifications_) notifications_->stop();
  for (auto& [pid, c] : children_) request_kill(c, "the gateway is shutting down");
}

uint32_t Supervisor::live_sessions() {
  uint32_t n = 0;
  for (auto& [pid, c] : children_) n += c.authenticated && c.kill_deadline == 0 ? 1 : 0;
  return n;
}

Result<uint32_t> Supervisor::drain(const std::string& what, const std::string& message) {
  if (what == "start") {
    const bool already = drain_.has_value();
    drain_ = Drain{clock_.now(), clean_text(message).substr(0, 200)};
    std::string notice = "this gateway is going down for maintenance" +
                         (drain_->message.empty() ? std::string() : " (" + drain_->message + ")") +
                         ": finish your work and log in again in a few minutes";
    for (auto& [pid, c] : children_) {
      if (c.authenticated && c.kill_deadline == 0) {
        (void)monitor::send_message(c.channel.get(), monitor::Kill{notice, true}, MSG_DONTWAIT);
      }
    }
    daemon_log("drain", std::string(already ? "still draining" : "draining") + ": new logins are refused; told " +
                            std::to_string(live_sessions()) + " live session(s)");
    return live_sessions();
  }
  if (what == "status") {
    if (!drain_) return make_error("not draining");
    return live_sessions();
  }
  if (what == "end") {
    if (!drain_) return make_error("not draining");
    uint32_t n = live_sessions();
    for (auto& [pid, c] : children_) {
      if (c.authenticated && c.kill_deadline == 0) request_kill(c, "the gateway is restarting for maintenance");
    }
    daemon_log("drain", "the deadline passed: ending " + std::to_string(n) + " live session(s)");
    return n;
  }
  if (what == "cancel") {
    if (!drain_) return make_error("not draining");
    drain_.reset();
    daemon_log("drain", "cancelled: logins are accepted again");
    return live_sessions();
  }
  return make_error("unknown drain request '" + what + "'");
}

Result<std::string> Supervisor::user_ca(bool reload) {
  if (reload) {
    // After `ca rotate --promote`: the key file now holds the next key. A
    // file that does not load leaves the key in use (still trusted).
    auto ca = authn::UserCa::load(cfg_.user_ca_key);
    if (!ca) {
      daemon_log("user CA", "not reloaded, still signing with " + ca_fingerprint() + ": " + ca.error().message);
      return ca.error().prefixed("cannot load " + cfg_.user_ca_key + ": ");
    }
    const std::string before = ca_fingerprint();
    ca_.emplace(std::move(*ca));
    if (ca_fingerprint() != before) daemon_log("user CA", "signing with " + ca_fingerprint() + " (was " + before + ")");
  }
  return ca_fingerprint();
}

Result<std::string> Supervisor::reload_audit_key() {
  auto key = Ed25519Key::load(cfg_.audit_signing_key);
  if (!key) {
    daemon_log("audit key", "not reloaded: " + key.error().message);
    return key.error().prefixed("cannot load " + cfg_.audit_signing_key + ": ");
  }
  std::string line = recorder::audit_public_key_line(key->public_key());
  if (!audit_key_ || audit_key_->public_key() != key->public_key()) daemon_log("audit key", "signing with " + line);
  audit_key_.emplace(std::move(*key));
  return line;
}

std::string Supervisor::ca_fingerprint() const {
  return ca_ ? authn::fingerprint_sha256(ca_->public_key_blob()) : std::string("no key");
}

void Supervisor::reload() {
  if (stopping_) return;
  auto r = web_.reload_tls();
  std::string what = r ? *r : r.error().message;
  daemon_log("SIGHUP", what);
  audit(r ? "web.tls_reload" : "web.tls_reload_refused", what, "", "");
  (void)user_ca(true);
  (void)reload_audit_key();
  daemon_log("SIGHUP", "other configuration changes take effect when bastiond restarts");
}

void Supervisor::audit(const std::string& action, const std::string& reason, const std::string& session_id,
                       const std::string& user) {
  Services* s = monitor_services();
  if (s == nullptr) {
    daemon_log("AUDIT FAILURE: database unavailable");
    return;
  }
  recorder::AuditEvent e;
  e.actor = user.empty() ? "system" : user;
  e.action = action;
  e.outcome = recorder::Outcome::kInfo;
  e.reason = reason;
  e.session_id = session_id;
  if (auto r = s->audit().append(e); !r) daemon_log("AUDIT FAILURE: " + r.error().message);
}

bool Supervisor::audit_event(const std::string& action, recorder::Outcome outcome, const std::string& reason,
                             const ChildInfo& c, nlohmann::json details, const std::string& actor) {
  Services* s = monitor_services();
  if (s == nullptr) {
    daemon_log("AUDIT FAILURE: database unavailable");
    return false;
  }
  recorder::AuditEvent e;
  e.actor = !actor.empty()    ? actor
            : !c.user.empty() ? c.user
                              : (c.fingerprint.empty() ? "unknown" : "key:" + c.fingerprint);
  e.action = action;
  e.outcome = outcome;
  e.reason = reason;
  e.target = c.target;
  e.login = c.login;
  e.source = c.source;
  e.session_id = c.session_id;
  e.details = std::move(details);
  if (auto r = s->audit().append(e); !r) {
    daemon_log("AUDIT FAILURE: " + r.error().message);
    return false;
  }
  return true;
}

}  // namespace bastion::gateway
