// Supervisor: several gateway nodes on one database. A node that ends
// sessions after a change publishes what it did; every other node does the
// same to its own sessions (policy/revocation_feed.h).
#include <algorithm>
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

void Supervisor::register_node() {
  Services* s = monitor_services();
  if (Database::is_postgres(cfg_.database)) lead_ = false;  // until the claim says so
  if (s == nullptr) return;
  std::string listen = cfg_.listen_host + ":" + std::to_string(cfg_.listen_port);
  auto left = s->nodes().start(cfg_.node_name, listen,
                               "ended unclean: gateway node " + cfg_.node_name + " stopped while it was live");
  if (!left) {
    daemon_log("cannot register gateway node " + cfg_.node_name + ": " + left.error().message);
    return;
  }
  for (const auto& r : *left) {
    audit("session.end", "ended unclean: gateway node " + cfg_.node_name + " stopped while it was live", r.id, r.user);
  }
  if (!left->empty()) {
    daemon_log("ended " + std::to_string(left->size()) + " session(s) left live by this node's previous run");
  }
  if (Database::is_postgres(cfg_.database)) update_lead(s);
}

void Supervisor::release_lead() {
  if (!Database::is_postgres(cfg_.database) || !lead_) return;
  Services* s = monitor_services();
  // The next node to look takes over at once rather than after kNodeTimeout.
  if (s != nullptr) {
    if (auto st = s->nodes().release(kLeadClaim, cfg_.node_name); !st)
      daemon_log("cannot hand over the lead: " + st.message());
  }
  lead_ = false;
  if (syslog_) syslog_->set_active(false);
}

void Supervisor::check_nodes() {
  if (!Database::is_postgres(cfg_.database)) return;  // one node
  Micros now = clock_.now();
  Services* s = nullptr;
  if (timers_.due(Job::kHeartbeat, now)) {
    s = monitor_services();
    if (s != nullptr) {
      if (auto st = s->nodes().heartbeat(cfg_.node_name); !st) daemon_log("heartbeat: " + st.message());
    }
    update_lead(s);
  }
  if (!timers_.due(Job::kNodeCheck, now)) return;
  if (s == nullptr) s = monitor_services();
  if (s == nullptr) return;
  auto down = s->nodes().declare_silent_nodes_down(cfg_.node_name, kNodeTimeout);
  if (!down) {
    daemon_log("cannot check the other gateway nodes: " + down.error().message);
    return;
  }
  for (const auto& d : *down) {
    daemon_log("gateway node " + d.node.name + " stopped (no heartbeat since " + format_utc(d.node.heartbeat_at) +
               "): ended its " + std::to_string(d.sessions.size()) + " live session(s)");
    for (const auto& r : d.sessions) {
      audit("session.end", "ended unclean: gateway node " + d.node.name + " stopped", r.id, r.user);
    }
  }
}

void Supervisor::update_lead(Services* s) {
  auto c = s == nullptr ? Result<recorder::Claim>(make_error("database unavailable"))
                        : s->nodes().claim(kLeadClaim, cfg_.node_name, kNodeTimeout);
  // Without the database the lead's jobs cannot run anyway; another node may take over.
  bool lead = c && c->mine;
  if (lead != lead_) {
    daemon_log(lead ? "this node now leads the cluster (grant expiry, scheduled HR events, checkpoints, syslog, "
                      "retention)" +
                          (c->taken_over ? " after node " + c->holder + " stopped" : std::string())
                    : "this node no longer leads the cluster" +
                          (c ? " (node " + c->holder + " does)" : ": " + c.error().message));
  }
  lead_ = lead;
  if (hr_) hr_->set_lead(lead_);
  if (notifications_) notifications_->set_lead(lead_);
  if (syslog_) syslog_->set_active(lead_);
}

void Supervisor::publish_revocation(policy::RevocationKind kind, const std::string& subject,
                                    const std::string& message) {
  if (!Database::is_postgres(cfg_.database)) return;  // one node: done here already
  unpublished_.push_back({kind, subject, message});
  publish_pending();
}

