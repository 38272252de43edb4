#include "authn/public_key.h"

#include <openssl/core_names.h>
#include <openssl/err.h>

#include <algorithm>
#include <array>
#include <cstdlib>

#include "authn/openssl_handles.h"
#include "common/encoding.h"
#include "common/files.h"
#include "common/ssh_wire.h"

namespace bastion::authn {
namespace {

constexpr size_t kMaxFileBytes = 64 * 1024;
constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 16384;  // as OpenSSH (SSH_RSA_MAXIMUM_MODULUS_SIZE)
constexpr size_t kP256PointBytes = 65;

Error malformed(const std::string& what) { return make_error("not an OpenSSH public key: " + what); }

// A name from untrusted input, made safe to put in a one-line message.
std::string printable(std::string_view s) {
  std::string out(s.substr(0, 64));
  for (auto& c : out) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e) c = '?';
  }
  return s.size() > 64 ? out + "..." : out;
}

// True if OpenSSL can build a public key of `algorithm` from `params` and
// its full public-key check passes (for EC: on the curve, right order).
bool openssl_accepts(const char* algorithm, OSSL_PARAM* params) {
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, algorithm, nullptr));
  EVP_PKEY* raw = nullptr;
  bool ok = ctx && EVP_PKEY_fromdata_init(ctx.get()) == 1 &&
            EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params) == 1;
  Pkey key(raw);
  if (ok) {
    PkeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
    ok = check && EVP_PKEY_public_check(check.get()) == 1;
  }
  ERR_clear_error();  // a refused key is an answer, not a pending library error
  return ok;
}

Status check_ed25519(WireReader& r) {
  auto k = r.string();
  if (!k) return malformed("bad Ed25519 key (truncated)");
  if (k->size() != 32) return malformed("bad Ed25519 key (" + std::to_string(k->size()) + " bytes, expected 32)");
  return {};
}

Status check_p256(WireReader& r) {
  auto curve = r.text();
  if (!curve) return malformed("truncated ECDSA key");
  if (*curve != "nistp256") return malformed("ECDSA curve is '" + printable(*curve) + "', expected 'nistp256'");
  auto q = r.string();
  if (!q) return malformed("truncated ECDSA key");
  // SECURITY: only the uncompressed form, as OpenSSH; a second (compressed)
  // encoding of the same key would have a second fingerprint.
  if (q->size() != kP256PointBytes || (*q)[0] != 0x04) {
    return malformed("invalid P-256 point (expected 65 bytes, uncompressed)");
  }
  std::array<OSSL_PARAM, 3> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>("prime256v1"), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, const_cast<uint8_t*>(q->data()), q->size()),
      OSSL_PARAM_construct_end()};
  if (!openssl_accepts("EC", params.data())) return malformed("invalid P-256 point (not on the curve)");
  return {};
}

Status check_rsa(WireReader& r) {
  auto e = r.mpint();
  if (!e) return malformed("bad RSA exponent (" + e.error().message + ")");
  auto n = r.mpint();
  if (!n) return malformed("bad RSA modulus (" + n.error().message + ")");
  if (n->size() > kMaxRsaBits / 8 || e->size() > n->size()) return malformed("RSA key is too large");
  Bignum bn_e(BN_bin2bn(e->data(), static_cast<int>(e->size()), nullptr));
  Bignum bn_n(BN_bin2bn(n->data(), static_cast<int>(n->size()), nullptr));
  if (!bn_e || !bn_n) return make_error("out of memory");
  int bits = BN_num_bits(bn_n.get());
  if (bits < kMinRsaBits) {
    return make_error("RSA keys shorter than 2048 bits are refused (this one has " + std::to_string(bits) + ")");
  }
  ParamBld bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return make_error("out of memory");
  }
  Params params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (!params) return make_error("out of memory");
  if (!openssl_accepts("RSA", params.get())) return malformed("invalid RSA key (rejected by OpenSSL)");
  return {};
}

struct KeyTypeInfo {
  std::string_view name;
  Status (*check_fields)(WireReader&);
  bool security_key;
};

constexpr std::array<KeyTypeInfo, 5> kKeyTypes = {{
    {"ssh-ed25519", check_ed25519, false},
    {"sk-ssh-ed25519@openssh.com", check_ed25519, true},
    {"ecdsa-sha2-nistp256", check_p256, false},
    {"sk-ecdsa-sha2-nistp256@openssh.com", check_p256, true},
    {"ssh-rsa", check_rsa, false},
}};

