#include "common/audit_format.h"

#include <nlohmann/json.hpp>

#include "common/ed25519_key.h"
#include "common/encoding.h"

namespace bastion {

std::string chain_hash(const std::string& prev_hash, const StoredRecord& r) {
  nlohmann::json canon = nlohmann::json::array(
      {r.seq, r.ts, r.actor, r.action, r.target, r.login, r.source, r.session_id, r.outcome, r.reason, r.details});
  std::string text = prev_hash + "\n" + canon.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  return hex_encode(sha256(as_bytes(text)));
}

std::string checkpoint_message(const Checkpoint& c) {
  return "bastion-audit-checkpoint v1 seq=" + std::to_string(c.seq) + " hash=" + c.hash +
         " ts=" + std::to_string(c.ts) + " kind=" + c.kind + (c.next_key.empty() ? "" : " next_key=" + c.next_key);
}

bool checkpoint_signed_by(const Checkpoint& c, std::span<const uint8_t> public_key) {
  auto sig = base64_decode(c.signature);
  return sig && ed25519_verify(public_key, as_bytes(checkpoint_message(c)), *sig);
}

std::string audit_public_key_line(std::span<const uint8_t> raw) {
  return "bastion-audit-ed25519 " + base64_encode(raw);
}

Result<std::vector<uint8_t>> parse_audit_public_key(std::string_view text) {
  constexpr std::string_view prefix = "bastion-audit-ed25519 ";
  if (text.substr(0, prefix.size()) != prefix) return make_error("not a bastion audit public key");
  std::string_view b64 = text.substr(prefix.size());
  while (!b64.empty() && (b64.back() == '\n' || b64.back() == '\r' || b64.back() == ' ')) b64.remove_suffix(1);
  auto raw = base64_decode(b64);
  if (!raw || raw->size() != 32) return make_error("not a bastion audit public key");
  return *raw;
}

std::string audit_key_fingerprint(std::span<const uint8_t> raw) {
  return "SHA256:" + base64_encode_unpadded(sha256(raw));
}

std::string checkpoint_log_line(const Checkpoint& c) { return checkpoint_message(c) + " sig=" + c.signature; }

}  // namespace bastion
