#include "gateway/daemon.h"

#include <CLI/CLI.hpp>
#include <cstdio>

#include "gateway/sshd/notification_helper.h"
#include "gateway/sshd/supervisor.h"
#include "gateway/web/web_process.h"

namespace bastion::gateway {

int daemon_main(int argc, char** argv, SupervisorHooks hooks) {
  // A notification sender bastiond started for one send (not for people).
  if (argc == 4 && std::string(argv[1]) == "--deliver-notification") return notification_helper_main(argv[2], argv[3]);
  CLI::App app{"bastiond: the bastion SSH gateway daemon (foreground; logs to stderr; SIGTERM stops it)"};
  app.name("bastiond");
  app.set_version_flag("--version", std::string("bastiond ") + BASTION_VERSION);
  std::string config;
  bool check = false;
  app.add_option("--config", config, "gateway config file (default: $BASTION_CONFIG, else /etc/bastion/bastion.toml)");
  app.add_flag("--check,--check-config", check,
               "check the configuration, every key, the database (read-only: its schema version against this "
               "build's) and the sandbox and web settings, print one line each, then exit: 0 if bastiond can start");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "bastiond: %s (see --help)\n", e.what());
    return 2;
  }
  auto path = locate_config(config);
  if (!path) {
    std::fprintf(stderr, "bastiond: %s\n", path.error().message.c_str());
    return 2;
  }
  auto cfg = load_config(*path);
  if (!cfg) {
    std::fprintf(stderr, "bastiond: %s\n", cfg.error().message.c_str());
    return 1;
  }
  Supervisor sup(std::move(*cfg), run_web_process, std::move(hooks));
  return check ? sup.check() : sup.run();
}

}  // namespace bastion::gateway
