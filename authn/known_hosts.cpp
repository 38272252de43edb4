#include "authn/known_hosts.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>

#include "common/encoding.h"

namespace bastion::authn {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// The next whitespace-separated field of `s`, removed from it.
std::string_view next_field(std::string_view& s) {
  s = trim(s);
  size_t end = s.find_first_of(" \t");
  std::string_view f = s.substr(0, end);
  s = end == std::string_view::npos ? std::string_view() : s.substr(end);
  return f;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// "|1|base64(salt)|base64(HMAC-SHA1(salt, name))"
bool hashed_name_matches(std::string_view entry, const std::string& name) {
  constexpr std::string_view kPrefix = "|1|";
  if (entry.substr(0, kPrefix.size()) != kPrefix) return false;
  entry.remove_prefix(kPrefix.size());
  size_t bar = entry.find('|');
  if (bar == std::string_view::npos) return false;
  auto salt = base64_decode(entry.substr(0, bar));
  auto want = base64_decode(entry.substr(bar + 1));
  if (!salt || !want || salt->empty() || want->size() != 20) return false;
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t len = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA1", nullptr, salt->data(), salt->size(),
                reinterpret_cast<const unsigned char*>(name.data()), name.size(), mac, sizeof mac, &len) == nullptr) {
    return false;
  }
  return len == want->size() && CRYPTO_memcmp(mac, want->data(), len) == 0;
}

// Whether the host field (comma-separated patterns, or one hashed name) names `name`.
bool host_field_matches(std::string_view field, const std::string& name) {
  if (!field.empty() && field.front() == '|') return hashed_name_matches(field, name);
  bool matched = false;
  while (!field.empty()) {
    size_t comma = field.find(',');
    std::string_view p = field.substr(0, comma);
    field = comma == std::string_view::npos ? std::string_view() : field.substr(comma + 1);
    bool negated = !p.empty() && p.front() == '!';
    if (negated) p.remove_prefix(1);
    if (p.empty() || !known_hosts_glob(lower(p), name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

}  // namespace

bool known_hosts_glob(std::string_view pattern, std::string_view name) {
  // Iterative wildcard match with one backtrack point (the last `*`).
  size_t p = 0, n = 0, star = std::string_view::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Result<std::vector<KnownHostKey>> known_host_keys(std::string_view text, const std::string& host, uint16_t port) {
  std::string name = lower(port == 22 ? host : "[" + host + "]:" + std::to_string(port));
  std::vector<KnownHostKey> keys;
  std::vector<std::vector<uint8_t>> revoked;
  int number = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++number;
    std::string_view rest = trim(line);
    if (rest.empty() || rest.front() == '#') continue;
    std::string_view marker;
    if (rest.front() == '@') marker = next_field(rest);
    if (marker == "@cert-authority") continue;
    if (!marker.empty() && marker != "@revoked") {
      return make_error("known_hosts line " + std::to_string(number) + ": unknown marker " +
                        std::string(marker.substr(0, 32)));
    }
    if (!host_field_matches(next_field(rest), name)) continue;
    auto key = parse_public_key_line(trim(rest));
    if (!key) return key.error().prefixed("known_hosts line " + std::to_string(number) + ": ");
    key->comment.clear();
    if (marker == "@revoked") {
      revoked.push_back(key->blob);
      continue;
    }
    bool seen = std::any_of(keys.begin(), keys.end(), [&](const KnownHostKey& k) { return k.key.blob == key->blob; });
    if (!seen) keys.push_back({std::move(*key), number});
  }
  std::erase_if(keys, [&](const KnownHostKey& k) {
    return std::find(revoked.begin(), revoked.end(), k.key.blob) != revoked.end();
  });
  return keys;
}

}  // namespace bastion::authn
