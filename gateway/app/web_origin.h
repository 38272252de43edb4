// The web endpoint's origin, from [web] public_url: what WebAuthn binds to
// (RP ID and origin), what the self-signed TLS pair is made for (bastionctl
// init), and what the supervisor checks before starting the web process.
// Pure string parsing, no I/O.
#pragma once

#include <string>

#include "common/result.h"

namespace bastion::gateway {

// "https://gw.example.com:8443" -> rp id "gw.example.com", origin as given
// (":443" dropped, as browsers do).
struct WebOrigin {
  std::string rp_id;
  std::string origin;
};
Result<WebOrigin> parse_public_url(const std::string& url);

}  // namespace bastion::gateway
