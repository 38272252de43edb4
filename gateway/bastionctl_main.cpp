// bastionctl: the ctl library (gateway/ctl/), given the one libssh function
// it needs from gateway/sshd/.
#include "gateway/ctl/ctl.h"
#include "gateway/sshd/host_key.h"

int main(int argc, char** argv) {
  return bastion::gateway::ctl_main(argc, argv, {.generate_host_key = bastion::gateway::generate_host_key});
}
