// End-to-end: login storms. A burst of concurrent logins from one source (an
// Ansible controller with forks=100, a fleet-wide pssh, the 9 a.m. rush):
// every one is admitted, none refused for a reason inside the gateway.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <thread>

#include "fixture.h"

namespace bastion::e2e {
namespace {

using Clock = std::chrono::steady_clock;

class LoginStorm : public DeploymentTest<LoginStorm> {
 protected:
  static void SetUpTestSuite() {
    DeploymentTest<LoginStorm>::SetUpTestSuite();
    // The target's login shell here is bash, which reads ~/.bashrc, and
    // root's on these machines runs pyenv's setup (tens of processes, about
    // 0.3 s of CPU per login): with the target on the same two cores, that,
    // not the gateway, would be most of what a storm measures. This target
    // gives its sessions a HOME without one.
    std::filesystem::create_directories(d->dir() + "/light-home");
    int port = d->start_extra_sshd("light", "SetEnv HOME=" + d->dir() + "/light-home");
    d->ctl_ok({"target", "add", "light", "--address", "127.0.0.1:" + std::to_string(port), "--host-key",
               d->target_host_pub(), "--label", "env=prod"});
    // The gateway gives a target 10 s to greet it and finish key exchange.
    // Here that target is an OpenSSH on the same two cores, forking and
    // re-executing itself for each of the burst's connections at once: on
    // CI it took longer than 10 s for half of a 500-burst ("cannot reach
    // light: Timeout connecting"), a limit of the target, not of the
    // gateway. A production target is its own machine.
    d->edit_config("connect_timeout = \"10s\"", "connect_timeout = \"90s\"");
  }
  static std::string light() { return d->login() + "@light"; }
  static int storm(int n, int hold_s, std::vector<std::string>* failures);
};

// Starts `n` ssh logins at once, each printing "admitted" and then holding
// its session for `hold_s` seconds. Returns how many printed it; prints the
// time to admit the whole burst and p50/p99 of the per-login latency.
int LoginStorm::storm(int n, int hold_s, std::vector<std::string>* failures) {
  std::string dir = d->dir() + "/storm-" + std::to_string(n);
  std::filesystem::create_directories(dir);
  std::vector<Process> clients;
  std::vector<double> admitted_after(static_cast<size_t>(n), -1);
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    auto argv = d->ssh_argv(*alice, light());
    // The fixture's clients give up on a gateway that has not greeted them
    // in 10 s. Here the two cores run every client, connection process and
    // target session of the burst at once, and a greeting can be slower
    // than that for reasons outside the gateway (OpenSSH's own default is
    // to wait as long as TCP does); what is tested is that none is refused.
    std::replace(argv.begin(), argv.end(), std::string("ConnectTimeout=10"), std::string("ConnectTimeout=90"));
    argv.push_back("echo admitted; sleep " + std::to_string(hold_s));
    clients.emplace_back(argv, dir + "/" + std::to_string(i) + ".log");
  }
  int done = 0;
  auto deadline = start + std::chrono::seconds(180);
  while (done < n && Clock::now() < deadline) {
    for (int i = 0; i < n; ++i) {
      if (admitted_after[static_cast<size_t>(i)] >= 0) continue;
      bool running = clients[static_cast<size_t>(i)].running();
      if (read_text(dir + "/" + std::to_string(i) + ".log").find("admitted") != std::string::npos) {
        admitted_after[static_cast<size_t>(i)] = std::chrono::duration<double>(Clock::now() - start).count();
        ++done;
      } else if (!running) {
        admitted_after[static_cast<size_t>(i)] = 1e9;  // gave up without being admitted
        ++done;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::vector<double> ok;
  for (int i = 0; i < n; ++i) {
    double t = admitted_after[static_cast<size_t>(i)];
    if (t >= 0 && t < 1e9) {
      ok.push_back(t);
    } else if (failures != nullptr) {
      failures->push_back(std::to_string(i) + ": " + read_text(dir + "/" + std::to_string(i) + ".log"));
    }
  }
  std::sort(ok.begin(), ok.end());
  if (failures != nullptr && !failures->empty()) {  // how many failed which way (the last line each printed)
    std::map<std::string, int> why;
    for (const auto& f : *failures) {
      std::string text = f.substr(f.find(": ") + 2);
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
      ++why[text.substr(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1)];
    }
    for (const auto& [text, count] : why) std::printf("  %d failed: %s\n", count, text.c_str());
  }
  if (!ok.empty()) {
    auto pct = [&](double p) {
      return ok[std::min(ok.size() - 1, static_cast<size_t>(p * static_cast<double>(ok.size())))];
    };
    std::printf("storm of %d: %zu admitted; whole burst in %.2f s; login latency p50 %.2f s, p99 %.2f s\n", n,
                ok.size(), ok.back(), pct(0.5), pct(0.99));
  }
  for (auto& c : clients) c.wait(hold_s * 1000 + 30000);
  return static_cast<int>(ok.size());
}

TEST_F(LoginStorm, AHundredConcurrentLoginsFromOneSourceAreAllAdmitted) {
  std::vector<std::string> failures;
  int admitted = storm(100, 10, &failures);
  EXPECT_EQ(admitted, 100);
  for (size_t i = 0; i < std::min<size_t>(failures.size(), 5); ++i) ADD_FAILURE() << failures[i];
}

// 500 at once: 500 clients, 500 connection processes and 500 target sessions
// on two cores. Not under the sanitizers, whose processes are several times
// as heavy (the 100-burst runs there).
TEST_F(LoginStorm, FiveHundredConcurrentLoginsFromOneSourceAreAllAdmitted) {
#ifdef BASTION_SANITIZED
  GTEST_SKIP() << "500 sanitized connection processes at once: too heavy for this machine";
#endif
  std::vector<std::string> failures;
  int admitted = storm(500, 10, &failures);
  EXPECT_EQ(admitted, 500);
  for (size_t i = 0; i < std::min<size_t>(failures.size(), 5); ++i) ADD_FAILURE() << failures[i];
}

}  // namespace
}  // namespace bastion::e2e
