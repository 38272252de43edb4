// Upstream: the gateway's SSH client connection to a target.
//
// Contract: connect() returns an authenticated session or an error whose
// message is safe to show the user ("host key of prod-db-1 does not match
// the pinned key"). It never falls back: a host key mismatch, an unknown key
// type or an authentication failure all refuse.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "authn/user_ca.h"
#include "common/clock.h"
#include "common/result.h"
#include "gateway/sshd/ssh_handles.h"
#include "policy/model.h"

namespace bastion::gateway {

struct UpstreamRequest {
  const policy::Target* target = nullptr;
  std::string login;
  std::string person;
  std::string session_id;
  bool allow_port_forwarding = false;
  Micros connect_timeout = 10 * kMicrosPerSecond;
  Micros certificate_validity = 5 * 60 * kMicrosPerSecond;
};

struct SignedCertificate {
  std::vector<uint8_t> blob;
  std::string key_id;
};

// Certifies the per-connection public key (SSH wire blob) for use from
// `source_address` (the upstream connection's local address). In a
// connection process this asks the monitor, which alone holds the user CA
// and signs only for the login and session it authorized.
using CertificateSigner =
    std::function<Result<SignedCertificate>(std::span<const uint8_t> subject_blob, const std::string& source_address)>;

class Upstream {
 public:
  static Result<Upstream> connect(const UpstreamRequest& req, const CertificateSigner& sign);
  [[nodiscard]] ssh_session session() const { return session_.get(); }
  [[nodiscard]] const std::string& certificate_key_id() const { return key_id_; }

 private:
  SshSession session_;
  std::string key_id_;
};

// Parses an OpenSSH public-key line into a libssh key (for pinned host keys).
Result<SshKey> import_public_key_line(const std::string& line);

}  // namespace bastion::gateway
