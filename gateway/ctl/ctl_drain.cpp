// `bastionctl drain`: before a restart (a binary upgrade ends live sessions,
// because connection processes die with the supervisor), this node refuses
// new logins with a message, answers its load balancer's /healthz with 503
// "draining", tells the live sessions, and waits for them to end; at the
// deadline it ends the rest. `--cancel` takes logins again.
#include <chrono>
#include <cstdio>
#include <thread>

#include "common/clock.h"
#include "gateway/ctl/control_client.h"
#include "gateway/ctl/ctl.h"

namespace bastion::gateway {
namespace {

struct DrainArgs {
  std::string deadline = "30m";
  std::string message;
  bool cancel = false;
  Micros deadline_us = 0;
};

Status check_drain(DrainArgs& a) {
  auto d = parse_duration(a.deadline);
  if (!d) return d.error().prefixed("--deadline: ");
  if (*d < kMicrosPerSecond || *d > 24 * 3600 * kMicrosPerSecond) {
    return make_error("--deadline: between 1s and 24h");
  }
  a.deadline_us = *d;
  if (a.message.size() > 200) return make_error("--message: at most 200 characters");
  return {};
}

// One drain request to the local bastiond: the live sessions, or why not.
Result<uint32_t> ask(const Services& s, const std::string& what, const std::string& message) {
  auto r = control_call(s.config().control_socket, {monitor::Control::kDrain, what, message}, 10000);
  if (!r) return r.error().prefixed("bastiond (" + s.config().control_socket + "): ");
  if (!r->ok) return make_error(r->error);
  return r->count;
}

Status drain(Services& s, const DrainArgs& a) {
  if (a.cancel) {
    auto n = ask(s, "cancel", "");
    if (!n) return n.error();
    ctl_audit(s, "gateway.drain_cancel", "", {{"node", s.config().node_name}});
    std::printf("drain cancelled: %s accepts logins again (%u live session(s))\n", s.config().node_name.c_str(), *n);
    return {};
  }
  auto n = ask(s, "start", a.message);
  if (!n) return n.error();
  ctl_audit(s, "gateway.drain", a.message,
            {{"node", s.config().node_name}, {"deadline", format_duration(a.deadline_us)}, {"live_sessions", *n}});
  std::printf(
      "draining %s: new logins are refused, /healthz answers 503 \"draining\", %u live session(s) told; waiting up "
      "to %s for them to end (Ctrl-C stops waiting, not the drain)\n",
      s.config().node_name.c_str(), *n, format_duration(a.deadline_us).c_str());
  std::fflush(stdout);
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(a.deadline_us);
  uint32_t last = *n;
  while (last > 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto now_live = ask(s, "status", "");
    if (!now_live) return now_live.error();
    if (*now_live != last) {
      std::printf("  %u live session(s)\n", *now_live);
      std::fflush(stdout);
    }
    last = *now_live;
  }
  if (last > 0) {
    auto ended = ask(s, "end", "");
    if (!ended) return ended.error();
    std::printf("the deadline passed: ending %u live session(s)\n", *ended);
    std::fflush(stdout);
    for (int i = 0; i < 60 && last > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      auto now_live = ask(s, "status", "");
      if (!now_live) return now_live.error();
      last = *now_live;
    }
    if (last > 0) return make_error(std::to_string(last) + " session(s) did not end; bastiond keeps draining");
  }
  std::printf("drained: no live sessions on %s; restart bastiond now (systemctl restart bastiond)\n",
              s.config().node_name.c_str());
  return {};
}

}  // namespace

void register_drain_commands(CLI::App& app, CtlGlobals& g) {
  auto* d = app.add_subcommand(
      "drain",
      "before a restart: refuse new logins on this node, tell live sessions, wait for them to end (ending the rest at "
      "the deadline)");
  auto a = std::make_shared<DrainArgs>();
  d->add_option("--deadline", a->deadline, "how long live sessions may go on, e.g. 30m (1s-24h)")
      ->capture_default_str();
  d->add_option("--message", a->message, "shown to live sessions and to refused logins, e.g. \"kernel update\"");
  d->add_flag("--cancel", a->cancel, "stop draining: accept logins again");
  d->footer(
      "The drain lasts until bastiond restarts (or --cancel). On several nodes, the load balancer's health check\n"
      "(/healthz: 503 \"draining\") sends new connections to the others.");
  ctl_command(d, g, a, drain, check_drain);
}

}  // namespace bastion::gateway
