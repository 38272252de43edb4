// bastiond --deliver-notification (gateway/sshd/notification_helper.h).
#include "gateway/sshd/notification_helper.h"

#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "gateway/app/notifications.h"
#include "gateway/sshd/sandbox.h"

namespace bastion::gateway {
namespace {

int answer(const Status& st, const std::string& sandbox = "") {
  nlohmann::json out = {{"ok", static_cast<bool>(st)}};
  if (!st) out["error"] = st.message();
  if (!sandbox.empty()) out["sandbox"] = sandbox;  // what it ran in, for the log and tests
  std::string line = out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  return ::write(STDOUT_FILENO, line.data(), line.size()) == static_cast<ssize_t>(line.size()) ? 0 : 1;
}

}  // namespace

int notification_helper_main(const std::string& user, const std::string& state_dir) {
  constexpr size_t kMaxJob = 4 << 20;
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxJob) return answer(make_error("the delivery job is larger than 4 MiB"));
  }
  auto job = nlohmann::json::parse(text, nullptr, false);
  if (!job.is_object()) return answer(make_error("the delivery job is not a JSON object"));
  // Nothing of the supervisor's stays open: only stdin, stdout and stderr.
  close_inherited_fds({});
  auto plan = plan_sandbox(SandboxRole::kNotify, user, state_dir);
  if (!plan) return answer(plan.error());
  plan->supervisor = ::getppid();
  if (auto st = enter_sandbox(*plan); !st) return answer(make_error("sandbox: " + st.message()));
  return answer(perform_delivery(job), plan->describe());
}

}  // namespace bastion::gateway
