// WebAuthn registration and assertion verification (server side). See
// fido_verify.h. Signatures are checked by libfido2; clientDataJSON,
// flags, RP ID and counters by this file.
#include <openssl/x509.h>

#include <array>
#include <cstring>
#include <nlohmann/json.hpp>

#include "authn/cbor_guard.h"
#include "authn/fido_raii.h"
#include "authn/fido_verify.h"
#include "common/ed25519_key.h"
#include "common/encoding.h"
#include "common/openssl_handles.h"

namespace bastion::authn {

Status check_attestation_aaguid(const std::string& aaguid, const std::string& leaf_der, const AttestationTrust& trust);
std::string certificate_subject(const std::string& der);
std::string der_to_pem(const std::string& der);

namespace {

constexpr uint8_t kUp = 0x01, kUv = 0x04, kAt = 0x40;
constexpr size_t kMaxInput = 64 * 1024;

const unsigned char* bytes_of(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

// type, challenge and origin of clientDataJSON (WebAuthn section 7.1/7.2).
Status check_client_data(std::string_view json, const char* type, const std::string& challenge,
                         const std::string& origin) {
  if (json.size() > kMaxInput) return make_error("malformed client data: too large");
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object()) return make_error("malformed client data: not a JSON object");
  auto get = [&](const char* k) -> std::string {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string("\x01");
  };
  if (get("type") != type) return make_error(std::string("wrong type: expected ") + type);
  auto ch = base64url_decode(get("challenge"));
  if (!ch || std::string(ch->begin(), ch->end()) != challenge) {
    return make_error(ErrorCode::kWrongChallenge, "wrong challenge");
  }
  // SECURITY: the origin is what binds the assertion to this gateway; a
  // phishing site relaying our challenge has another origin.
  if (get("origin") != origin) return make_error("wrong origin: " + printable_ascii(get("origin")));
  if (auto co = j.find("crossOrigin"); co != j.end() && co->is_boolean() && co->get<bool>()) {
    return make_error("wrong origin: cross-origin request");
  }
  return {};
}

// rpIdHash and the UP/UV flags of authenticator data.
Status check_auth_data(std::string_view ad, const std::string& rp_id) {
  if (ad.size() < 37) return make_error("malformed authenticator data: too short");
  auto want = sha256(as_bytes(rp_id));
  if (std::memcmp(ad.data(), want.data(), 32) != 0) return make_error("wrong RP ID");
  auto flags = static_cast<uint8_t>(ad[32]);
  if ((flags & kUp) == 0) return make_error("user presence missing");
  if ((flags & kUv) == 0) return make_error("user verification missing");
  return {};
}

uint32_t counter_of(std::string_view ad) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(ad[i])); };
  return (b(33) << 24) | (b(34) << 16) | (b(35) << 8) | b(36);
}

struct AttObject {
  std::string fmt, auth_data;
  cbor_item_t* att_stmt = nullptr;  // owned by `root`
  CborItem root;
};

std::string cbor_text(cbor_item_t* i) {
  if (!cbor_isa_string(i) || !cbor_string_is_definite(i)) return {};
  return std::string(reinterpret_cast<const char*>(cbor_string_handle(i)), cbor_string_length(i));
}

std::string cbor_bytes(cbor_item_t* i) {
  if (!cbor_isa_bytestring(i) || !cbor_bytestring_is_definite(i)) return {};
  return std::string(reinterpret_cast<const char*>(cbor_bytestring_handle(i)), cbor_bytestring_length(i));
}

Result<AttObject> parse_att_object(std::string_view data) {
  if (data.size() > kMaxInput) return make_error("malformed attestation object: too large");
  // SECURITY: before libcbor sees it, which allocates what headers declare.
  if (auto st = cbor_bounded(as_bytes(data)); !st) return make_error("malformed attestation object: " + st.message());
  cbor_load_result res{};
  AttObject o;
  o.root.reset(cbor_load(bytes_of(data), data.size(), &res));
  if (!o.root || res.error.code != CBOR_ERR_NONE || res.read != data.size() || !cbor_isa_map(o.root.get()) ||
      !cbor_map_is_definite(o.root.get())) {
    return make_error("malformed attestation object: not a CBOR map");
  }
  cbor_pair* pairs = cbor_map_handle(o.root.get());
  for (size_t i = 0; i < cbor_map_size(o.root.get()); ++i) {
    std::string k = cbor_text(pairs[i].key);
    if (k == "fmt") o.fmt = cbor_text(pairs[i].value);
    else if (k == "authData") o.auth_data = cbor_bytes(pairs[i].value);
    else if (k == "attStmt" && cbor_isa_map(pairs[i].value)) o.att_stmt = pairs[i].value;
  }
  if (o.fmt.empty() || o.auth_data.empty() || o.att_stmt == nullptr) {
    return make_error("malformed attestation object: fmt, attStmt and authData are required");
  }
  return o;
}

struct AttStmt {
  std::string sig;
  std::vector<std::string> x5c;
};

