// bastiond: parses its flags, loads the config, runs the Supervisor.
#pragma once

namespace bastion::gateway {
int daemon_main(int argc, char** argv);
}
