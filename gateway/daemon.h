// bastiond: parses its flags, loads the config, runs the Supervisor
// (gateway/sshd/) with the web process (gateway/web/). The one place, beside
// the mains, where sshd and web meet; a library only so that test daemons
// (tests/e2e's hostile one) start exactly like bastiond.
#pragma once

#include "gateway/sshd/supervisor.h"

namespace bastion::gateway {
// `hooks`: test seams (tests/e2e's hostile daemon); bastiond passes none.
int daemon_main(int argc, char** argv, SupervisorHooks hooks = {});
}  // namespace bastion::gateway
