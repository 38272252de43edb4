#include "gateway/ctl/control_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/unique_fd.h"

namespace bastion::gateway {

Result<monitor::ControlDone> control_call(const std::string& socket_path, const monitor::Control& request,
                                          int timeout_ms) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) return make_error("control socket path too long");
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd) return make_error(std::string("socket: ") + std::strerror(errno));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return make_error("bastiond is not running (cannot connect to " + socket_path + ": " + std::strerror(errno) + ")");
  }
  if (auto st = monitor::send_message(fd.get(), request); !st) return make_error("cannot send to bastiond");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return make_error("bastiond did not answer in time");
    pollfd p{fd.get(), POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc <= 0) continue;  // interrupted, or the deadline (checked above)
    auto r = monitor::recv_message(fd.get(), MSG_DONTWAIT, false, monitor::kMaxAnswer);
    using Kind = monitor::Received::Kind;
    if (r.kind == Kind::kNothing) continue;
    if (r.kind == Kind::kClosed) return make_error("bastiond closed the control connection");
    const auto* answer = r.kind == Kind::kMessage ? std::get_if<monitor::ControlDone>(&r.message) : nullptr;
    if (answer == nullptr) return make_error("malformed answer from bastiond");
    return *answer;
  }
}

}  // namespace bastion::gateway
