// The web process: bastiond's HTTPS endpoint for WebAuthn registration
// (invitations) and step-up approval. It runs as a child of the supervisor
// in a sandbox of its own ([web] privsep_user, Landlock, seccomp), without
// the database, the user CA or the audit signing key: browsers' TLS and HTTP
// are parsed there, and each request the pages make is one WebCall over the
// web channel, which the monitor answers from its own database (MfaWeb,
// gateway/app/). Restarted 5 s after it exits. What it runs is the
// WebProcess the supervisor was given (gateway/web/ in bastiond).
#include "gateway/sshd/web_process.h"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "gateway/app/console_web.h"
#include "gateway/app/mfa_web.h"
#include "gateway/app/monitor_protocol.h"
#include "gateway/app/daemon_log.h"
#include "gateway/app/web_origin.h"
#include "gateway/app/web_tls.h"
#include "gateway/sshd/sandbox.h"

namespace bastion::gateway {
namespace {

// An invitation token or step-up code as the pages' URLs carry them: 1..64
// characters of [A-Za-z0-9-] (the web server checks the same).
bool plausible_web_key(const std::string& k) {
  if (k.empty() || k.size() > 64) return false;
  for (char ch : k) {
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-')) return false;
  }
  return true;
}

}  // namespace

bool WebProcessManager::check() {
  // Neither pages nor health checks: no web process. Without public_url,
  // step-ups are impossible and logins needing one are denied; the process
  // then serves only [web] metrics_listen, if that is set.
  if (cfg_.public_url.empty() && cfg_.metrics_listen_port == 0) return true;
  if (!run_) {
    daemon_log("web", "[web] public_url or metrics_listen is set, but this program has no web process");
    return false;
  }
  if (!cfg_.public_url.empty()) {
    auto origin = parse_public_url(cfg_.public_url);
    if (!origin) {
      daemon_log("web", origin.error().message);
      return false;
    }
    origin_ = *origin;
  }
  if (cfg_.web_privsep_user == cfg_.privsep_user) {
    daemon_log("web", "[web] privsep_user must differ from [gateway] privsep_user (" + cfg_.privsep_user +
                          "): a compromised connection process must not share the web process's user");
    return false;
  }
  auto plan = plan_sandbox(SandboxRole::kWeb, cfg_.web_privsep_user, cfg_.state_dir);
  if (!plan) {
    daemon_log("web", plan.error().message);
    return false;
  }
  sandbox_ = std::move(*plan);
  daemon_log("web", "the web process runs as " + sandbox_->describe());
  if (cfg_.public_url.empty()) {  // health and metrics only: plain HTTP, no TLS key
    start_at_ = 1;
    return true;
  }
  // SECURITY: the TLS key is a secret of the service user, like the CA key.
  struct stat st {};
  if (::stat(cfg_.tls_key.c_str(), &st) != 0) {
    daemon_log("web",
               "tls_key " + cfg_.tls_key + ": " + std::strerror(errno) + " (bastionctl init makes a self-signed pair)");
    return false;
  }
  if ((st.st_mode & 077) != 0) {
    daemon_log("web", "tls_key " + cfg_.tls_key + " is readable by others; chmod 600 it");
    return false;
  }
  if (::access(cfg_.tls_cert.c_str(), R_OK) != 0) {
    daemon_log("web", "tls_cert " + cfg_.tls_cert + ": " + std::strerror(errno));
    return false;
  }
  if (auto pair = check_tls_pair(cfg_.tls_cert, cfg_.tls_key); !pair) {
    daemon_log("web", pair.error().message);
    return false;
  }
  start_at_ = 1;  // at once
  return true;
}

void WebProcessManager::maybe_start() {
  if (pid_ != 0 || start_at_ == 0 || clock_.now() < start_at_) return;
  if (!sandbox_ || (!origin_ && !cfg_.public_url.empty())) return;
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    daemon_log("web", std::string("socketpair: ") + std::strerror(errno));
    start_at_ = clock_.now() + 5 * kMicrosPerSecond;
    return;
  }
  UniqueFd mine(sv[0]), theirs(sv[1]);
  // SECURITY/SQLite: no database connection crosses fork.
  host_.before_fork();
  pid_t parent = getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    daemon_log("web", std::string("fork: ") + std::strerror(errno));
    start_at_ = clock_.now() + 5 * kMicrosPerSecond;
    return;
  }
  if (pid == 0) {
    mine.reset();
    // The web process ends with the supervisor, even one that was SIGKILLed
    // (set again, as SIGKILL, when it enters the sandbox).
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) ::_exit(1);
    host_.become_child();
    // SECURITY: no database, key, spool or socket of the supervisor's: only
    // the web channel (and stdio).
    close_inherited_fds({theirs.get()});
    if (host_.before_sandbox) host_.before_sandbox();
    const int channel = theirs.get();
    auto enter = [this, channel]() -> Status {
      if (Status st = enter_sandbox(*sandbox_); !st) return st;
      if (host_.in_web) host_.in_web(channel);
      return {};
    };
    run_(cfg_, channel, enter);
    std::fflush(stderr);  // a WebProcess does not return; if one did, the child must not carry on as the supervisor
    ::_exit(1);
  }
  pid_ = pid;
  channel_ = std::move(mine);
  start_at_ = 0;
}

