#include "authn/user_ca.h"

#include <algorithm>

#include "common/encoding.h"
#include "common/files.h"
#include "common/random.h"
#include "common/ssh_wire.h"

namespace bastion::authn {
namespace {

Result<std::string> cert_type_for(std::span<const uint8_t> subject, std::vector<uint8_t>& key_fields) {
  WireReader r(subject);
  auto type = r.text();
  if (!type) return make_error("subject key is malformed");
  WireWriter fields;
  if (*type == "ssh-ed25519") {
    auto pk = r.string();
    if (!pk || pk->size() != 32 || !r.at_end()) return make_error("subject key is malformed");
    fields.string(*pk);
    key_fields = fields.bytes();
    return std::string("ssh-ed25519-cert-v01@openssh.com");
  }
  if (*type == "ecdsa-sha2-nistp256") {
    auto curve = r.string();
    auto q = r.string();
    if (!curve || !q || !r.at_end()) return make_error("subject key is malformed");
    fields.string(*curve);
    fields.string(*q);
    key_fields = fields.bytes();
    return std::string("ecdsa-sha2-nistp256-cert-v01@openssh.com");
  }
  return make_error("cannot certify keys of type " + *type);
}

}  // namespace

Result<UserCa> UserCa::create(const std::string& path) {
  auto key = Ed25519Key::create(path);
  if (!key) return key.error();
  return UserCa(std::move(*key));
}

Result<UserCa> UserCa::load(const std::string& path) {
  auto key = Ed25519Key::load(path);
  if (!key) return key.error();
  return UserCa(std::move(*key));
}

std::vector<uint8_t> UserCa::public_key_blob() const {
  std::vector<uint8_t> raw = key_.public_key();
  WireWriter w;
  w.string(std::string_view("ssh-ed25519"));
  w.string(raw);
  return w.bytes();
}

std::string UserCa::public_key_line() const {
  return "ssh-ed25519 " + base64_encode(public_key_blob()) + " bastion-user-ca";
}

Result<std::vector<uint8_t>> UserCa::sign_user_certificate(const CertificateRequest& req) const {
  if (req.principals.empty()) return make_error("a certificate needs at least one principal");
  if (req.valid_before <= req.valid_after) return make_error("certificate validity is empty");
  std::vector<uint8_t> key_fields;
  auto cert_type = cert_type_for(req.subject_key_blob, key_fields);
  if (!cert_type) return cert_type.error();

  std::vector<uint8_t> nonce(32);
  random_fill(nonce);
  WireWriter principals;
  for (const auto& p : req.principals) principals.string(p);
  auto options = req.critical_options;
  std::sort(options.begin(), options.end());
  WireWriter crit;
  for (const auto& [name, value] : options) {
    WireWriter data;
    data.string(value);
    crit.string(name);
    crit.string(data.bytes());
  }
  auto extensions = req.extensions;
  std::sort(extensions.begin(), extensions.end());
  extensions.erase(std::unique(extensions.begin(), extensions.end()), extensions.end());
  WireWriter ext;
  for (const auto& name : extensions) {
    ext.string(name);
    ext.string(std::string_view());
  }

  WireWriter w;
  w.string(*cert_type);
  w.string(nonce);
  w.raw(key_fields);
  w.u64(req.serial);
  w.u32(1);  // SSH_CERT_TYPE_USER
  w.string(req.key_id);
  w.string(principals.bytes());
  w.u64(req.valid_after);
  w.u64(req.valid_before);
  w.string(crit.bytes());
  w.string(ext.bytes());
  w.string(std::string_view());  // reserved
  w.string(public_key_blob());
  auto sig = key_.sign(w.bytes());
  if (!sig) return sig.error();
  WireWriter sig_blob;
  sig_blob.string(std::string_view("ssh-ed25519"));
  sig_blob.string(*sig);
  w.string(sig_blob.bytes());
  return w.bytes();
}

std::string UserCa::certificate_line(std::span<const uint8_t> blob, std::string_view comment) {
  WireReader r(blob);
  auto type = r.text();
  std::string line = (type ? *type : std::string("unknown")) + " " + base64_encode(blob);
  if (!comment.empty()) line += " " + std::string(comment);
  return line;
}

}  // namespace bastion::authn
