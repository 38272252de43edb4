// Test-only helpers for web_server_test.cpp and web_server_browser_test.cpp:
// a self-signed TLS certificate made on the spot, and a fake WebBackend with
// fixed challenges that records what the browser posted. Not part of the
// gateway library (header only, included by tests alone).
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/encoding.h"
#include "common/files.h"
#include "common/openssl_handles.h"
#include "common/x509_builder.h"
#include "gateway/app/web_backend.h"

namespace bastion::gateway::testing {

struct TestCert {
  std::string cert_path;
  std::string key_path;
  std::string spki_sha256_base64;  // for Chromium's --ignore-certificate-errors-spki-list
};

// An ECDSA P-256 certificate for localhost, 127.0.0.1 and ::1, valid for a
// day, written as cert.pem and key.pem into `dir`. Throws on failure (test setup).
inline TestCert make_self_signed_cert(const std::string& dir) {
  Pkey key(EVP_EC_gen("P-256"));
  if (!key) throw std::runtime_error("openssl: cannot create a key");
  auto cert = make_certificate(key.get(), tls_server_spec("localhost", 24 * 3600));
  if (!cert) throw std::runtime_error(cert.error().message);
  auto cert_pem = certificate_pem(cert->get());
  auto key_pem = private_key_pem(key.get());
  if (!cert_pem || !key_pem) throw std::runtime_error("openssl: PEM");

  unsigned char* spki = nullptr;
  int spki_len = i2d_PUBKEY(key.get(), &spki);
  if (spki_len <= 0) throw std::runtime_error("openssl: SPKI");
  std::vector<uint8_t> digest(EVP_MAX_MD_SIZE);
  unsigned int digest_len = 0;
  EVP_Digest(spki, static_cast<size_t>(spki_len), digest.data(), &digest_len, EVP_sha256(), nullptr);
  OPENSSL_free(spki);
  digest.resize(digest_len);

  TestCert out{dir + "/cert.pem", dir + "/key.pem", base64_encode(digest)};
  if (!write_file_atomic(out.cert_path, *cert_pem, 0644, true) ||
      !write_file_atomic(out.key_path, *key_pem, 0600, true)) {
    throw std::runtime_error("cannot write the test certificate");
  }
  return out;
}

inline std::string b64url(const std::vector<uint8_t>& bytes) { return base64url_encode(bytes); }

inline nlohmann::json error_body(const std::string& message) { return {{"error", message}}; }

// Fixed-challenge backend. Tokens: "missing" -> 404, "gone" -> 410,
// "boom" -> throws; anything else is a live invitation or step-up.
// Registration accepts anything; an assertion is refused (403) unless its
// authenticatorData has the UP (0x01) and UV (0x04) flags.
class FakeWebBackend : public WebBackend {
 public:
  std::vector<uint8_t> create_challenge = std::vector<uint8_t>(32, 0xC1);
  std::vector<uint8_t> get_challenge = std::vector<uint8_t>(32, 0x6E);
  std::string rp_id = "localhost";
  std::string user_verification = "required";  // in both kinds of options
  std::string display_name = "Alice <Example> & \"Co\"";
  std::string stepup_notice;  // non-empty: stepup_info carries it (a pending key)
  // The console's calls, when a test scripts them (else the base's 404).
  std::function<WebReply(const std::string& op, const nlohmann::json& call)> on_console;
  WebReply console(const std::string& op, const nlohmann::json& call) override {
    return on_console ? on_console(op, call) : WebBackend::console(op, call);
  }

  std::atomic<int> calls{0};
  mutable std::mutex mu;
  std::vector<nlohmann::json> registered;  // credentials posted to /register
  std::vector<nlohmann::json> asserted;    // credentials posted to /assert

  WebReply invite_info(const std::string& token) override {
    if (auto r = scripted(token)) return *r;
    return {200,
            {{"user", "alice"},
             {"display_name", display_name},
             {"invited_by", "admin:root"},
             {"expires_at", "2026-12-02T10:00:00Z"}}};
  }
  WebReply invite_options(const std::string& token) override {
    if (auto r = scripted(token)) return *r;
    nlohmann::json pk = {
        {"challenge", b64url(create_challenge)},
        {"rp", {{"id", rp_id}, {"name", "bastion test"}}},
        {"user", {{"id", b64url(std::vector<uint8_t>(16, 0x55))}, {"name", "alice"}, {"displayName", "Alice"}}},
        {"pubKeyCredParams", {{{"type", "public-key"}, {"alg", -7}}, {{"type", "public-key"}, {"alg", -8}}}},
        {"attestation", "direct"},
        {"authenticatorSelection", {{"userVerification", user_verification}, {"residentKey", "discouraged"}}},
        {"timeout", 30000},
        {"excludeCredentials", nlohmann::json::array()}};
    return {200, {{"publicKey", pk}}};
  }
  WebReply invite_register(const std::string& token, const nlohmann::json& credential) override {
    if (auto r = scripted(token)) return *r;
    std::lock_guard lock(mu);
    registered.push_back(credential);
    return {200,
            {{"ok", true},
             {"message", "security key registered for alice."},
             {"confirmation",
              {{"code", "K7Q2-9XHD"},
               {"command", "ssh -p 2200 alice@gw confirm-key K7Q2-9XHD"},
               {"expires_at", "2026-12-02T10:00:00Z"},
               {"credential_id", "Y3JlZA"},
               {"admin_command", "bastionctl user confirm-key alice Y3JlZA"}}},
             {"ssh_instructions", "ssh-keygen -t ed25519-sk\nbastionctl key add alice < ~/.ssh/id_ed25519_sk.pub"}}};
  }
  WebReply stepup_info(const std::string& code) override {
    if (auto r = scripted(code)) return *r;
    nlohmann::json info = {{"user", "alice"}, {"purpose", "SSH login to root@db-1 from 10.0.0.5 <b>"}};
    if (!stepup_notice.empty()) info["notice"] = stepup_notice;
    return {200, info};
  }
  WebReply stepup_options(const std::string& code) override {
    if (auto r = scripted(code)) return *r;
    nlohmann::json allow = nlohmann::json::array();
    {
      std::lock_guard lock(mu);
      for (const auto& c : registered) allow.push_back({{"type", "public-key"}, {"id", c.value("rawId", "")}});
    }
    nlohmann::json pk = {{"challenge", b64url(get_challenge)},
                         {"rpId", rp_id},
                         {"allowCredentials", allow},
                         {"userVerification", user_verification},
                         {"timeout", 30000}};
    return {200, {{"publicKey", pk}}};
  }
  WebReply stepup_assert(const std::string& code, const nlohmann::json& credential) override {
    if (auto r = scripted(code)) return *r;
    {
      std::lock_guard lock(mu);
      asserted.push_back(credential);
    }
    auto data = base64url_decode(credential.value("/response/authenticatorData"_json_pointer, ""));
    if (!data || data->size() < 37) return {400, error_body("malformed authenticatorData")};
    uint8_t flags = (*data)[32];
    if ((flags & 0x01) == 0) return {403, error_body("the security key was not touched")};
    if ((flags & 0x04) == 0) return {403, error_body("user verification (PIN) missing")};
    return {200, {{"ok", true}, {"message", "approved; your SSH login continues."}}};
  }

 private:
  std::optional<WebReply> scripted(const std::string& token) {
    ++calls;
    if (token == "missing") return WebReply{404, error_body("unknown link")};
    if (token == "gone") return WebReply{410, error_body("this link has expired")};
    if (token == "boom") throw std::runtime_error("backend exploded");
    return std::nullopt;
  }
};

}  // namespace bastion::gateway::testing