void WebProcessManager::read() {
  using Kind = monitor::Received::Kind;
  // A few calls per round; the pages make one per click.
  for (int i = 0; i < 8 && channel_; ++i) {
    auto r = monitor::recv_message(channel_.get(), MSG_DONTWAIT, false, monitor::kMaxWebMessage);
    if (r.kind == Kind::kNothing) return;
    if (r.kind == Kind::kClosed) {
      channel_.reset();  // its exit is handled by SIGCHLD
      return;
    }
    if (r.kind == Kind::kMalformed) return violation(r.error);
    const auto* call = std::get_if<monitor::WebCall>(&r.message);
    if (call == nullptr) {
      return violation(std::string("unpermitted request ") + monitor::type_name(monitor::type_of(r.message)));
    }
    using Op = monitor::WebCall::Op;
    if (call->op < Op::kInviteInfo || call->op > Op::kScim) {
      return violation("unknown web call " + std::to_string(call->op));
    }
    if (call->op == Op::kHealth || call->op == Op::kMetrics) {
      if (!call->key.empty() || !call->body.empty()) return violation("a health or metrics call carries data");
      WebReply reply = call->op == Op::kHealth ? host_.health() : WebReply{200, {{"text", host_.metrics()}}};
      if (!answer(reply)) return;
      continue;
    }
    // SECURITY: the web server checked these already; a web process that
    // sends what it would never have accepted is not the web server any more.
    if (!plausible_web_key(call->key)) return violation("malformed token or code in a web call");
    // SECURITY: without public_url the process serves health and metrics only.
    if (!origin_) return violation("a call for web pages this node does not serve ([web] public_url is not set)");
    if (call->op == Op::kConsole && !is_console_op(call->key)) return violation("unknown console call");
    if (call->op == Op::kScim && call->key != "scim") return violation("a SCIM call with a key");
    const bool with_body = call->op == Op::kInviteRegister || call->op == Op::kStepUpAssert ||
                           call->op == Op::kConsole || call->op == Op::kScim;
    nlohmann::json body;
    if (with_body) {
      body = nlohmann::json::parse(call->body, nullptr, false);
      if (body.is_discarded() || !body.is_object()) return violation("a web call's credential is not a JSON object");
    } else if (!call->body.empty()) {
      return violation("a web call carries a body it has no use for");
    }
    WebReply reply;
    Services* s = host_.services();
    if (s == nullptr) {
      reply = {503, {{"error", "the gateway cannot reach its database; try again in a minute"}}};
    } else if (call->op == Op::kScim) {
      reply = scim(*s, body);
    } else if (call->op == Op::kConsole) {
      // SECURITY: the console call is checked again here, from the database
      // (the session, Origin, CSRF token, who may see and do what).
      ConsoleWeb console(*s, *origin_, ConsoleHooks{host_.end_session, host_.watch_session, cfg_.tell_watched});
      bool changed = false;
      reply = console.call(call->key, body, &changed);
      if (changed && host_.elevations_changed) host_.elevations_changed();
    } else {
      MfaWeb backend(*s, *origin_);
      switch (call->op) {
        case Op::kInviteInfo: reply = backend.invite_info(call->key); break;
        case Op::kInviteOptions: reply = backend.invite_options(call->key); break;
        case Op::kInviteRegister: reply = backend.invite_register(call->key, body); break;
        case Op::kStepUpInfo: reply = backend.stepup_info(call->key); break;
        case Op::kStepUpOptions: reply = backend.stepup_options(call->key); break;
        default: reply = backend.stepup_assert(call->key, body); break;
      }
    }
    if (!answer(reply)) return;
  }
}

