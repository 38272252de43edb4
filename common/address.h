// Source addresses as the per-source limits count them.
//
// Contract: an IPv4 address is its own group; an IPv6 address counts with
// its /64 (one subscriber, one host or one VM usually gets a whole /64, so
// per-address limits would be no limit at all); an IPv4-mapped IPv6 address
// ("::ffff:192.0.2.1") is the IPv4 address. Anything that is not a numeric
// address is returned unchanged. Pure function, thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace bastion {

// "2001:db8:1:2:a:b:c:d" -> "2001:db8:1:2::/64"; "::ffff:192.0.2.1" -> "192.0.2.1".
std::string source_group(std::string_view address);

}  // namespace bastion
