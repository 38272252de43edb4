#include "authn/user_ca.h"

#include <openssl/err.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>

#include "authn/public_key.h"
#include "common/encoding.h"
#include "common/ssh_wire.h"

namespace bastion::authn {
namespace {

constexpr uint32_t kUserCertificate = 1;  // SSH_CERT_TYPE_USER
constexpr size_t kNonceBytes = 32;

struct CertificateType {
  std::string_view subject;
  std::string_view certificate;
};

constexpr std::array<CertificateType, 4> kCertificateTypes = {{
    {"ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com"},
    {"ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256-cert-v01@openssh.com"},
    {"sk-ssh-ed25519@openssh.com", "sk-ssh-ed25519-cert-v01@openssh.com"},
    {"sk-ecdsa-sha2-nistp256@openssh.com", "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com"},
}};

// The user-certificate critical options sshd knows, and whether each carries
// a value (a nested string) or is a flag (empty data).
struct CriticalOption {
  std::string_view name;
  bool has_value;
};

constexpr std::array<CriticalOption, 3> kCriticalOptions = {{
    {"force-command", true},
    {"source-address", true},
    {"verify-required", false},
}};

bool is_printable_text(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// SECURITY: sshd logs the key id and matches principals as C strings; a NUL
// or newline would let a name mean one thing to us and another to a target
// or its log reader.
Status check_identity(const CertificateRequest& req) {
  if (req.principals.empty()) return make_error("a certificate needs at least one principal");
  for (size_t i = 0; i < req.principals.size(); ++i) {
    const auto& p = req.principals[i];
    if (p.empty() || !is_printable_text(p)) {
      return make_error("certificate principal #" + std::to_string(i + 1) + " is empty or not printable");
    }
  }
  if (req.key_id.empty() || !is_printable_text(req.key_id)) {
    return make_error("certificate key id must be non-empty printable text");
  }
  if (req.valid_before <= req.valid_after) {
    return make_error("certificate validity is empty (valid_before must be after valid_after)");
  }
  return {};
}

// The certificate type for a subject key and the subject's key fields (its
// blob after the type name), which the certificate carries unchanged.
Result<std::pair<std::string_view, std::span<const uint8_t>>> subject_fields(std::span<const uint8_t> blob) {
  auto type = validate_key_blob(blob);
  if (!type) return make_error("subject key is invalid: " + type.error().message);
  auto it = std::find_if(kCertificateTypes.begin(), kCertificateTypes.end(),
                         [&](const CertificateType& t) { return t.subject == *type; });
  if (it == kCertificateTypes.end()) return make_error("cannot certify keys of type " + *type);
  WireReader r(blob);
  if (!r.text()) return make_error("subject key is invalid");
  return std::pair{it->certificate, blob.subspan(r.offset())};
}

// Sorted by name, each name once (PROTOCOL.certkeys); `names` is sorted here.
Status check_sorted_names(const std::vector<std::string_view>& names, const char* what) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i].empty() || !is_printable_text(names[i])) return make_error(std::string("invalid ") + what + " name");
    if (i > 0 && names[i] == names[i - 1]) {
      return make_error(std::string("duplicate ") + what + " '" + std::string(names[i]) + "'");
    }
  }
  return {};
}

Result<std::vector<uint8_t>> encode_critical_options(std::vector<std::pair<std::string, std::string>> options) {
  std::sort(options.begin(), options.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string_view> names;
  for (const auto& o : options) names.push_back(o.first);
  if (auto st = check_sorted_names(names, "critical option"); !st) return st.error();
  WireWriter out;
  for (const auto& [name, value] : options) {
    auto known = std::find_if(kCriticalOptions.begin(), kCriticalOptions.end(),
                              [&](const CriticalOption& o) { return o.name == name; });
    // SECURITY: sshd refuses a certificate with a critical option it does
    // not know; better to fail here, with a reason, than at the target.
    if (known == kCriticalOptions.end()) return make_error("unsupported critical option '" + name + "'");
    if (known->has_value != !value.empty() || !is_printable_text(value)) {
      return make_error("critical option '" + name + (known->has_value ? "' needs a value" : "' takes no value"));
    }
    WireWriter data;
    if (known->has_value) data.string(value);
    out.string(name);
    out.string(data.bytes());
  }
  return out.bytes();
}

Result<std::vector<uint8_t>> encode_extensions(const std::vector<std::string>& extensions) {
  std::vector<std::string_view> names(extensions.begin(), extensions.end());
  std::sort(names.begin(), names.end());
  if (auto st = check_sorted_names(names, "extension"); !st) return st.error();
  WireWriter out;
  for (auto name : names) {
    out.string(name);
    out.string(std::string_view());  // every extension sshd knows is a flag: empty data
  }
  return out.bytes();
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
  WireWriter w;
  w.string(std::string_view("ssh-ed25519"));
  w.string(key_.public_key());
  return w.bytes();
}

std::string UserCa::public_key_line() const {
  return "ssh-ed25519 " + base64_encode(public_key_blob()) + " bastion-user-ca";
}

Result<std::vector<uint8_t>> UserCa::sign_user_certificate(const CertificateRequest& req) const {
  auto subject = subject_fields(req.subject_key_blob);
  if (!subject) return subject.error();
  if (auto st = check_identity(req); !st) return st.error();
  auto critical = encode_critical_options(req.critical_options);
  if (!critical) return critical.error();
  auto extensions = encode_extensions(req.extensions);
  if (!extensions) return extensions.error();
  std::array<uint8_t, kNonceBytes> nonce{};
  if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) {
    ERR_clear_error();
    return make_error("cannot generate a certificate nonce");
  }
  WireWriter principals;
  for (const auto& p : req.principals) principals.string(p);

  WireWriter w;
  w.string(subject->first);
  w.string(nonce);
  w.raw(subject->second);
  w.u64(req.serial);
  w.u32(kUserCertificate);
  w.string(req.key_id);
  w.string(principals.bytes());
  w.u64(req.valid_after);
  w.u64(req.valid_before);
  w.string(*critical);
  w.string(*extensions);
  w.string(std::string_view());  // reserved
  w.string(public_key_blob());   // signature key
  if (!w.ok() || !principals.ok()) return make_error("certificate request is too large");

  // The signature covers every field above, up to and including the signature key.
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
