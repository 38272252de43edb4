// Supervisor: several gateway nodes on one database. A node that ends
// sessions after a change publishes what it did; every other node does the
// same to its own sessions (policy/revocation_feed.h).
#include <optional>

#include "gateway/app/daemon_log.h"
#include "gateway/app/services.h"
#include "gateway/sshd/supervisor.h"

namespace bastion::gateway {

void Supervisor::open_revocation_listener() {
  Services* s = monitor_services();
  if (s != nullptr) {
    // Only what is published from now on concerns this node's sessions.
    if (auto newest = s->revocations().newest()) revocations_seen_ = *newest;
  }
  if (!Database::is_postgres(cfg_.database)) return;  // one node: nothing comes from elsewhere
  auto db = Database::open(cfg_.database, Database::Mode::kOpenExisting, static_cast<int>(cfg_.busy_timeout / 1000));
  if (db) {
    if (auto st = db->listen(policy::kRevocationChannel); st) {
      revocation_listener_ = std::move(*db);
      return;
    }
  }
  daemon_log("cannot listen for other gateway nodes' revocations (they are still read every half second): " +
             (db ? std::string("LISTEN failed") : db.error().message));
}

void Supervisor::publish_revocation(policy::RevocationKind kind, const std::string& subject,
                                    const std::string& message) {
  Services* s = monitor_services();
  Status st = s == nullptr ? Status(make_error("database unavailable"))
                           : s->revocations().publish(cfg_.node_name, kind, subject, message);
  if (!st) {
    daemon_log("cannot tell the other gateway nodes to " + policy::to_string(kind) + " " + subject + ": " +
               st.message());
  }
}

void Supervisor::follow_revocations(bool woken) {
  if (woken && revocation_listener_) {
    auto any = revocation_listener_->take_wakeups();
    if (!any) daemon_log("revocation listener: " + any.error().message);
  }
  if (!timers_.due(Job::kRevocations, clock_.now(), woken)) return;
  Services* s = monitor_services();
  if (s == nullptr) return;
  auto events = s->revocations().since(revocations_seen_);
  if (!events) {
    daemon_log("cannot read other gateway nodes' revocations: " + events.error().message);
    return;
  }
  for (const auto& e : *events) {
    revocations_seen_ = e.seq;
    if (e.node == cfg_.node_name) continue;  // done here when it was published
    switch (e.kind) {
      case policy::RevocationKind::kEndUser: end_user_sessions(e.subject, e.message); break;
      case policy::RevocationKind::kEndKey: end_key_sessions(e.subject, e.message); break;
      case policy::RevocationKind::kRecheckUser: recheck_user_sessions(e.subject); break;
      case policy::RevocationKind::kKillSession: kill_session(e.subject, e.message); break;
      case policy::RevocationKind::kSweepGrants: sweep_grants(true); break;
    }
  }
}

std::string Supervisor::kill_session_elsewhere(const std::string& session_id, const std::string& message) {
  Services* s = monitor_services();
  if (s == nullptr) return "";
  auto found = s->sessions().find(session_id);
  if (!found || !*found || (*found)->ended_at || (*found)->node == cfg_.node_name) return "";
  publish_revocation(policy::RevocationKind::kKillSession, session_id, message);
  return (*found)->node;
}

}  // namespace bastion::gateway
