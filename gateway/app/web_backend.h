#pragma once
#include <memory>
#include <string>
#include <nlohmann/json.hpp>
#include "common/unique_fd.h"
namespace bastion::gateway {
// Reply of a backend call: HTTP status and a JSON body. On error, body is {"error": "one line for the person"}.
// `file`: a file the answer hands over (a console recording, opened read-only by the monitor and passed to the
// web process with SCM_RIGHTS; its body says what it is); null for none.
struct WebReply {
  int status = 200;
  nlohmann::json body;
  std::shared_ptr<UniqueFd> file = nullptr;
};
// What the HTTPS front end asks of the gateway. Binary values in JSON are base64url without padding.
// Implementations are called from the web server's worker threads: must be thread-safe.
class WebBackend {
 public:
  virtual ~WebBackend() = default;
  // GET /invite/TOKEN page header: {"user": "alice", "display_name": "Alice Example"} or 404/410 error.
  virtual WebReply invite_info(const std::string& token) = 0;
  // POST /api/invite/TOKEN/options -> {"publicKey": PublicKeyCredentialCreationOptions-as-JSON (challenge, rp{id,name},
  // user{id,name,displayName}, pubKeyCredParams, attestation, authenticatorSelection, timeout, excludeCredentials)}
  virtual WebReply invite_options(const std::string& token) = 0;
  // POST /api/invite/TOKEN/register with {"id","rawId","type","response":{"clientDataJSON","attestationObject"}} ->
  // {"ok":true,"message":"...","ssh_instructions":"multi-line text"} or error
  virtual WebReply invite_register(const std::string& token, const nlohmann::json& credential) = 0;
  // GET /mfa/CODE page header: {"user":"alice","purpose":"SSH login to root@db-1 from 10.0.0.5"} or 404/410
  virtual WebReply stepup_info(const std::string& code) = 0;
  // POST /api/mfa/CODE/options -> {"publicKey": PublicKeyCredentialRequestOptions-as-JSON (challenge, rpId,
  // allowCredentials[{type,id}], userVerification, timeout)}
  virtual WebReply stepup_options(const std::string& code) = 0;
  // POST /api/mfa/CODE/assert with
  // {"id","rawId","type","response":{"clientDataJSON","authenticatorData","signature","userHandle"}} ->
  // {"ok":true,"message":"..."} or error
  virtual WebReply stepup_assert(const std::string& code, const nlohmann::json& credential) = 0;
  // The web console (gateway/app/console_web.h): `op` is a console op, `call`
  // {"cookie","csrf","origin","source","args":{...}}. A 401 answer means
  // "sign in"; an answer with "set_cookie" or "clear_cookie" sets or clears
  // the console cookie (the web server turns it into a header).
  virtual WebReply console(const std::string& op, const nlohmann::json& call) {
    (void)op;
    (void)call;
    return {404, {{"error", "not served here"}}};
  }
  // /scim/v2/...: `call` {"method","path","query":{...},"token","if_match","body","source"} ->
  // {"scim": the SCIM body (null: none), "location", "etag", "retry_after"} with the SCIM status.
  virtual WebReply scim(const nlohmann::json& call) {
    (void)call;
    return {404, {{"error", "not served here"}}};
  }
  // GET /healthz on [web] metrics_listen: 200 {"status":"ready","node":...} when this node accepts logins,
  // reaches its database and can sign; otherwise 503 {"status":"unavailable","reason":...}.
  virtual WebReply health() { return {404, {{"error", "not served here"}}}; }
  // GET /metrics: 200 {"text": Prometheus text exposition}.
  virtual WebReply metrics() { return {404, {{"error", "not served here"}}}; }
};
}  // namespace bastion::gateway
