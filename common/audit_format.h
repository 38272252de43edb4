// The audit trail's formats, as the gateway writes them and as an offline
// verifier (bastion-verify) checks them: the hash chain over the records,
// the message a checkpoint signs, the audit public key's text form and its
// fingerprint. One definition, so the gateway and the verifier cannot
// disagree on what a hash covers; DESIGN.md, "Audit trail", describes it.
//
// Contract: pure functions, no I/O; OpenSSL (SHA-256) only.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace bastion {

inline constexpr const char* kGenesisHash = "0000000000000000000000000000000000000000000000000000000000000000";

// One audit record as stored (details: the JSON text exactly as stored).
struct StoredRecord {
  int64_t seq = 0;
  Micros ts = 0;
  std::string actor, action, target, login, source, session_id, outcome, reason, details;
  std::string prev_hash, hash;
};

// Hex SHA-256 over prev_hash, a newline, and the canonical JSON array of the
// record's fields (seq, ts, actor, action, target, login, source, session_id,
// outcome, reason, details as stored).
std::string chain_hash(const std::string& prev_hash, const StoredRecord& r);

struct Checkpoint {
  int64_t seq = 0;
  std::string hash;
  Micros ts = 0;
  std::string kind;       // "periodic", "shutdown", "manual", "purge", "rotate", "rotated", "export"
  std::string signature;  // base64 of the Ed25519 signature over checkpoint_message()
  // A key rotation ("rotate"): base64 of the raw public key that signs every
  // later checkpoint; signed, with the rest, by the key it replaces.
  std::string next_key;
};

std::string checkpoint_message(const Checkpoint& c);
// Whether `c` carries a valid signature by `public_key` (raw Ed25519).
bool checkpoint_signed_by(const Checkpoint& c, std::span<const uint8_t> public_key);

// The audit public key as a one-line text file: "bastion-audit-ed25519 BASE64".
std::string audit_public_key_line(std::span<const uint8_t> raw);
Result<std::vector<uint8_t>> parse_audit_public_key(std::string_view text);
// "SHA256:" and the unpadded base64 of the SHA-256 of the raw key (the way
// OpenSSH prints fingerprints): what an auditor compares out of band.
std::string audit_key_fingerprint(std::span<const uint8_t> raw);

// One line: "bastion-audit-checkpoint seq=N hash=H ts=T kind=K sig=S" (for logs/SIEM).
std::string checkpoint_log_line(const Checkpoint& c);

}  // namespace bastion
