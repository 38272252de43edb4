// bastionctl: the ctl library (gateway/ctl/), given the libssh functions it
// needs from gateway/sshd/.
#include "gateway/ctl/ctl.h"
#include "gateway/sshd/ca_probe.h"
#include "gateway/sshd/host_key.h"

int main(int argc, char** argv) {
  using namespace bastion;
  gateway::CtlTools tools;
  tools.generate_host_key = gateway::generate_host_key;
  tools.probe_user_ca = [](const policy::Target& t, const std::string& login, const std::string& key_file) -> Status {
    auto ca = authn::UserCa::load(key_file);
    if (!ca) return ca.error();
    return gateway::probe_user_ca(t, login, *ca, 10 * kMicrosPerSecond);
  };
  return gateway::ctl_main(argc, argv, std::move(tools));
}
