#include "gateway/app/daemon_log.h"

#include <unistd.h>

#include <cstdio>

namespace bastion::gateway {

void daemon_log(const std::string& message) {
  std::fprintf(stderr, "bastiond[%d]: %s\n", static_cast<int>(getpid()), message.c_str());
}

void daemon_log(const char* component, const std::string& message) {
  std::fprintf(stderr, "bastiond[%d]: [%s] %s\n", static_cast<int>(getpid()), component, message.c_str());
}

}  // namespace bastion::gateway
