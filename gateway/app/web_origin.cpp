#include "gateway/app/web_origin.h"

namespace bastion::gateway {

Result<WebOrigin> parse_public_url(const std::string& url) {
  if (url.rfind("https://", 0) != 0) return make_error("[web] public_url must start with https://");
  std::string rest = url.substr(8);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.empty() || rest.find_first_of("/?#@ ") != std::string::npos) {
    return make_error("[web] public_url must be https://HOST[:PORT]");
  }
  WebOrigin o;
  std::string host = rest, port;
  if (rest.front() == '[') {
    return make_error("[web] public_url: WebAuthn needs a host name, not an IP address");
  }
  if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  o.rp_id = host;
  o.origin = "https://" + host + (port.empty() || port == "443" ? "" : ":" + port);
  return o;
}

}  // namespace bastion::gateway