const KeyTypeInfo* find_type(std::string_view name) {
  for (const auto& t : kKeyTypes) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (is_space(s.front()) || s.front() == '\r' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (is_space(s.back()) || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

// Splits off the first whitespace-delimited token of `s` (already trimmed).
std::string_view next_token(std::string_view& s) {
  size_t end = 0;
  while (end < s.size() && !is_space(s[end])) ++end;
  std::string_view token = s.substr(0, end);
  s.remove_prefix(end);
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  return token;
}

// An authorized_keys line: options such as from="..." or restrict before the type.
bool has_options_prefix(std::string_view first, std::string_view rest) {
  if (first.find_first_of("=\",") != std::string_view::npos) return true;
  while (!rest.empty()) {
    if (find_type(next_token(rest)) != nullptr) return true;
  }
  return false;
}

}  // namespace

bool is_security_key(std::string_view type) {
  const auto* t = find_type(type);
  return t != nullptr && t->security_key;
}

Result<std::string> validate_key_blob(std::span<const uint8_t> blob) {
  WireReader r(blob);
  auto type = r.text();
  if (!type) return malformed("truncated key type");
  const auto* info = find_type(*type);
  if (info == nullptr) return make_error("unsupported key type '" + printable(*type) + "'");
  if (auto st = info->check_fields(r); !st) return st.error();
  if (info->security_key) {
    auto app = r.text();
    if (!app || app->empty()) return malformed("security key without an application string");
  }
  if (!r.at_end()) return malformed("trailing bytes after the key");
  return std::move(*type);
}

Result<PublicKey> parse_public_key_line(std::string_view line) {
  std::string_view rest = trim(line);
  std::string_view type = next_token(rest);
  if (type.empty() || rest.empty()) {
    return make_error("not an OpenSSH public key line (expected 'TYPE BASE64 [COMMENT]')");
  }
  if (find_type(type) == nullptr) {
    if (has_options_prefix(type, rest)) {
      return malformed("authorized_keys options are not allowed, only 'TYPE BASE64 [COMMENT]'");
    }
    return make_error("unsupported key type '" + printable(type) + "'");
  }
  auto blob = base64_decode(next_token(rest));
  if (!blob || blob->empty()) return malformed("base64 is invalid");
  auto inner = validate_key_blob(*blob);
  if (!inner) return inner.error();
  if (*inner != type) return make_error("key type mismatch: line says " + std::string(type) + ", key is " + *inner);
  // SECURITY: comments end up in terminals and logs; control characters in
  // them could forge output lines or drive a terminal.
  auto is_control = [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  };
  if (std::any_of(rest.begin(), rest.end(), is_control)) {
    return malformed("comment contains control characters");
  }
  return PublicKey{std::string(type), std::move(*blob), std::string(rest)};
}

Result<PublicKey> read_public_key_file(const std::string& path) {
  auto text = read_file(path, kMaxFileBytes);
  if (!text) return text.error();
  if (text->empty()) return make_error("file is empty");
  std::string_view all(*text);
  while (!all.empty()) {
    size_t end = std::min(all.find('\n'), all.size());
    std::string_view line = trim(all.substr(0, end));
    all.remove_prefix(std::min(end + 1, all.size()));
    if (line.empty() || line.front() == '#') continue;
    return parse_public_key_line(line);
  }
  return make_error("no public key in file");
}

std::string fingerprint_sha256(std::span<const uint8_t> blob) {
  std::array<uint8_t, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  // SECURITY: fingerprints identify people; returning any fixed value on
  // failure would give every key the same identity. SHA-256 only fails when
  // the library is broken or memory is gone, so stop instead.
  if (EVP_Digest(blob.data(), blob.size(), md.data(), &len, EVP_sha256(), nullptr) != 1 || len != 32) {
    std::abort();
  }
  return "SHA256:" + base64_encode_unpadded(std::span<const uint8_t>(md.data(), len));
}

std::string to_line(const PublicKey& key) {
  std::string line = key.type + " " + base64_encode(key.blob);
  if (!key.comment.empty()) line += " " + key.comment;
  return line;
}

}  // namespace bastion::authn
