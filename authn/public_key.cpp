#include "authn/public_key.h"

#include <openssl/bn.h>
#include <openssl/obj_mac.h>

#include "common/ed25519_key.h"
#include "common/openssl_handles.h"
#include "common/encoding.h"
#include "common/files.h"
#include "common/ssh_wire.h"

namespace bastion::authn {
namespace {

Status check_p256_point(std::span<const uint8_t> point) {
  EcGroup group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  EcPoint p(EC_POINT_new(group.get()));
  if (!group || !p) return make_error("out of memory");
  if (point.empty() || point[0] != 0x04 ||
      EC_POINT_oct2point(group.get(), p.get(), point.data(), point.size(), nullptr) != 1 ||
      EC_POINT_is_on_curve(group.get(), p.get(), nullptr) != 1) {
    return make_error("not an OpenSSH public key: invalid P-256 point");
  }
  return {};
}

Status check_fields(const std::string& type, WireReader& r) {
  if (type == "ssh-ed25519" || type == "sk-ssh-ed25519@openssh.com") {
    auto k = r.string();
    if (!k || k->size() != 32) return make_error("not an OpenSSH public key: bad Ed25519 key");
    // SECURITY: anybody can sign for a small-order or non-canonical key.
    if (ed25519_public_key_is_weak(*k)) return make_error("not an OpenSSH public key: a weak Ed25519 key");
  } else if (type == "ecdsa-sha2-nistp256" || type == "sk-ecdsa-sha2-nistp256@openssh.com") {
    auto curve = r.text();
    if (!curve || *curve != "nistp256") return make_error("not an OpenSSH public key: bad curve name");
    auto q = r.string();
    if (!q) return make_error("not an OpenSSH public key: truncated");
    if (auto st = check_p256_point(*q); !st) return st;
  } else if (type == "ssh-rsa") {
    auto e = r.string();
    auto n = r.string();
    if (!e || !n || n->empty()) return make_error("not an OpenSSH public key: truncated RSA key");
    size_t skip = 0;
    while (skip < n->size() && (*n)[skip] == 0) ++skip;
    size_t bits = (n->size() - skip) * 8;
    if (bits < 2048) return make_error("RSA keys shorter than 2048 bits are refused");
  } else {
    return make_error("unsupported key type '" + type + "'");
  }
  if (is_security_key(type)) {
    auto app = r.text();
    if (!app || app->empty()) return make_error("not an OpenSSH public key: missing application");
  }
  if (!r.at_end()) return make_error("not an OpenSSH public key: trailing bytes");
  return {};
}

}  // namespace

bool is_security_key(std::string_view type) {
  return type == "sk-ssh-ed25519@openssh.com" || type == "sk-ecdsa-sha2-nistp256@openssh.com";
}

Result<std::string> validate_key_blob(std::span<const uint8_t> blob) {
  WireReader r(blob);
  auto type = r.text();
  if (!type) return make_error("not an OpenSSH public key: truncated");
  if (auto st = check_fields(*type, r); !st) return st.error();
  return *type;
}

Result<PublicKey> parse_public_key_line(std::string_view line) {
  auto skip_ws = [&](size_t i) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    return i;
  };
  size_t i = skip_ws(0);
  size_t type_end = line.find_first_of(" \t", i);
  if (type_end == std::string_view::npos) return make_error("not an OpenSSH public key line");
  std::string type(line.substr(i, type_end - i));
  if (!is_security_key(type) && type != "ssh-ed25519" && type != "ecdsa-sha2-nistp256" && type != "ssh-rsa") {
    if (type.size() > 64) type = type.substr(0, 64) + "...";
    for (auto& c : type) {
      if (static_cast<unsigned char>(c) < 0x20) c = '?';
    }
    return make_error("unsupported key type '" + type + "'");
  }
  size_t b64_start = skip_ws(type_end);
  size_t b64_end = line.find_first_of(" \t\r\n", b64_start);
  if (b64_end == std::string_view::npos) b64_end = line.size();
  auto blob = base64_decode(line.substr(b64_start, b64_end - b64_start));
  if (!blob || blob->empty()) return make_error("not an OpenSSH public key: base64 is invalid");
  auto inner = validate_key_blob(*blob);
  if (!inner) return inner.error();
  if (*inner != type) return make_error("key type mismatch: line says " + type + ", key is " + *inner);
  PublicKey key;
  key.type = type;
  key.blob = std::move(*blob);
  std::string_view rest = line.substr(std::min(skip_ws(b64_end), line.size()));
  while (!rest.empty() && (rest.back() == '\n' || rest.back() == '\r' || rest.back() == ' ')) rest.remove_suffix(1);
  key.comment = std::string(rest);
  return key;
}

Result<PublicKey> read_public_key_file(const std::string& path) {
  auto text = read_file(path, 64 * 1024);
  if (!text) return text.error();
  size_t pos = 0;
  while (pos < text->size()) {
    size_t end = text->find('\n', pos);
    if (end == std::string::npos) end = text->size();
    std::string_view line(text->data() + pos, end - pos);
    pos = end + 1;
    size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string_view::npos || line[first] == '#') continue;
    return parse_public_key_line(line);
  }
  return make_error("no public key in file");
}

std::string fingerprint_sha256(std::span<const uint8_t> blob) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(blob.data(), blob.size(), md, &len, EVP_sha256(), nullptr);
  return "SHA256:" + base64_encode_unpadded(std::span<const uint8_t>(md, len));
}

std::string to_line(const PublicKey& key) {
  std::string line = key.type + " " + base64_encode(key.blob);
  if (!key.comment.empty()) line += " " + key.comment;
  return line;
}

}  // namespace bastion::authn
