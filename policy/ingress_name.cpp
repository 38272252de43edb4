#include "policy/ingress_name.h"

#include "policy/model.h"

namespace bastion::policy {

Result<IngressName> parse_ingress_name(std::string_view user) {
  if (user.empty()) return make_error("empty user name");
  if (user.size() > kMaxIngressNameBytes) {
    return make_error("user name longer than " + std::to_string(kMaxIngressNameBytes) + " bytes");
  }
  for (char c : user) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return make_error("user name contains control characters");
  }
  std::string s(user);
  auto at = s.find('@');
  IngressName out;
  if (at == std::string::npos) {
    if (!is_valid_name(s)) return make_error("invalid user name '" + s + "'");
    out.command_mode = true;
    out.person = s;
    return out;
  }
  if (s.find('@', at + 1) != std::string::npos) {
    return make_error("invalid user name '" + s + "': expected LOGIN@TARGET");
  }
  out.login = s.substr(0, at);
  out.target = s.substr(at + 1);
  if (out.login.empty() || out.target.empty()) {
    return make_error("invalid user name '" + s + "': expected LOGIN@TARGET");
  }
  if (!is_valid_name(out.login)) return make_error("invalid login '" + out.login + "'");
  if (!is_valid_name(out.target)) return make_error("invalid target name '" + out.target + "'");
  return out;
}

}  // namespace bastion::policy
