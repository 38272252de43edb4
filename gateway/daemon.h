// bastiond: parses its flags, loads the config, runs the Supervisor.
#pragma once

#include "gateway/supervisor.h"

namespace bastion::gateway {
// `hooks`: test seams (tests/e2e's hostile daemon); bastiond passes none.
int daemon_main(int argc, char** argv, SupervisorHooks hooks = {});
}
