#include "gateway/sshd/daemon.h"

#include <cstdio>

namespace bastion::gateway {

int run_daemon(const DaemonOptions& opt, WebProcess run_web) {
  auto path = locate_config(opt.config_flag);
  if (!path) {
    std::fprintf(stderr, "bastiond: %s\n", path.error().message.c_str());
    return 2;
  }
  auto cfg = load_config(*path);
  if (!cfg) {
    std::fprintf(stderr, "bastiond: %s\n", cfg.error().message.c_str());
    return 1;
  }
  if (opt.check) {
    std::printf("configuration %s is valid\n", cfg->config_path.c_str());
    return 0;
  }
  Supervisor sup(std::move(*cfg), std::move(run_web));
  return sup.run();
}

}  // namespace bastion::gateway
