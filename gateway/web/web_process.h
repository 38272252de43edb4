// The web process's body: bastiond's HTTPS endpoint for WebAuthn registration
// (invitations) and step-up approval. The supervisor forks a child for it and
// calls this there (bastiond's main hands it to the supervisor, which does not
// link the web server); it runs without the user CA or the audit signing key,
// with its own database connection, so browsers' untrusted input is parsed
// there, not in the process that signs certificates.
#pragma once

#include "common/config.h"
#include "gateway/app/web_origin.h"

namespace bastion::gateway {

// Serves [web] until SIGTERM, then ends the process with _exit(0) (no
// destructors: nothing may hold up the exit); _exit(1) if the stores cannot
// be opened or the server cannot start. Logs to stderr as
// "bastiond[PID]: [web] ...". Installs a SIGTERM handler: call it only in the
// freshly forked web child.
[[noreturn]] void run_web_process(const Config& cfg, const WebOrigin& origin);

}  // namespace bastion::gateway
