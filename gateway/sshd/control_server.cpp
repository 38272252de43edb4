// Supervisor: the control socket (bastionctl -> bastiond).
#include <poll.h>
#include <sys/socket.h>

#include <cstdio>
#include <vector>
#include <nlohmann/json.hpp>

#include "gateway/sshd/supervisor.h"

namespace bastion::gateway {
namespace {

void send_line(int fd, const nlohmann::json& j) {
  std::string line = j.dump() + "\n";
  ::send(fd, line.data(), line.size(), MSG_NOSIGNAL);
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
    send_line(client.get(), {{"ok", false}, {"error", "permission denied"}});
    return;
  }
  std::string line;
  char buf[4096];
  while (line.find('\n') == std::string::npos && line.size() < 65536) {
    pollfd p{client.get(), POLLIN, 0};
    if (::poll(&p, 1, 2000) <= 0) return;
    ssize_t n = ::recv(client.get(), buf, sizeof buf, 0);
    if (n <= 0) return;
    line.append(buf, static_cast<size_t>(n));
  }
  handle_request(std::move(client), line.substr(0, line.find('\n')));
}

void Supervisor::handle_request(UniqueFd client, const std::string& line) {
  auto req = nlohmann::json::parse(line, nullptr, false);
  if (!req.is_object()) {
    send_line(client.get(), {{"ok", false}, {"error", "malformed request"}});
    return;
  }
  std::string op = req.value("op", "");
  if (op == "ping") {
    send_line(client.get(), {{"ok", true}, {"pid", ::getpid()}});
    return;
  }
  if (op == "sessions") {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [pid, c] : children_) {
      if (!c.authenticated) continue;
      list.push_back({{"id", c.session_id}, {"user", c.user}, {"target", c.target}, {"login", c.login},
                      {"pid", c.pid}, {"source", c.source}, {"started_at", format_utc(c.started_at)},
                      {"grant_id", c.grant_id}});
    }
    send_line(client.get(), {{"ok", true}, {"sessions", list}});
    return;
  }
  if (op == "sweep") {
    // bastionctl changed elevations: end sessions whose grant is gone now.
    sweep_grants(true);
    send_line(client.get(), {{"ok", true}});
    return;
  }
  if (op == "end-user") {
    // An HR leaver applied by bastionctl: end the person's sessions now.
    std::string user = req.value("user", "");
    std::string reason = req.value("reason", std::string("access revoked"));
    end_user_sessions(user, reason);
    send_line(client.get(), {{"ok", true}});
    return;
  }
  if (op == "end-key") {
    // A revoked key: end the sessions that logged in with it.
    std::string fp = req.value("fingerprint", "");
    std::string reason = req.value("reason", std::string("access revoked"));
    std::vector<std::pair<std::string, std::string>> ended;
    for (auto& [pid, c] : children_) {
      if (!c.live_or_logging_in() || fp.empty() || c.fingerprint != fp || c.kill_deadline != 0) continue;
      request_kill(c, reason);
      ended.emplace_back(c.session_id, c.user);
    }
    for (const auto& [id, user] : ended) audit("session.kill", reason, id, user);
    send_line(client.get(), {{"ok", true}, {"ended", ended.size()}});
    return;
  }
  if (op == "recheck") {
    recheck_user_sessions(req.value("user", ""));
    send_line(client.get(), {{"ok", true}});
    return;
  }
  if (op == "kill") {
    std::string id = req.value("id", "");
    std::string reason = req.value("reason", "");
    for (auto& [pid, c] : children_) {
      if (!c.authenticated || c.session_id != id) continue;
      std::string msg = reason.empty() ? "terminated by an administrator"
                                       : "terminated by an administrator: " + reason;
      audit("session.kill", msg, c.session_id, c.user);
      request_kill(c, msg);
      pending_.push_back(PendingReply{std::move(client), pid, id});
      return;
    }
    send_line(client.get(), {{"ok", false}, {"error", "no live session " + id}});
    return;
  }
  send_line(client.get(), {{"ok", false}, {"error", "unknown operation '" + op + "'"}});
}

}  // namespace bastion::gateway
