// Round-trips OpenSSH user certificates (authn/user_ca.h) through the
// project's own SSH wire reader (common/ssh_wire.h).
// The input drives a CertificateRequest (FuzzedDataProvider: subject key of
// each kind, serial, key id, principals, validity, extensions, critical
// options). A CA key is created once per process in a private temp dir. The
// request must be refused exactly when it is invalid (no principals, empty
// validity, a subject key that is not ssh-ed25519 / ecdsa-sha2-nistp256);
// otherwise the certificate is decoded field by field (PROTOCOL.certkeys) and
// every field must be what was asked for, with extensions sorted and unique,
// critical options sorted, and a CA signature that verifies. Any mismatch
// aborts: it is a bug in the certificate encoding.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "authn/user_ca.h"
#include "common/ed25519_key.h"
#include "common/encoding.h"
#include "common/ssh_wire.h"
#include "fuzz_support.h"

using namespace bastion;

namespace {

std::optional<authn::UserCa>& ca() {
  static std::optional<authn::UserCa> instance;
  return instance;
}

std::vector<uint8_t> ca_raw_public_key;

std::vector<uint8_t> to_vec(std::span<const uint8_t> s) { return {s.begin(), s.end()}; }

template <class T>
T need(Result<T> r) {
  if (!r) std::fprintf(stderr, "certificate decoding failed: %s\n", r.error().message.c_str());
  FUZZ_CHECK(r);
  return std::move(*r);
}

// What the subject key blob should turn into: the certificate type and the
// key fields that follow the nonce. nullopt: the CA must refuse it.
struct Subject {
  std::string cert_type;
  std::vector<std::vector<uint8_t>> fields;
};

std::optional<Subject> expected_subject(const std::vector<uint8_t>& blob) {
  WireReader r(blob);
  auto type = r.text();
  if (!type) return std::nullopt;
  if (*type == "ssh-ed25519") {
    auto pk = r.string();
    if (!pk || pk->size() != 32 || !r.at_end()) return std::nullopt;
    return Subject{"ssh-ed25519-cert-v01@openssh.com", {to_vec(*pk)}};
  }
  if (*type == "ecdsa-sha2-nistp256") {
    auto curve = r.string();
    auto q = r.string();
    if (!curve || !q || !r.at_end()) return std::nullopt;
    return Subject{"ecdsa-sha2-nistp256-cert-v01@openssh.com", {to_vec(*curve), to_vec(*q)}};
  }
  return std::nullopt;
}

std::vector<uint8_t> subject_blob(FuzzedDataProvider& in) {
  WireWriter w;
  switch (in.ConsumeIntegralInRange<int>(0, 3)) {
    case 0: {  // a well-formed Ed25519 key
      w.string(std::string_view("ssh-ed25519"));
      auto pk = in.ConsumeBytes<uint8_t>(32);
      pk.resize(32);
      w.string(pk);
      break;
    }
    case 1: {  // ECDSA: curve and point are copied, not checked
      w.string(std::string_view("ecdsa-sha2-nistp256"));
      w.string(in.ConsumeRandomLengthString(16));
      w.string(in.ConsumeRandomLengthString(80));
      break;
    }
    case 2: {  // a named type with arbitrary fields
      static const char* const kTypes[] = {"ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa",
                                           "sk-ssh-ed25519@openssh.com"};
      w.string(std::string_view(kTypes[in.ConsumeIntegralInRange<int>(0, 3)]));
      auto rest = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(0, 80));
      w.raw(rest);
      break;
    }
    default:  // arbitrary bytes
      return in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(0, 80));
  }
  return w.bytes();
}

