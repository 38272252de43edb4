// bastiond: loads the config and runs the Supervisor. Its flags are parsed by
// the main (gateway/bastiond_main.cpp), which also supplies the web process.
#pragma once

#include <string>

#include "gateway/sshd/supervisor.h"

namespace bastion::gateway {

struct DaemonOptions {
  std::string config_flag;  // --config; empty: $BASTION_CONFIG (see locate_config)
  bool check = false;       // --check: validate the configuration and keys, then exit
};

// Returns the process exit code: 0 ok, 1 bad configuration or the supervisor
// failed, 2 no configuration found. Messages go to stderr as "bastiond: ...".
int run_daemon(const DaemonOptions& opt, WebProcess run_web);

}  // namespace bastion::gateway