void Supervisor::publish_pending() {
  if (unpublished_.empty()) return;
  Services* s = monitor_services();
  while (!unpublished_.empty()) {
    const auto& r = unpublished_.front();
    Status st = s == nullptr ? Status(make_error("database unavailable"))
                             : s->revocations().publish(cfg_.node_name, r.kind, r.subject, r.message);
    if (!st) {
      // SECURITY: kept, in order, and published when the database is back
      // (follow_revocations retries every half second): the other nodes'
      // sessions must still end.
      if (!publish_failing_) {
        daemon_log("cannot tell the other gateway nodes to " + policy::to_string(r.kind) + " " + r.subject + ": " +
                   st.message() + "; " + std::to_string(unpublished_.size()) +
                   " revocation(s) kept until the database is back");
      }
      publish_failing_ = true;
      return;
    }
    if (publish_failing_) daemon_log("published a revocation kept while the database was unavailable");
    unpublished_.pop_front();
  }
  publish_failing_ = false;
}

void Supervisor::follow_revocations(bool woken) {
  Micros now = clock_.now();
  if (woken && revocation_listener_) {
    auto any = revocation_listener_->take_wakeups();
    if (!any) daemon_log("revocation listener: " + any.error().message);
  }
  if (!timers_.due(Job::kRevocations, now, woken)) return;
  publish_pending();
  // A listener that lost its connection has no descriptor to poll: it
  // reconnects (and listens again) here, at most every few seconds.
  if (revocation_listener_ && revocation_listener_->wake_fd() < 0 && now >= listener_retry_at_) {
    listener_retry_at_ = now + 5 * kMicrosPerSecond;
    if (auto again = revocation_listener_->take_wakeups(); !again) {
      daemon_log("revocation listener: " + again.error().message);
    }
  }
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
    metrics_.observe("bastion_revocation_latency_seconds", static_cast<double>(std::max<Micros>(0, now - e.at)) / 1e6);
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

std::string Supervisor::metrics_text() {
  int live = 0;
  for (const auto& [pid, c] : children_) live += c.authenticated && c.state != ChildState::kKilled;
  metrics_.set("bastion_sessions_live", live);
  metrics_.set("bastion_connections", static_cast<double>(children_.size()));
  metrics_.set("bastion_revocations_unpublished", static_cast<double>(unpublished_.size()));
  metrics_.set("bastion_cluster_lead", lead_ ? 1 : 0);
  if (hr_) {
    for (const auto& [outcome, n] : hr_->outcome_counts()) {
      metrics_.set("bastion_hr_events_total", static_cast<double>(n), "outcome=" + outcome);
    }
  }
  for (const auto& [status, n] : web_.scim_counts()) {
    metrics_.set("bastion_scim_requests_total", static_cast<double>(n), "status=" + std::to_string(status));
  }
  if (Services* s = monitor_services(); s != nullptr) {
    if (auto n = s->policy().count_active_grants(clock_.now()); n) {
      metrics_.set("bastion_grants_active", static_cast<double>(*n));
    }
    if (auto counts = s->outbox().counts(); counts) {
      for (const char* state : {"pending", "sent", "failed"})
        metrics_.set("bastion_notifications", 0, std::string("state=") + state);
      for (const auto& [state, n] : *counts) {
        metrics_.set("bastion_notifications", static_cast<double>(n), "state=" + state);
      }
    }
  }
  return metrics_.render();
}

WebReply Supervisor::health() {
  // Ready: this node accepts logins, reaches the database and can sign.
  auto refuse = [&](const std::string& why) {
    return WebReply{503, {{"status", "unavailable"}, {"node", cfg_.node_name}, {"reason", why}}};
  };
  if (stopping_) return refuse("stopping");
  if (drain_) {
    return WebReply{503, {{"status", "draining"}, {"node", cfg_.node_name}, {"reason", "bastionctl drain"}}};
  }
  Services* s = monitor_services();
  if (s == nullptr) return refuse("database unavailable");
  if (auto st = s->nodes().list(); !st) return refuse("database unavailable: " + st.error().message);
  static constexpr uint8_t kProbe[] = {'h', 'e', 'a', 'l', 't', 'h'};
  if (!audit_key_ || !audit_key_->sign(kProbe)) return refuse("cannot sign audit checkpoints");
  return {200, {{"status", "ready"}, {"node", cfg_.node_name}, {"lead", lead_}}};
}

}  // namespace bastion::gateway
