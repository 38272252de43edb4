// Supervisor: the control socket (bastionctl -> bastiond), typed Control
// requests of the monitor protocol, one per connection, answered with
// ControlDone.
#include <poll.h>
#include <sys/socket.h>

#include <cstdio>
#include <vector>

#include "gateway/sshd/supervisor.h"

namespace bastion::gateway {
namespace {

void done(int fd, bool ok, const std::string& error = "", uint32_t count = 0) {
  (void)monitor::send_message(fd, monitor::ControlDone{ok, error, count}, MSG_DONTWAIT);
}

}  // namespace

void Supervisor::handle_control() {
  UniqueFd client(::accept4(control_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!client) return;
  ucred cred{};
  socklen_t len = sizeof cred;
  // SECURITY: the socket is 0600, and we also check who is on the other end.
  if (::getsockopt(client.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
      (cred.uid != 0 && cred.uid != ::geteuid())) {
    return done(client.get(), false, "permission denied");
  }
  // bastionctl sends its request at once; a client that does not is dropped.
  pollfd p{client.get(), POLLIN, 0};
  if (::poll(&p, 1, 2000) <= 0) return;
  auto r = monitor::recv_message(client.get(), MSG_DONTWAIT);
  const auto* req = r.kind == monitor::Received::Kind::kMessage ? std::get_if<monitor::Control>(&r.message) : nullptr;
  if (req == nullptr) {
    return done(client.get(), false,
                "malformed request (is bastionctl the same version as bastiond?)" +
                    (r.error.empty() ? std::string() : ": " + r.error));
  }
  handle_request(std::move(client), *req);
}

void Supervisor::handle_request(UniqueFd client, const monitor::Control& req) {
  using Op = monitor::Control::Op;
  const std::string reason = req.reason.empty() ? std::string("access revoked") : req.reason;
  switch (req.op) {
    case Op::kSweep:
      // bastionctl changed elevations: end sessions whose grant is gone now.
      sweep_grants(true);
      return done(client.get(), true);
    case Op::kEndUser:
      // An HR leaver or a disabled person: end their sessions now.
      if (req.subject.empty()) return done(client.get(), false, "no person named");
      end_user_sessions(req.subject, reason);
      return done(client.get(), true);
    case Op::kEndKey: {
      // A revoked key: end the sessions that logged in with it.
      if (req.subject.empty()) return done(client.get(), false, "no key named");
      std::vector<std::pair<std::string, std::string>> ended;
      for (auto& [pid, c] : children_) {
        if (!c.live_or_logging_in() || c.fingerprint != req.subject || c.kill_deadline != 0) continue;
        request_kill(c, reason);
        ended.emplace_back(c.session_id, c.user);
      }
      for (const auto& [id, user] : ended) audit("session.kill", reason, id, user);
      return done(client.get(), true, "", static_cast<uint32_t>(ended.size()));
    }
    case Op::kRecheck:
      if (req.subject.empty()) return done(client.get(), false, "no person named");
      recheck_user_sessions(req.subject);
      return done(client.get(), true);
    case Op::kKill:
      for (auto& [pid, c] : children_) {
        if (!c.authenticated || c.session_id != req.subject) continue;
        std::string msg =
            req.reason.empty() ? "terminated by an administrator" : "terminated by an administrator: " + req.reason;
        audit("session.kill", msg, c.session_id, c.user);
        request_kill(c, msg);
        // Answered once the process has exited (reap_children).
        pending_.push_back(PendingReply{std::move(client), pid, req.subject});
        return;
      }
      return done(client.get(), false, "no live session " + req.subject);
  }
  done(client.get(), false, "unknown operation " + std::to_string(req.op));
}

}  // namespace bastion::gateway
