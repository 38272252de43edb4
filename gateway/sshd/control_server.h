// ControlServer: the control socket (bastionctl -> bastiond). One typed
// Control request of the monitor protocol per connection
// (gateway/app/monitor_protocol.h), answered with ControlDone; what each
// request does is the supervisor's (ControlActions).
//
// Contract: owns the listening socket it is given. Not thread-safe (the
// supervisor's loop calls everything). A kill request is answered once the
// session's process has exited: the supervisor calls child_exited() for
// every connection process it reaps. Destroying it (also in a forked
// child) closes the socket and the held connections without an answer.
// SECURITY: besides the socket's mode (0600), only root and the daemon's
// own user may ask (SO_PEERCRED).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "gateway/app/monitor_protocol.h"

namespace bastion::gateway {

// What the control requests do (the supervisor's sessions). A request
// naming no one is refused before any of these runs.
struct ControlActions {
  // bastionctl changed elevations: end sessions whose grant is gone now.
  std::function<void()> sweep_grants;
  // An HR leaver or a disabled person: end their sessions now.
  std::function<void(const std::string& user, const std::string& reason)> end_user;
  // A revoked key: end the sessions that logged in with it; how many.
  std::function<uint32_t(const std::string& fingerprint, const std::string& reason)> end_key;
  // Re-decide a person's sessions against current policy.
  std::function<void(const std::string& user)> recheck;
  // Ends the authenticated session `session_id` (audited with `message`);
  // the pid of its process, 0 when there is no such live session.
  std::function<int(const std::string& session_id, const std::string& message)> kill;
  // A session that is not here: if it is live on another gateway node, asks
  // that node to end it (within a second) and returns the node's name.
  std::function<std::string(const std::string& session_id, const std::string& message)> kill_elsewhere;
  // bastionctl drain: `what` is "start" (with `message`), "status", "end"
  // or "cancel"; the live sessions on this node, or an error.
  std::function<Result<uint32_t>(const std::string& what, const std::string& message)> drain;
  // bastionctl ca rotate: loads the user CA key file again if `reload`;
  // returns the fingerprint of the key the monitor signs with.
  std::function<Result<std::string>(bool reload)> user_ca;
  // bastionctl audit rotate-key: loads [audit] signing_key again; returns its public line.
  std::function<Result<std::string>()> reload_audit_key;
};

class ControlServer {
 public:
  ControlServer(UniqueFd listening, ControlActions actions) : fd_(std::move(listening)), actions_(std::move(actions)) {}

  // The listening socket: when it is readable, call on_readable().
  [[nodiscard]] int fd() const { return fd_.get(); }
  // Accepts one connection and answers its request (waits up to 2 s for it).
  void on_readable();
  // Connection process `pid` has exited: answers the kill requests waiting for it.
  void child_exited(int pid);

 private:
  // A kill request's connection, answered when the session's process has exited.
  struct PendingReply {
    UniqueFd client;
    int pid = 0;
    std::string session_id;
  };
  void handle_request(UniqueFd client, const monitor::Control& req);

  UniqueFd fd_;
  ControlActions actions_;
  std::vector<PendingReply> pending_;
};

}  // namespace bastion::gateway
