// bastiond: parses its flags and runs the daemon (gateway/sshd/) with the web
// process (gateway/web/). Only here do the two meet.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "gateway/sshd/daemon.h"
#include "gateway/web/web_process.h"

int main(int argc, char** argv) {
  CLI::App app{"bastiond: the bastion SSH gateway daemon (foreground; logs to stderr; SIGTERM stops it)"};
  app.name("bastiond");
  bastion::gateway::DaemonOptions opt;
  app.add_option("--config", opt.config_flag, "gateway config file (default: $BASTION_CONFIG)");
  app.add_flag("--check", opt.check, "validate the configuration and keys, then exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "bastiond: %s (see --help)\n", e.what());
    return 2;
  }
  return bastion::gateway::run_daemon(opt, bastion::gateway::run_web_process);
}