AttStmt parse_att_stmt(cbor_item_t* m) {
  AttStmt s;
  cbor_pair* pairs = cbor_map_handle(m);
  for (size_t i = 0; i < cbor_map_size(m); ++i) {
    std::string k = cbor_text(pairs[i].key);
    if (k == "sig") s.sig = cbor_bytes(pairs[i].value);
    if (k == "x5c" && cbor_isa_array(pairs[i].value)) {
      cbor_item_t** items = cbor_array_handle(pairs[i].value);
      for (size_t j = 0; j < cbor_array_size(pairs[i].value); ++j) s.x5c.push_back(cbor_bytes(items[j]));
    }
  }
  return s;
}

// SubjectPublicKeyInfo DER of the credential key libfido2 parsed.
Result<std::string> spki_of(const fido_cred_t* c, int cose) {
  Pkey key;
  const void* ptr = fido_cred_pubkey_ptr(c);
  size_t len = fido_cred_pubkey_len(c);
  if (cose == COSE_ES256) {
    Es256Pk pk(es256_pk_new());
    if (!pk || es256_pk_from_ptr(pk.get(), ptr, len) != FIDO_OK) return make_error("malformed credential key");
    key.reset(es256_pk_to_EVP_PKEY(pk.get()));
  } else {
    EddsaPk pk(eddsa_pk_new());
    if (!pk || eddsa_pk_from_ptr(pk.get(), ptr, len) != FIDO_OK) return make_error("malformed credential key");
    key.reset(eddsa_pk_to_EVP_PKEY(pk.get()));
  }
  if (!key) return make_error("malformed credential key");
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(key.get(), &der);
  if (n <= 0) return make_error("malformed credential key");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

// Verifies the attestation statement; fills `info`.
Status check_statement(const AttObject& o, fido_cred_t* c, std::string_view client_data, const RegistrationCheck& check,
                       AttestationInfo& info) {
  AttStmt st = parse_att_stmt(o.att_stmt);
  bool none = o.fmt == "none" || (o.fmt == "packed" && st.x5c.empty());
  if (none) {
    // SECURITY: without an attestation nothing says which authenticator
    // this is; only policy may accept that.
    if (!check.allow_none_attestation) {
      return make_error("attestation required: the authenticator gave " +
                        std::string(o.fmt == "none" ? "none" : "only a self attestation") +
                        " (allow_none_attestation)");
    }
    info.format = "none";
    return {};
  }
  if (o.fmt != "packed" && o.fmt != "fido-u2f")
    return make_error("unsupported attestation format " + printable_ascii(o.fmt, 32));
  if (st.sig.empty() || st.x5c.empty() || st.x5c[0].empty()) return make_error("malformed attestation statement");
  if (fido_cred_set_fmt(c, o.fmt.c_str()) != FIDO_OK || fido_cred_set_rp(c, check.rp_id.c_str(), nullptr) != FIDO_OK ||
      fido_cred_set_clientdata(c, bytes_of(client_data), client_data.size()) != FIDO_OK ||
      fido_cred_set_x509(c, bytes_of(st.x5c[0]), st.x5c[0].size()) != FIDO_OK ||
      fido_cred_set_sig(c, bytes_of(st.sig), st.sig.size()) != FIDO_OK) {
    return make_error("malformed attestation statement");
  }
  if (int rc = fido_cred_verify(c); rc != FIDO_OK) {
    if (rc == FIDO_ERR_INVALID_SIG) return make_error(ErrorCode::kBadSignature, "bad signature");
    return make_error(std::string("bad attestation: ") + fido_strerr(rc));
  }
  if (check.trust == nullptr) return make_error("untrusted root: no attestation trust configured");
  std::vector<std::string> extra(st.x5c.begin() + 1, st.x5c.end());
  auto chain = verify_attestation_chain(st.x5c[0], extra, *check.trust);
  if (!chain) return chain.error();
  if (auto s = check_attestation_aaguid(info.aaguid, st.x5c[0], *check.trust); !s) return s;
  info.format = o.fmt;
  info.subject = certificate_subject(st.x5c[0]);
  info.chain_pem = std::move(*chain);
  return {};
}

}  // namespace

