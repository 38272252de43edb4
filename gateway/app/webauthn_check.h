// The parts every WebAuthn page of the gateway shares: reading the
// assertion a page posts (PublicKeyCredential as JSON, binary fields in
// base64url) and checking it against a stored credential.
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "authn/mfa_store.h"
#include "common/result.h"
#include "gateway/app/web_origin.h"

namespace bastion::gateway {

struct PostedAssertion {
  std::string raw_id, client_data, auth_data, signature;  // raw bytes
};

// A field of the posted credential (`a`, or `a`.`b`), base64url-decoded.
Result<std::string> credential_field(const nlohmann::json& j, const char* a, const char* b = nullptr);
// rawId and response.{clientDataJSON, authenticatorData, signature}.
Result<PostedAssertion> posted_assertion(const nlohmann::json& credential);

// Verifies `a` (user presence and verification required) over `challenge`
// with `stored`, for `origin`, and records the credential's use (its new
// signature counter). SECURITY: a counter that went back means a cloned
// authenticator or a replay: the credential is locked and `alert` is called
// with why (the caller audits it), before the error is returned.
Result<uint32_t> check_posted_assertion(authn::MfaStore& mfa, const WebOrigin& origin, const PostedAssertion& a,
                                        const authn::StoredCredential& stored, const std::string& challenge,
                                        const std::function<void(const std::string& why)>& alert);

}  // namespace bastion::gateway
