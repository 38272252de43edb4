#include "evidence/pack_format.h"

#include <regex>

#include "common/encoding.h"

namespace bastion::evidence {
namespace {

// A string member, or an error naming it.
Result<std::string> text(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return make_error(std::string("no string \"") + key + "\"");
  return it->get<std::string>();
}

Result<int64_t> integer(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return make_error(std::string("no integer \"") + key + "\"");
  return it->get<int64_t>();
}

}  // namespace

nlohmann::json record_json(const StoredRecord& r) {
  return {{"seq", r.seq},         {"ts", r.ts},         {"actor", r.actor},     {"action", r.action},
          {"target", r.target},   {"login", r.login},   {"source", r.source},   {"session_id", r.session_id},
          {"outcome", r.outcome}, {"reason", r.reason}, {"details", r.details}, {"prev_hash", r.prev_hash},
          {"hash", r.hash}};
}

Result<StoredRecord> record_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return make_error("not a JSON object");
  StoredRecord r;
  std::pair<const char*, std::string*> texts[] = {
      {"actor", &r.actor},     {"action", &r.action},      {"target", &r.target},
      {"login", &r.login},     {"source", &r.source},      {"session_id", &r.session_id},
      {"outcome", &r.outcome}, {"reason", &r.reason},      {"details", &r.details},
      {"hash", &r.hash},       {"prev_hash", &r.prev_hash}};
  for (auto& [key, out] : texts) {
    auto v = text(j, key);
    if (!v) return v.error();
    *out = std::move(*v);
  }
  auto seq = integer(j, "seq");
  auto ts = integer(j, "ts");
  if (!seq) return seq.error();
  if (!ts) return ts.error();
  r.seq = *seq;
  r.ts = *ts;
  return r;
}

nlohmann::json checkpoint_json(const Checkpoint& c) {
  nlohmann::json j = {{"seq", c.seq}, {"hash", c.hash}, {"ts", c.ts}, {"kind", c.kind}, {"signature", c.signature}};
  if (!c.next_key.empty()) j["next_key"] = c.next_key;
  return j;
}

Result<Checkpoint> checkpoint_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return make_error("not a JSON object");
  Checkpoint c;
  auto seq = integer(j, "seq");
  auto ts = integer(j, "ts");
  auto hash = text(j, "hash");
  auto kind = text(j, "kind");
  auto sig = text(j, "signature");
  if (!seq) return seq.error();
  if (!ts) return ts.error();
  if (!hash) return hash.error();
  if (!kind) return kind.error();
  if (!sig) return sig.error();
  c.seq = *seq;
  c.ts = *ts;
  c.hash = std::move(*hash);
  c.kind = std::move(*kind);
  c.signature = std::move(*sig);
  if (j.contains("next_key")) {
    auto next = text(j, "next_key");
    if (!next) return next.error();
    c.next_key = std::move(*next);
  }
  return c;
}

std::string signature_file(std::span<const uint8_t> signature) {
  return "bastion-evidence-signature ed25519 " + base64_encode(signature) + "\n";
}

Result<std::vector<uint8_t>> parse_signature_file(std::string_view t) {
  constexpr std::string_view prefix = "bastion-evidence-signature ed25519 ";
  if (t.substr(0, prefix.size()) != prefix) return make_error("not a bastion evidence signature");
  t.remove_prefix(prefix.size());
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.remove_suffix(1);
  auto sig = base64_decode(t);
  if (!sig || sig->size() != 64) return make_error("not a bastion evidence signature");
  return *sig;
}

std::string recording_entry(const std::string& session_id, int channel, const std::string& gateway_path) {
  size_t dot = gateway_path.rfind('.');
  size_t slash = gateway_path.rfind('/');
  std::string ext = dot != std::string::npos && (slash == std::string::npos || dot > slash)
                        ? gateway_path.substr(dot + 1)
                        : std::string("bin");
  return std::string(kRecordingsDir) + session_id + "/" + std::to_string(channel) + "." + ext;
}

std::string redact_config(const std::string& text, int& removed) {
  static const std::regex secret_key(
      R"(^(\s*[A-Za-z0-9_.-]*(password|secret|token|passphrase)[A-Za-z0-9_.-]*\s*=\s*).*$)", std::regex::icase);
  static const std::regex url_password(R"(([a-z][a-z0-9+.-]*://[^:/@\s"']+:)[^@\s"']+@)", std::regex::icase);
  static const std::regex kw_password(R"((password\s*=\s*)('[^']*'|[^\s"']+))", std::regex::icase);
  std::string out;
  size_t pos = 0;
  removed = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    const std::string was = line;
    if (std::regex_match(line, secret_key)) {
      line = std::regex_replace(line, secret_key, "$1\"(removed)\"");
    } else {
      line = std::regex_replace(line, url_password, "$1(removed)@");
      line = std::regex_replace(line, kw_password, "$1(removed)");
    }
    if (line != was) ++removed;
    out += line + "\n";
  }
  return out;
}

}  // namespace bastion::evidence