std::vector<std::string> strings(FuzzedDataProvider& in, int max_count, size_t max_len) {
  std::vector<std::string> out(static_cast<size_t>(in.ConsumeIntegralInRange<int>(0, max_count)));
  for (auto& s : out) s = in.ConsumeRandomLengthString(max_len);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  auto created = authn::UserCa::create(fuzz::temp_dir() + "/user_ca_key");
  if (!created) std::fprintf(stderr, "cannot create the CA: %s\n", created.error().message.c_str());
  FUZZ_CHECK(created);
  ca().emplace(std::move(*created));
  const std::vector<uint8_t> ca_blob = ca()->public_key_blob();
  WireReader r(ca_blob);
  FUZZ_CHECK(need(r.text()) == "ssh-ed25519");
  ca_raw_public_key = to_vec(need(r.string()));
  FUZZ_CHECK(ca_raw_public_key.size() == 32 && r.at_end());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  authn::CertificateRequest req;
  req.subject_key_blob = subject_blob(in);
  req.serial = in.ConsumeIntegral<uint64_t>();
  req.key_id = in.ConsumeRandomLengthString(128);
  req.principals = strings(in, 6, 64);
  req.valid_after = in.ConsumeIntegral<uint64_t>();
  req.valid_before =
      in.ConsumeBool() ? req.valid_after + in.ConsumeIntegral<uint16_t>() : in.ConsumeIntegral<uint64_t>();
  req.extensions = strings(in, 6, 32);
  for (int n = in.ConsumeIntegralInRange<int>(0, 4); n > 0; --n) {
    std::string name = in.ConsumeRandomLengthString(32);
    req.critical_options.emplace_back(name, in.ConsumeRandomLengthString(64));
  }

  auto subject = expected_subject(req.subject_key_blob);
  bool valid = subject && !req.principals.empty() && req.valid_before > req.valid_after;
  auto cert = ca()->sign_user_certificate(req);
  if (!valid) {
    FUZZ_CHECK(!cert);
    FUZZ_CHECK(!cert.error().message.empty());
    return 0;
  }
  if (!cert) std::fprintf(stderr, "valid request refused: %s\n", cert.error().message.c_str());
  FUZZ_CHECK(cert);

  // Decode it (PROTOCOL.certkeys, user certificate).
  const std::vector<uint8_t>& blob = *cert;
  WireReader r(blob);
  FUZZ_CHECK(need(r.text()) == subject->cert_type);
  FUZZ_CHECK(need(r.string()).size() == 32);  // nonce
  for (const auto& field : subject->fields) FUZZ_CHECK(to_vec(need(r.string())) == field);
  FUZZ_CHECK(need(r.u64()) == req.serial);
  FUZZ_CHECK(need(r.u32()) == 1);  // SSH_CERT_TYPE_USER
  FUZZ_CHECK(need(r.text()) == req.key_id);

  auto principals_blob = need(r.string());
  WireReader pr(principals_blob);
  std::vector<std::string> principals;
  while (!pr.at_end()) principals.push_back(need(pr.text()));
  FUZZ_CHECK(principals == req.principals);

  FUZZ_CHECK(need(r.u64()) == req.valid_after);
  FUZZ_CHECK(need(r.u64()) == req.valid_before);

  auto want_options = req.critical_options;
  std::sort(want_options.begin(), want_options.end());
  auto crit_blob = need(r.string());
  WireReader cr(crit_blob);
  std::vector<std::pair<std::string, std::string>> options;
  while (!cr.at_end()) {
    std::string name = need(cr.text());
    auto value_blob = need(cr.string());
    WireReader vr(value_blob);
    std::string value = need(vr.text());
    FUZZ_CHECK(vr.at_end());
    options.emplace_back(name, value);
  }
  FUZZ_CHECK(options == want_options);

  auto want_ext = req.extensions;
  std::sort(want_ext.begin(), want_ext.end());
  want_ext.erase(std::unique(want_ext.begin(), want_ext.end()), want_ext.end());
  auto ext_blob = need(r.string());
  WireReader er(ext_blob);
  std::vector<std::string> extensions;
  while (!er.at_end()) {
    extensions.push_back(need(er.text()));
    FUZZ_CHECK(need(er.string()).empty());
  }
  FUZZ_CHECK(extensions == want_ext);
  FUZZ_CHECK(std::adjacent_find(extensions.begin(), extensions.end(), std::greater_equal<>()) == extensions.end());

  FUZZ_CHECK(need(r.string()).empty());  // reserved
  FUZZ_CHECK(to_vec(need(r.string())) == ca()->public_key_blob());
  const size_t signed_len = blob.size() - r.remaining();
  auto sig_blob = need(r.string());
  FUZZ_CHECK(r.at_end());
  WireReader sr(sig_blob);
  FUZZ_CHECK(need(sr.text()) == "ssh-ed25519");
  auto sig = need(sr.string());
  FUZZ_CHECK(sr.at_end());
  FUZZ_CHECK(ed25519_verify(ca_raw_public_key, std::span<const uint8_t>(blob.data(), signed_len), sig));

  std::string line = authn::UserCa::certificate_line(blob, "c");
  FUZZ_CHECK(line == subject->cert_type + " " + base64_encode(blob) + " c");
  return 0;
}
