#include "gateway/app/webauthn_check.h"

#include "common/encoding.h"

namespace bastion::gateway {

Result<std::string> credential_field(const nlohmann::json& j, const char* a, const char* b) {
  const nlohmann::json* v = &j;
  for (const char* k : {a, b}) {
    if (k == nullptr) break;
    if (!v->is_object() || !v->contains(k)) return make_error(std::string("missing ") + k);
    v = &(*v)[k];
  }
  if (!v->is_string()) return make_error(std::string("malformed ") + (b ? b : a));
  auto raw = base64url_decode(v->get<std::string>());
  if (!raw) return make_error(std::string("malformed ") + (b ? b : a) + ": " + raw.error().message);
  return std::string(raw->begin(), raw->end());
}

Result<PostedAssertion> posted_assertion(const nlohmann::json& credential) {
  auto raw_id = credential_field(credential, "rawId");
  auto cdj = credential_field(credential, "response", "clientDataJSON");
  auto auth_data = credential_field(credential, "response", "authenticatorData");
  auto sig = credential_field(credential, "response", "signature");
  for (const auto* f : {&raw_id, &cdj, &auth_data, &sig}) {
    if (!*f) return make_error("malformed assertion: " + f->error().message);
  }
  return PostedAssertion{*raw_id, *cdj, *auth_data, *sig};
}

Result<uint32_t> check_posted_assertion(authn::MfaStore& mfa, const WebOrigin& origin, const PostedAssertion& a,
                                        const authn::StoredCredential& stored, const std::string& challenge,
                                        const std::function<void(const std::string& why)>& alert) {
  authn::AssertionCheck check;
  check.rp_id = origin.rp_id;
  check.origin = origin.origin;
  check.challenge = challenge;
  check.credential = &stored.credential;
  auto ok = authn::verify_assertion(a.raw_id, a.client_data, a.auth_data, a.signature, check);
  if (!ok) {
    if (ok.error().code == ErrorCode::kCounterRegression) {
      (void)mfa.lock_credential(a.raw_id, ok.error().message);
      if (alert) alert("credential locked: " + ok.error().message);
    }
    return ok.error();
  }
  if (auto st = mfa.record_use(a.raw_id, ok->sign_count); !st) return st.error();
  return ok->sign_count;
}

}  // namespace bastion::gateway