WebReply WebProcessManager::scim(Services& s, const nlohmann::json& call) {
  // SECURITY: the web server checked the shape; every value is checked again here.
  ScimRequest r;
  auto str = [&](const char* key) {
    auto it = call.find(key);
    return it != call.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  r.method = str("method");
  r.path = str("path");
  r.token = str("token");
  r.if_match = str("if_match");
  r.body = str("body");
  r.source = str("source");
  if (auto q = call.find("query"); q != call.end() && q->is_object()) {
    for (const auto& [k, v] : q->items()) {
      if (v.is_string()) r.query[k] = v.get<std::string>();
    }
  }
  std::string base = cfg_.public_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  ScimService service(s, scim_limiter_, host_.hr_changed, base + "/scim/v2");
  ScimReply sr = service.handle(r);
  ++scim_counts_[sr.status];
  nlohmann::json body = {{"scim", sr.body}};
  if (!sr.location.empty()) body["location"] = sr.location;
  if (!sr.etag.empty()) body["etag"] = sr.etag;
  if (sr.retry_after > 0) body["retry_after"] = sr.retry_after;
  return {sr.status, body};
}

bool WebProcessManager::answer(const WebReply& reply) {
  monitor::WebAnswer a{static_cast<uint32_t>(reply.status), reply.body.dump()};
  // A recording's descriptor goes with its answer (SCM_RIGHTS).
  int file = reply.file && *reply.file ? reply.file->get() : -1;
  if (a.body.size() > monitor::kMaxWebBody) {
    a = {500, nlohmann::json{{"error", "internal error"}}.dump()};
    file = -1;
  }
  // A full channel means the web process stopped reading: it is restarted.
  if (auto st = monitor::send_message(channel_.get(), a, MSG_DONTWAIT, file); !st) {
    daemon_log("web", "web channel: " + st.message() + "; restarting the web process");
    if (pid_ != 0) ::kill(pid_, SIGKILL);
    channel_.reset();
    return false;
  }
  return true;
}

void WebProcessManager::violation(const std::string& what) {
  // SECURITY: as for a connection process: killed at once, and audited.
  daemon_log("web", "monitor: web process " + std::to_string(pid_) + ": protocol violation: " + what + "; killed");
  if (pid_ != 0) ::kill(pid_, SIGKILL);
  channel_.reset();
  host_.audit("web.violation", what, pid_);
}

void WebProcessManager::exited(int status) {
  const int pid = pid_;
  pid_ = 0;
  channel_.reset();
  // SECURITY: the seccomp filter killed it for a system call a web server never makes.
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) {
    host_.audit("sandbox.violation", "web process killed by the sandbox (a forbidden system call)", pid);
  }
  if (stopping_) return;
  if (reloading_) {
    reloading_ = false;
    start_at_ = 1;  // at once, with the new pair
    return;
  }
  std::string how = WIFSIGNALED(status) ? std::string("killed by signal ") + strsignal(WTERMSIG(status))
                                        : "exited with status " + std::to_string(WEXITSTATUS(status));
  daemon_log("web", "web process " + how + "; restarting in 5s");
  start_at_ = clock_.now() + 5 * kMicrosPerSecond;
}

Result<std::string> WebProcessManager::reload_tls() {
  if (cfg_.public_url.empty()) return std::string("no [web] public_url: no TLS certificate to reload");
  auto pair = check_tls_pair(cfg_.tls_cert, cfg_.tls_key);
  if (!pair) return pair.error().prefixed("not reloading the TLS certificate (the web process keeps the one it has): ");
  // SECURITY: the key stays a secret of the service user.
  struct stat st {};
  if (::stat(cfg_.tls_key.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    return make_error("not reloading the TLS certificate: tls_key " + cfg_.tls_key +
                      " is readable by others; chmod 600 it");
  }
  if (pid_ != 0) {
    reloading_ = true;
    ::kill(pid_, SIGTERM);
  } else {
    start_at_ = 1;
  }
  return "serving the TLS certificate " + pair->fingerprint + " (" + pair->subject + ", valid until " +
         pair->not_after + ") from " + cfg_.tls_cert;
}

void WebProcessManager::stop() {
  stopping_ = true;
  start_at_ = 0;
  if (pid_ != 0) ::kill(pid_, SIGTERM);
}

}  // namespace bastion::gateway
