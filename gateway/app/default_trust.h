// Attestation trust shipped with bastion (see contrib/fido/README.md).
#pragma once

#include <string>
#include <vector>

namespace bastion::gateway {

struct DefaultRoot {
  std::string file;    // its name in contrib/fido/
  std::string sha256;  // of the DER, lower-case hex, as Yubico publishes it
  std::string pem;
};
struct DefaultAaguid {
  std::string aaguid;
  std::string name;
};

const std::vector<DefaultRoot>& default_fido_roots();
const std::vector<DefaultAaguid>& default_fido_aaguids();

}  // namespace bastion::gateway
