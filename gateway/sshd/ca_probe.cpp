#include "gateway/sshd/ca_probe.h"

#include "common/random.h"
#include "gateway/sshd/upstream.h"

namespace bastion::gateway {

Status probe_user_ca(const policy::Target& target, const std::string& login, const authn::UserCa& ca, Micros timeout) {
  UpstreamRequest req;
  req.target = &target;
  req.login = login;
  req.person = "bastionctl";
  req.session_id = "ca-rotation-check";
  req.connect_timeout = timeout;
  auto sign = [&](std::span<const uint8_t> subject, const std::string& source) -> Result<SignedCertificate> {
    authn::CertificateRequest cr;
    cr.subject_key_blob.assign(subject.begin(), subject.end());
    random_fill({reinterpret_cast<uint8_t*>(&cr.serial), sizeof cr.serial});
    cr.key_id = "bastion ca-rotation-check login=" + login;
    cr.principals = {policy::certificate_principal(target, login)};
    const auto now = static_cast<uint64_t>(SystemClock::instance().now() / kMicrosPerSecond);
    cr.valid_after = now - 60;
    cr.valid_before = now + 120;
    // SECURITY: good for this login attempt only: no session could do anything.
    cr.critical_options = {{"force-command", "/bin/false"}};
    if (!source.empty()) cr.critical_options.emplace_back("source-address", source);
    auto blob = ca.sign_user_certificate(cr);
    if (!blob) return blob.error();
    return SignedCertificate{std::move(*blob), cr.key_id};
  };
  auto up = Upstream::connect(req, sign);
  if (!up) return up.error();
  return {};
}

}  // namespace bastion::gateway
