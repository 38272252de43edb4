#include "gateway/sshd/control_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <vector>

namespace bastion::gateway {
namespace {

void done(int fd, bool ok, const std::string& error = "", uint32_t count = 0) {
  (void)monitor::send_message(fd, monitor::ControlDone{ok, error, count}, MSG_DONTWAIT);
}

}  // namespace

void ControlServer::on_readable() {
  UniqueFd client(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
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

void ControlServer::handle_request(UniqueFd client, const monitor::Control& req) {
  using Op = monitor::Control::Op;
  const std::string reason = req.reason.empty() ? std::string("access revoked") : req.reason;
  switch (req.op) {
    case Op::kSweep: actions_.sweep_grants(); return done(client.get(), true);
    case Op::kEndUser:
      if (req.subject.empty()) return done(client.get(), false, "no person named");
      actions_.end_user(req.subject, reason);
      return done(client.get(), true);
    case Op::kEndKey:
      if (req.subject.empty()) return done(client.get(), false, "no key named");
      return done(client.get(), true, "", actions_.end_key(req.subject, reason));
    case Op::kRecheck:
      if (req.subject.empty()) return done(client.get(), false, "no person named");
      actions_.recheck(req.subject);
      return done(client.get(), true);
    case Op::kKill: {
      std::string msg =
          req.reason.empty() ? "terminated by an administrator" : "terminated by an administrator: " + req.reason;
      const int pid = actions_.kill(req.subject, msg);
      if (pid == 0) {
        std::string node = actions_.kill_elsewhere ? actions_.kill_elsewhere(req.subject, msg) : "";
        if (node.empty()) return done(client.get(), false, "no live session " + req.subject);
        // Ended by its own node; count 0 tells bastionctl it was not here.
        return done(client.get(), true, node, 0);
      }
      // Answered once the process has exited (child_exited).
      pending_.push_back(PendingReply{std::move(client), pid, req.subject});
      return;
    }
    case Op::kDrain: {
      if (!actions_.drain) return done(client.get(), false, "this bastiond cannot drain");
      auto n = actions_.drain(req.subject, req.reason);
      if (!n) return done(client.get(), false, n.error().message);
      return done(client.get(), true, "", *n);
    }
    case Op::kUserCa: {
      if (!actions_.user_ca) return done(client.get(), false, "this bastiond cannot reload its user CA");
      if (req.subject != "reload" && req.subject != "status") return done(client.get(), false, "no such request");
      auto fp = actions_.user_ca(req.subject == "reload");
      if (!fp) return done(client.get(), false, fp.error().message);
      return done(client.get(), true, *fp);
    }
    case Op::kAuditKey: {
      if (!actions_.reload_audit_key) return done(client.get(), false, "this bastiond cannot reload its audit key");
      if (req.subject != "reload") return done(client.get(), false, "no such request");
      auto line = actions_.reload_audit_key();
      if (!line) return done(client.get(), false, line.error().message);
      return done(client.get(), true, *line);
    }
  }
  done(client.get(), false, "unknown operation " + std::to_string(req.op));
}

void ControlServer::child_exited(int pid) {
  for (auto p = pending_.begin(); p != pending_.end();) {
    if (p->pid == pid) {
      done(p->client.get(), true, "", 1);
      p = pending_.erase(p);
    } else {
      ++p;
    }
  }
}

}  // namespace bastion::gateway
