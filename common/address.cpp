#include "common/address.h"

#include <arpa/inet.h>

#include <cstring>

namespace bastion {

std::string source_group(std::string_view address) {
  std::string a(address);
  // A scoped link-local address ("fe80::1%eth0"): the scope does not change the group.
  if (auto pct = a.find('%'); pct != std::string::npos) a.resize(pct);
  in6_addr v6{};
  if (::inet_pton(AF_INET6, a.c_str(), &v6) != 1) return std::string(address);
  char text[INET6_ADDRSTRLEN] = {};
  if (IN6_IS_ADDR_V4MAPPED(&v6)) {
    in_addr v4{};
    std::memcpy(&v4, &v6.s6_addr[12], 4);
    if (::inet_ntop(AF_INET, &v4, text, sizeof text) == nullptr) return std::string(address);
    return text;
  }
  std::memset(&v6.s6_addr[8], 0, 8);
  if (::inet_ntop(AF_INET6, &v6, text, sizeof text) == nullptr) return std::string(address);
  return std::string(text) + "/64";
}

}  // namespace bastion
