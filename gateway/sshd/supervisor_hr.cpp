// Supervisor: ending or re-checking sessions (after HR events, revocations,
// an administrator's request).
#include <sys/inotify.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "gateway/app/services.h"
#include "gateway/app/daemon_log.h"
#include "policy/access.h"
#include "gateway/sshd/supervisor.h"
#include "policy/decision.h"

namespace bastion::gateway {

HrAccessChange Supervisor::hr_access_change() {
  return [this](const std::string& user, const std::string& message, bool left) {
    if (left) end_user_sessions(user, message);
    else recheck_user_sessions(user);
    publish_revocation(left ? policy::RevocationKind::kEndUser : policy::RevocationKind::kRecheckUser, user,
                       left ? message : "");
  };
}

void Supervisor::end_user_sessions(const std::string& user, const std::string& message) {
  // Tell every session first, then write the audit records: the sessions
  // end while the records are being written.
  std::vector<std::string> ended;
  for (auto& [pid, c] : children_) {
    // Sessions, and logins waiting for their step-up.
    if (!c.live_or_logging_in() || c.user != user || c.kill_deadline != 0) continue;
    request_kill(c, message);
    ended.push_back(c.session_id);
  }
  for (const auto& id : ended) audit("session.kill", message, id, user);
  // SECURITY: consent given by someone who no longer has access no longer
  // stands for grants nobody has used yet (and pending requests).
  Services* s = monitor_services();
  if (s == nullptr) return;
  auto withdrawn = s->elevation().withdraw_consents(user, grant_used(*s),
                                                    "consent withdrawn: approver " + user + " no longer has access");
  if (!withdrawn) {
    daemon_log("cannot withdraw the consents of " + user + ": " + withdrawn.error().message);
  } else if (!withdrawn->empty()) {
    sweep_grants(true);
  }
}

uint32_t Supervisor::end_key_sessions(const std::string& fingerprint, const std::string& reason) {
  std::vector<std::pair<std::string, std::string>> ended;
  for (auto& [pid, c] : children_) {
    if (!c.live_or_logging_in() || c.fingerprint != fingerprint || c.kill_deadline != 0) continue;
    request_kill(c, reason);
    ended.emplace_back(c.session_id, c.user);
  }
  for (const auto& [id, user] : ended) audit("session.kill", reason, id, user);
  return static_cast<uint32_t>(ended.size());
}

bool Supervisor::watch_session(const std::string& session_id, const std::string& notice) {
  for (auto& [pid, c] : children_) {
    if (!c.authenticated || c.session_id != session_id || c.kill_deadline != 0) continue;
    if (c.state != ChildState::kProxy) return false;  // command mode: no terminal to watch
    return monitor::send_message(c.channel.get(), monitor::Watch{notice}, MSG_DONTWAIT).is_ok();
  }
  return false;
}

int Supervisor::kill_session(const std::string& session_id, const std::string& message) {
  for (auto& [pid, c] : children_) {
    if (!c.authenticated || c.session_id != session_id) continue;
    audit("session.kill", message, c.session_id, c.user);
    request_kill(c, message);
    return pid;
  }
  return 0;
}

void Supervisor::recheck_user_sessions(const std::string& user) {
  std::unique_ptr<Services> own;
  Services* s = hr_ ? hr_->services() : nullptr;
  if (s == nullptr) {
    auto opened = Services::open(cfg_, clock_);
    if (!opened) {
      daemon_log("cannot re-check sessions of " + user + ": " + opened.error().message);
      return;
    }
    own = std::move(*opened);
    s = own.get();
  }
  Micros now = clock_.now();
  for (auto& [pid, c] : children_) {
    if (!c.live_or_logging_in() || c.user != user || c.kill_deadline != 0) continue;
    auto person = s->policy().find_person(user);
    if (!person) continue;  // cannot tell: the periodic re-check comes back to it
    if (!*person || (*person)->state != policy::PersonState::kActive) {
      std::string why = "access revoked: account " + user + " is " +
                        (*person ? policy::to_string((*person)->state) : std::string("gone"));
      audit("session.kill", why, c.session_id, c.user);
      request_kill(c, why);
      continue;
    }
    if (c.target.empty()) continue;  // command mode: the account is what matters
    auto in = policy::decide_access(s->policy(), user, c.target, c.login, now);
    if (!in) continue;
    const policy::Decision& d = in->decision;
    if (!d.allow) {
      std::string why = "access revoked: " + d.reason;
      audit("session.kill", why, c.session_id, c.user);
      request_kill(c, why);
    }
  }
}

}  // namespace bastion::gateway
