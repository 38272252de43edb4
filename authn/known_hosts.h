// OpenSSH known_hosts files: the host keys a file lists for one host, so an
// administrator can pin a target's key from a file OpenSSH already trusts
// (`bastionctl target rekey --from-known-hosts`).
//
// Contract: known_host_keys() is a parser of untrusted input. A line matches
// HOST:PORT as sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT" says: its patterns are
// "host" for port 22 and "[host]:port" otherwise, comma-separated, with `*`
// and `?` wildcards and `!` negation (a negated match rejects the line), or a
// hashed name (|1|salt|HMAC-SHA1). @cert-authority lines are not host keys
// and are skipped; a key on an @revoked line for the host is never returned.
// A matching line whose key does not parse is an error naming its line
// number; lines for other hosts are not looked at further. Plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "authn/public_key.h"
#include "common/result.h"

namespace bastion::authn {

struct KnownHostKey {
  PublicKey key;
  int line = 0;  // 1-based line number in the file
};

// The keys `text` lists for `host` on `port`, in file order, without duplicates.
Result<std::vector<KnownHostKey>> known_host_keys(std::string_view text, const std::string& host, uint16_t port);

// Whether `name` matches one known_hosts pattern (`*`, `?` wildcards; no `!`).
bool known_hosts_glob(std::string_view pattern, std::string_view name);

}  // namespace bastion::authn