Result<WebauthnCredential> verify_registration(std::string_view client_data_json, std::string_view attestation_object,
                                               const RegistrationCheck& check, AttestationInfo* presented) {
  if (auto st = check_client_data(client_data_json, "webauthn.create", check.challenge, check.origin); !st) {
    return st.error();
  }
  auto o = parse_att_object(attestation_object);
  if (!o) return o.error();
  if (auto st = check_auth_data(o->auth_data, check.rp_id); !st) return st.error();
  auto layout = parse_authenticator_data(as_bytes(o->auth_data));
  if (!layout) return layout.error();
  if ((layout->flags & kAt) == 0) return make_error("malformed registration: no credential");
  // SECURITY: libfido2 leaves a missing coordinate zero; an EdDSA key of
  // zeros (or of small order) verifies signatures anybody can make.
  auto alg = check_cose_key(layout->cose_key);
  if (!alg) return alg.error();
  int cose = *alg;
  FidoCred c(fido_cred_new());
  if (!c || fido_cred_set_type(c.get(), cose) != FIDO_OK) return make_error("out of memory");
  if (fido_cred_set_authdata_raw(c.get(), bytes_of(o->auth_data), o->auth_data.size()) != FIDO_OK) {
    return make_error("malformed registration: the credential key is not ES256 or EdDSA");
  }
  WebauthnCredential out;
  out.cose_alg = cose;
  out.credential_id.assign(reinterpret_cast<const char*>(fido_cred_id_ptr(c.get())), fido_cred_id_len(c.get()));
  if (out.credential_id.empty()) return make_error("malformed registration: no credential id");
  if (fido_cred_aaguid_len(c.get()) == 16) out.attestation.aaguid = format_aaguid(fido_cred_aaguid_ptr(c.get()));
  out.sign_count = counter_of(o->auth_data);
  out.user_verified = true;
  auto spki = spki_of(c.get(), cose);
  if (!spki) return spki.error();
  out.public_key_der = std::move(*spki);
  if (presented != nullptr) {
    presented->format = o->fmt;
    presented->aaguid = out.attestation.aaguid;
    AttStmt st = parse_att_stmt(o->att_stmt);
    if (!st.x5c.empty()) presented->subject = certificate_subject(st.x5c[0]);
    for (const auto& der : st.x5c) presented->chain_pem.push_back(der_to_pem(der));
  }
  if (auto st = check_statement(*o, c.get(), client_data_json, check, out.attestation); !st) return st.error();
  return out;
}

Result<AssertionResult> verify_assertion(std::string_view credential_id, std::string_view client_data_json,
                                         std::string_view authenticator_data, std::string_view signature,
                                         const AssertionCheck& check) {
  const WebauthnCredential* cred = check.credential;
  if (cred == nullptr || credential_id != cred->credential_id) return make_error("unknown credential");
  if (auto st = check_client_data(client_data_json, "webauthn.get", check.challenge, check.origin); !st) {
    return st.error();
  }
  if (auto st = check_auth_data(authenticator_data, check.rp_id); !st) return st.error();
  if (auto layout = parse_authenticator_data(as_bytes(authenticator_data)); !layout) return layout.error();
  if (signature.empty() || signature.size() > 1024) return make_error("malformed signature");
  const unsigned char* p = bytes_of(cred->public_key_der);
  Pkey key(d2i_PUBKEY(nullptr, &p, static_cast<long>(cred->public_key_der.size())));
  if (!key) return make_error("malformed stored credential key");
  FidoAssert a(fido_assert_new());
  if (!a || fido_assert_set_rp(a.get(), check.rp_id.c_str()) != FIDO_OK ||
      fido_assert_set_clientdata(a.get(), bytes_of(client_data_json), client_data_json.size()) != FIDO_OK ||
      fido_assert_set_count(a.get(), 1) != FIDO_OK ||
      fido_assert_set_authdata_raw(a.get(), 0, bytes_of(authenticator_data), authenticator_data.size()) != FIDO_OK ||
      fido_assert_set_sig(a.get(), 0, bytes_of(signature), signature.size()) != FIDO_OK ||
      fido_assert_set_up(a.get(), FIDO_OPT_TRUE) != FIDO_OK || fido_assert_set_uv(a.get(), FIDO_OPT_TRUE) != FIDO_OK) {
    return make_error("malformed assertion");
  }
  int rc;
  if (cred->cose_alg == COSE_ES256) {
    Es256Pk pk(es256_pk_new());
    if (!pk || es256_pk_from_EVP_PKEY(pk.get(), key.get()) != FIDO_OK)
      return make_error("malformed stored credential key");
    rc = fido_assert_verify(a.get(), 0, COSE_ES256, pk.get());
  } else if (cred->cose_alg == COSE_EDDSA) {
    std::array<uint8_t, 32> raw{};
    size_t raw_len = raw.size();
    if (EVP_PKEY_get_raw_public_key(key.get(), raw.data(), &raw_len) != 1 || raw_len != raw.size() ||
        ed25519_public_key_is_weak(raw)) {
      return make_error("malformed stored credential key: a weak Ed25519 key");
    }
    EddsaPk pk(eddsa_pk_new());
    if (!pk || eddsa_pk_from_EVP_PKEY(pk.get(), key.get()) != FIDO_OK)
      return make_error("malformed stored credential key");
    rc = fido_assert_verify(a.get(), 0, COSE_EDDSA, pk.get());
  } else {
    return make_error("unsupported credential algorithm");
  }
  if (rc == FIDO_ERR_INVALID_SIG) return make_error(ErrorCode::kBadSignature, "bad signature");
  if (rc != FIDO_OK) return make_error(std::string("bad assertion: ") + fido_strerr(rc));
  uint32_t counter = counter_of(authenticator_data);
  // SECURITY: a counter that does not move forward (when the authenticator
  // keeps one) means a cloned key or a replay.
  if ((cred->sign_count != 0 || counter != 0) && counter <= cred->sign_count) {
    return make_error(ErrorCode::kCounterRegression, "counter regression: stored " + std::to_string(cred->sign_count) +
                                                         ", got " + std::to_string(counter));
  }
  return AssertionResult{counter};
}

}  // namespace bastion::authn
