// The SSH user name grammar at the gateway's ingress.
//
//   LOGIN@TARGET   proxy to TARGET as LOGIN
//   NAME           command mode for the person NAME
//
// This is a parser of untrusted input (the client chooses the user name): it
// is total, bounded, and rejects anything outside the grammar.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace bastion::policy {

struct IngressName {
  bool command_mode = false;
  std::string login;   // proxy: account on the target; command mode: empty
  std::string target;  // proxy: target name; command mode: empty
  std::string person;  // command mode: the person named; proxy: empty
};

constexpr size_t kMaxIngressNameBytes = 256;

Result<IngressName> parse_ingress_name(std::string_view user);

}  // namespace bastion::policy
