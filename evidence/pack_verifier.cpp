#include "evidence/pack_verifier.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "common/audit_format.h"
#include "common/ed25519_key.h"
#include "common/encoding.h"
#include "common/openssl_handles.h"
#include "evidence/pack_format.h"

namespace bastion::evidence {
namespace {

constexpr int64_t kMaxLine = int64_t{16} << 20;        // one JSONL line
constexpr int64_t kMaxSmallFile = int64_t{256} << 20;  // a file read whole (review, sessions, grants)
constexpr Micros kSessionStartSlack = 5 * kMicrosPerSecond;

class Sha256Stream {
 public:
  Sha256Stream() : md_(new_sha256()) {}
  void update(const char* p, size_t n) { EVP_DigestUpdate(md_.get(), p, n); }
  std::vector<uint8_t> raw() {
    std::vector<uint8_t> out(EVP_MAX_MD_SIZE);
    unsigned int len = 0;
    EVP_DigestFinal_ex(md_.get(), out.data(), &len);
    out.resize(len);
    return out;
  }
  std::string hex() { return hex_encode(raw()); }

 private:
  MdCtx md_;
};

std::string seq_text(int64_t s) { return "seq " + std::to_string(s); }

// SECURITY: what the pack says reaches the auditor's terminal: no control
// characters (escape sequences, line breaks that would fake a line).
std::string printable(std::string s) {
  for (char& c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = '?';
  }
  return s;
}
std::string when(Micros t) { return format_utc_seconds(t); }

std::optional<Micros> utc_member(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  auto t = parse_utc(it->get<std::string>());
  if (!t) return std::nullopt;
  return *t;
}

std::string str_member(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<int64_t> int_member(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

struct SeqTs {
  int64_t seq = 0;
  Micros ts = 0;
};

// A grant as its records tell it.
struct ChainGrant {
  std::string request_id, user, customer;
  int64_t start_seq = 0;
  Micros starts = 0, ends = 0;
  std::optional<SeqTs> ended;  // grant.end or elevation.revoke
  bool break_glass = false;
  std::string decided_by, reason;
};

struct ChainSession {
  int64_t seq = 0;
  Micros ts = 0;
  std::string user, target, login, source, grant_id;
};

struct Chunk {
  int64_t offset = 0, length = 0;
  std::string sha256;
};

struct RecordingEnd {
  int64_t seq = 0;
  int64_t size = 0;
  std::string sha256, digest;
};

struct LeaverRecord {
  int64_t seq = 0;
  Micros ts = 0;
  std::string user, event_id, plan, reason;
  std::optional<Micros> effective_at;
};

struct KeyRotation {
  int64_t seq = 0;
  std::string old_key, new_key;
};

struct FileSeen {
  uint64_t size = 0;
  std::string sha256;
};

class Verifier {
 public:
  explicit Verifier(const VerifyOptions& o) : opt_(o) {}
  Status run(const TarSource& source);
  PackReport take() { return std::move(r_); }

 private:
  void exception(std::string s) { r_.exceptions.push_back(printable(std::move(s))); }
  void note(std::string s) { r_.notes.push_back(printable(std::move(s))); }

  // Reads the current entry whole (it must be small), hashing it.
  Result<std::string> read_whole(TarReader& tar, const TarEntry& e, Sha256Stream& h);
  // Reads the current entry line by line.
  Status read_lines(TarReader& tar, const TarEntry& e, Sha256Stream& h,
                    const std::function<void(std::string_view line, int64_t no)>& on_line);
  Status read_recording(TarReader& tar, const TarEntry& e, Sha256Stream& h);

  // The JSON objects of a JSON Lines file; a line that is not one is an exception.
  std::vector<nlohmann::json> objects(const std::string& text, std::string_view file);
  void on_checkpoints(const std::string& text);
  void on_record_line(std::string_view line, int64_t no);
  void remember(const StoredRecord& rec, const nlohmann::json& d);
  void finish_records();

  void check_manifest();
  void check_keys();
  void check_start();
  void check_signing_delays();
  void check_grants_and_sessions();
  void check_leavers();
  void summarize_review();

  const VerifyOptions& opt_;
  PackReport r_;
  std::map<std::string, FileSeen> files_;
  std::vector<std::string> order_;
  nlohmann::json manifest_ = nlohmann::json::object();  // parsed by check_manifest()
  std::string manifest_text_, signature_text_, key_text_, purge_text_, review_text_;
  std::string grants_text_, leavers_text_, sessions_text_;

  // The chain, as the records stream past.
  std::vector<Checkpoint> cps_;
  size_t next_cp_ = 0;                       // the first checkpoint with seq >= the next record's
  std::map<int64_t, Micros> cp_max_delay_;   // checkpoint seq -> the longest a record waited for it
  std::map<int64_t, int64_t> cp_first_seq_;  // checkpoint seq -> the first record it signed first
  bool records_seen_ = false;
  int64_t prev_seq_ = 0;
  std::string prev_hash_, first_prev_hash_;
  int64_t chain_breaks_ = 0;

  // What the records say.
  std::map<std::string, SeqTs> requests_;
  std::map<std::string, std::vector<std::pair<SeqTs, std::string>>> approvals_;  // request -> (record, kind)
  std::map<std::string, ChainGrant> grants_;                                     // grant id
  std::map<std::string, ChainSession> sessions_;
  std::map<std::pair<std::string, int>, std::vector<Chunk>> chunks_;
  std::map<std::pair<std::string, int>, RecordingEnd> ends_;
  std::map<std::string, LeaverRecord> leaver_records_;  // event id
  std::vector<KeyRotation> rotations_;
  std::vector<std::vector<uint8_t>> keys_;  // every audit key the pack shows in force, oldest first
  std::set<std::string> recordings_in_pack_;
};

Result<std::string> Verifier::read_whole(TarReader& tar, const TarEntry& e, Sha256Stream& h) {
  if (e.size > static_cast<uint64_t>(kMaxSmallFile)) return make_error(e.name + " is too large");
  // Grown as the data comes: a header may claim more than the archive holds.
  std::string out;
  char buf[65536];
  for (;;) {
    auto n = tar.read(buf, sizeof buf);
    if (!n) return n.error();
    if (*n == 0) break;
    out.append(buf, *n);
  }
  h.update(out.data(), out.size());
  return out;
}

Status Verifier::read_lines(TarReader& tar, const TarEntry& e, Sha256Stream& h,
                            const std::function<void(std::string_view, int64_t)>& on_line) {
  std::string pending;
  std::vector<char> buf(1 << 20);
  int64_t no = 0;
  for (;;) {
    auto n = tar.read(buf.data(), buf.size());
    if (!n) return n.error();
    if (*n == 0) break;
    h.update(buf.data(), *n);
    size_t start = 0;
    for (size_t i = 0; i < *n; ++i) {
      if (buf[i] != '\n') continue;
      pending.append(buf.data() + start, i - start);
      on_line(pending, ++no);
      pending.clear();
      start = i + 1;
    }
    pending.append(buf.data() + start, *n - start);
    if (static_cast<int64_t>(pending.size()) > kMaxLine) {
      return make_error(e.name + ": line " + std::to_string(no + 1) + " is longer than 16 MiB");
    }
  }
  if (!pending.empty()) on_line(pending, ++no);
  return {};
}

std::vector<nlohmann::json> Verifier::objects(const std::string& text, std::string_view file) {
  std::vector<nlohmann::json> out;
  size_t pos = 0;
  int64_t no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++no;
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) {
      exception(std::string(file) + " line " + std::to_string(no) + ": not a JSON object");
      continue;
    }
    j["__line"] = no;
    out.push_back(std::move(j));
  }
  return out;
}

void Verifier::on_checkpoints(const std::string& text) {
  for (const auto& j : objects(text, kCheckpoints)) {
    const std::string where = std::string(kCheckpoints) + " line " + std::to_string(j["__line"].get<int64_t>());
    auto c = checkpoint_from_json(j);
    if (!c) {
      exception(where + ": " + c.error().message);
      continue;
    }
    if (!cps_.empty() && c->seq <= cps_.back().seq) {
      exception(where + ": checkpoint " + seq_text(c->seq) + " is out of order");
      continue;
    }
    cps_.push_back(std::move(*c));
  }
  r_.checkpoints = static_cast<int64_t>(cps_.size());
}

void Verifier::on_record_line(std::string_view line, int64_t no) {
  if (line.empty()) return;
  auto j = nlohmann::json::parse(line, nullptr, false);
  auto rec = j.is_discarded() ? Result<StoredRecord>(make_error("not JSON")) : record_from_json(j);
  if (!rec) {
    exception(std::string(kRecords) + " line " + std::to_string(no) + ": " + rec.error().message);
    ++chain_breaks_;
    return;
  }
  const StoredRecord& x = *rec;
  if (!records_seen_) {
    records_seen_ = true;
    r_.first_seq = x.seq;
    first_prev_hash_ = x.prev_hash;
    while (next_cp_ < cps_.size() && cps_[next_cp_].seq < x.seq) ++next_cp_;
  } else if (x.seq != prev_seq_ + 1) {
    exception(x.seq > prev_seq_ + 1
                  ? "records " + seq_text(prev_seq_ + 1) +
                        (x.seq - 1 > prev_seq_ + 1 ? ".." + std::to_string(x.seq - 1) : "") +
                        " are missing from the chain (" + seq_text(prev_seq_) + " is followed by " + seq_text(x.seq) +
                        ")"
                  : "record " + seq_text(x.seq) + " is out of order (after " + seq_text(prev_seq_) + ")");
    ++chain_breaks_;
  } else if (x.prev_hash != prev_hash_) {
    exception("record " + seq_text(x.seq) + " does not follow " + seq_text(prev_seq_) +
              " (its prev_hash is not that record's hash): a record was removed, inserted or replaced");
    ++chain_breaks_;
  }
  if (chain_hash(x.prev_hash, x) != x.hash) {
    exception("record " + seq_text(x.seq) + " (" + x.action + ", " + when(x.ts) +
              ") was modified: its hash does not match its contents");
    ++chain_breaks_;
  }
  // The checkpoint that signed this record first, and how long it waited.
  while (next_cp_ < cps_.size() && cps_[next_cp_].seq < x.seq) {
    exception("checkpoint at " + seq_text(cps_[next_cp_].seq) + " signs a record that is not in the chain");
    ++next_cp_;
  }
  if (next_cp_ < cps_.size()) {
    const Checkpoint& c = cps_[next_cp_];
    Micros delay = c.ts - x.ts;
    auto& worst = cp_max_delay_[c.seq];
    if (!cp_first_seq_.count(c.seq)) cp_first_seq_[c.seq] = x.seq;
    worst = std::max(worst, delay);
    if (c.seq == x.seq) {
      if (c.hash != x.hash) {
        exception("the " + c.kind + " checkpoint at " + seq_text(c.seq) + " (" + when(c.ts) +
                  ") signs another hash than record " + seq_text(x.seq) +
                  " has: the record changed after it was signed");
        ++chain_breaks_;
      }
      ++next_cp_;
    }
  }
  prev_seq_ = x.seq;
  prev_hash_ = x.hash;
  r_.last_seq = x.seq;
  auto d = nlohmann::json::parse(x.details, nullptr, false);
  remember(x, d.is_object() ? d : nlohmann::json::object());
}

// Keeps what the later checks need from the records that matter to them.
void Verifier::remember(const StoredRecord& x, const nlohmann::json& d) {
  const std::string& a = x.action;
  const bool allowed = x.outcome == "allow";
  if (a == "elevation.request" && allowed) {
    requests_[str_member(d, "request_id")] = {x.seq, x.ts};
  } else if (a == "elevation.approve" && allowed) {
    approvals_[str_member(d, "request_id")].push_back({{x.seq, x.ts}, str_member(d, "kind")});
  } else if ((a == "grant.start" || a == "elevation.break-glass") && allowed) {
    ChainGrant g;
    g.request_id = str_member(d, "request_id");
    g.user = str_member(d, "user");
    g.customer = str_member(d, "customer");
    g.start_seq = x.seq;
    g.break_glass = a == "elevation.break-glass";
    g.starts = g.break_glass ? x.ts : utc_member(d, "starts_at").value_or(x.ts);
    g.ends = utc_member(d, "ends_at").value_or(x.ts);
    g.decided_by = x.actor;
    g.reason = x.reason;
    grants_[str_member(d, "grant_id")] = g;
  } else if (a == "grant.end" || a == "elevation.revoke") {
    auto it = grants_.find(str_member(d, "grant_id"));
    if (it != grants_.end() && !it->second.ended) it->second.ended = SeqTs{x.seq, x.ts};
  } else if (a == "session.start" && allowed) {
    sessions_[x.session_id] = {x.seq, x.ts, x.actor, x.target, x.login, x.source, str_member(d, "grant_id")};
  } else if (a == "recording.chunk") {
    auto ch = int_member(d, "channel");
    if (ch) {
      chunks_[{x.session_id, static_cast<int>(*ch)}].push_back(
          {int_member(d, "offset").value_or(-1), int_member(d, "length").value_or(-1), str_member(d, "sha256")});
    }
  } else if (a == "recording.end") {
    auto ch = int_member(d, "channel");
    if (ch) {
      std::string digest = str_member(d, "digest");
      ends_[{x.session_id, static_cast<int>(*ch)}] = {x.seq, int_member(d, "size").value_or(-1),
                                                      str_member(d, "sha256"), digest.empty() ? "sha256" : digest};
    }
  } else if (a == "hr.leaver") {
    leaver_records_[str_member(d, "event_id")] = {x.seq,
                                                  x.ts,
                                                  str_member(d, "user"),
                                                  str_member(d, "event_id"),
                                                  str_member(d, "plan"),
                                                  x.reason,
                                                  utc_member(d, "effective_at")};
  } else if (a == "audit.key_rotate") {
    rotations_.push_back({x.seq, str_member(d, "old_key"), str_member(d, "new_key")});
  }
}

void Verifier::finish_records() {
  for (; next_cp_ < cps_.size(); ++next_cp_) {
    exception("checkpoint at " + seq_text(cps_[next_cp_].seq) + " signs a record that is not in the chain");
  }
  if (!records_seen_) {
    exception(std::string(kRecords) + " holds no records");
    return;
  }
  const int64_t signed_through = cps_.empty() ? 0 : cps_.back().seq;
  if (signed_through < r_.last_seq) {
    exception("records " + seq_text(std::max(signed_through + 1, r_.first_seq)) + ".." + std::to_string(r_.last_seq) +
              " are not covered by any signed checkpoint in the pack");
  }
}

Status Verifier::read_recording(TarReader& tar, const TarEntry& e, Sha256Stream& h) {
  // recordings/SESSION/CHANNEL.EXT
  std::string rest = e.name.substr(kRecordingsDir.size());
  size_t slash = rest.find('/');
  size_t dot = rest.rfind('.');
  std::string session = slash == std::string::npos ? "" : rest.substr(0, slash);
  int channel = -1;
  if (slash != std::string::npos && dot != std::string::npos && dot > slash + 1) {
    try {
      channel = std::stoi(rest.substr(slash + 1, dot - slash - 1));
    } catch (const std::exception&) {
      channel = -1;
    }
  }
  const auto key = std::make_pair(session, channel);
  auto end = ends_.find(key);
  const std::vector<Chunk>* chunks = nullptr;
  if (auto it = chunks_.find(key); it != chunks_.end()) chunks = &it->second;
  recordings_in_pack_.insert(e.name);
  // Hash the file, and each chunk's bytes, as they stream.
  Sha256Stream whole;
  std::optional<Sha256Stream> piece;
  size_t ci = 0;
  int64_t pos = 0, piece_end = 0;
  std::string chunk_digests;
  std::string problem;
  auto open_piece = [&] {
    if (chunks == nullptr || ci >= chunks->size()) return;
    const Chunk& c = (*chunks)[ci];
    if (c.offset != pos || c.length <= 0) {
      if (problem.empty()) problem = "its chunk digests in the chain are not contiguous at byte " + std::to_string(pos);
      ci = chunks->size();
      return;
    }
    piece.emplace();
    piece_end = c.offset + c.length;
  };
  open_piece();
  std::vector<char> buf(1 << 20);
  for (;;) {
    auto n = tar.read(buf.data(), buf.size());
    if (!n) return n.error();
    if (*n == 0) break;
    h.update(buf.data(), *n);
    whole.update(buf.data(), *n);
    size_t off = 0;
    while (off < *n) {
      if (!piece) {
        pos += static_cast<int64_t>(*n - off);
        break;
      }
      size_t take = std::min<size_t>(*n - off, static_cast<size_t>(piece_end - pos));
      piece->update(buf.data() + off, take);
      off += take;
      pos += static_cast<int64_t>(take);
      if (pos == piece_end) {
        auto raw = piece->raw();
        if (hex_encode(raw) != (*chunks)[ci].sha256 && problem.empty()) {
          problem = "bytes " + std::to_string((*chunks)[ci].offset) + "-" + std::to_string(piece_end) +
                    " do not match their chunk digest in the chain";
        }
        chunk_digests.append(reinterpret_cast<const char*>(raw.data()), raw.size());
        piece.reset();
        ++ci;
        open_piece();
      }
    }
  }
  ++r_.recordings_checked;
  const std::string what = "recording " + e.name + " (session " + session + " channel " + std::to_string(channel) + ")";
  if (end == ends_.end()) {
    exception(what + ": no recording.end record in the chain vouches for it");
    return {};
  }
  if (static_cast<int64_t>(e.size) != end->second.size) {
    exception(what + ": the chain says " + std::to_string(end->second.size) + " bytes (" + seq_text(end->second.seq) +
              "), the file has " + std::to_string(e.size));
    return {};
  }
  if (end->second.digest == "chunks-sha256") {
    if (problem.empty() &&
        (piece || pos != static_cast<int64_t>(e.size) || chunks == nullptr || ci != chunks->size())) {
      problem = "its bytes are not all covered by chunk digests in the chain";
    }
    if (problem.empty() && hex_encode(sha256(as_bytes(chunk_digests))) != end->second.sha256) {
      problem = "its chunk digests do not add up to the digest its recording.end record (" + seq_text(end->second.seq) +
                ") vouches for";
    }
  } else if (whole.hex() != end->second.sha256) {
    problem = "its SHA-256 is not the one its recording.end record (" + seq_text(end->second.seq) + ") vouches for";
  }
  if (!problem.empty()) exception(what + " was altered: " + problem);
  return {};
}

Status Verifier::run(const TarSource& source) {
  TarReader tar(source);
  bool checkpoints_read = false, records_read = false;
  for (;;) {
    auto next = tar.next();
    if (!next) return next.error().prefixed("not a readable evidence pack: ");
    if (!*next) break;
    const TarEntry e = **next;
    if (files_.count(e.name)) {
      exception("the archive holds " + e.name + " twice");
      continue;
    }
    Sha256Stream h;
    const std::string_view name = e.name;
    Status st;
    if (name == kCheckpoints) {
      auto t = read_whole(tar, e, h);
      if (!t) return t.error();
      on_checkpoints(*t);
      checkpoints_read = true;
    } else if (name == kRecords) {
      if (!checkpoints_read) exception(std::string(kRecords) + " comes before " + std::string(kCheckpoints));
      st = read_lines(tar, e, h, [&](std::string_view line, int64_t no) { on_record_line(line, no); });
      if (!st) return st;
      finish_records();
      records_read = true;
    } else if (name.starts_with(kRecordingsDir)) {
      if (!records_read) exception(e.name + " comes before " + std::string(kRecords));
      st = read_recording(tar, e, h);
      if (!st) return st;
    } else {
      std::string* into = name == kManifest       ? &manifest_text_
                          : name == kManifestSig  ? &signature_text_
                          : name == kKeyFile      ? &key_text_
                          : name == kPurgeAnchors ? &purge_text_
                          : name == kAccessReview ? &review_text_
                          : name == kGrants       ? &grants_text_
                          : name == kLeavers      ? &leavers_text_
                          : name == kSessions     ? &sessions_text_
                                                  : nullptr;
      auto t = read_whole(tar, e, h);
      if (!t) return t.error();
      if (into != nullptr) *into = std::move(*t);
    }
    files_[e.name] = {e.size, h.hex()};
    order_.push_back(e.name);
  }
  if (manifest_text_.empty() || signature_text_.empty()) {
    return make_error("not an evidence pack: no " + std::string(manifest_text_.empty() ? kManifest : kManifestSig));
  }
  check_manifest();
  if (!records_read) exception("the pack has no " + std::string(kRecords));
  check_keys();
  check_start();
  check_signing_delays();
  check_grants_and_sessions();
  check_leavers();
  summarize_review();
  return {};
}

void Verifier::check_manifest() {
  auto parsed = nlohmann::json::parse(manifest_text_, nullptr, false);
  if (parsed.is_object()) manifest_ = std::move(parsed);
  const nlohmann::json& m = manifest_;
  if (str_member(m, "format") != kFormat) {
    exception(std::string(kManifest) + " is not a \"" + std::string(kFormat) + "\" manifest");
    return;
  }
  const nlohmann::json period = m.value("period", nlohmann::json::object());
  r_.period_from = str_member(period, "from");
  r_.period_to = str_member(period, "to");
  r_.generated_at = str_member(m, "generated_at");
  r_.generated_by = str_member(m, "generated_by");
  r_.node = str_member(m, "node");
  r_.version = str_member(m, "version");
  const nlohmann::json recs = m.value("records", nlohmann::json::object());
  r_.period_first_seq = int_member(recs, "period_first_seq").value_or(0);
  r_.period_last_seq = int_member(recs, "period_last_seq").value_or(0);
  if (int_member(recs, "first_seq").value_or(-1) != r_.first_seq ||
      int_member(recs, "last_seq").value_or(-1) != r_.last_seq) {
    exception("the manifest says the records run " + seq_text(int_member(recs, "first_seq").value_or(0)) + ".." +
              std::to_string(int_member(recs, "last_seq").value_or(0)) + ", the pack has " + seq_text(r_.first_seq) +
              ".." + std::to_string(r_.last_seq));
  }
  if (r_.period_last_seq >= r_.period_first_seq && r_.period_first_seq != 0 &&
      (r_.period_first_seq < r_.first_seq || r_.period_last_seq > r_.last_seq)) {
    exception("the manifest's period records (" + seq_text(r_.period_first_seq) + ".." +
              std::to_string(r_.period_last_seq) + ") are not all in the pack");
  }
  const Micros interval = int_member(m, "checkpoint_interval_us").value_or(60 * kMicrosPerSecond);
  r_.max_signing_delay = opt_.max_signing_delay.value_or(2 * interval + 60 * kMicrosPerSecond);

  // The signature, by the key the manifest names.
  auto key = base64_decode(str_member(m, "audit_key"));
  auto sig = parse_signature_file(signature_text_);
  if (!key || key->size() != 32) {
    exception(std::string(kManifest) + " names no audit key");
  } else {
    r_.key_fingerprint = audit_key_fingerprint(*key);
    if (!sig) {
      exception(std::string(kManifestSig) + ": " + sig.error().message);
    } else if (!ed25519_verify(*key, as_bytes(manifest_text_), *sig)) {
      exception(std::string(kManifestSig) + " is not a signature of " + std::string(kManifest) + " by the audit key " +
                r_.key_fingerprint + ": the manifest was changed, or signed by another key");
    }
    auto file_key = parse_audit_public_key(key_text_);
    if (!file_key || *file_key != *key) {
      exception(std::string(kKeyFile) + " is not the key the manifest names (" + r_.key_fingerprint + ")");
    }
  }

  // Every entry, and nothing else.
  std::set<std::string> listed;
  for (const auto& f : m.value("files", nlohmann::json::array())) {
    std::string name = str_member(f, "name");
    listed.insert(name);
    auto it = files_.find(name);
    if (it == files_.end()) {
      exception(name + " is in the manifest but not in the archive");
      continue;
    }
    if (int_member(f, "size").value_or(-1) != static_cast<int64_t>(it->second.size) ||
        str_member(f, "sha256") != it->second.sha256) {
      exception(name + " does not match its SHA-256 in the manifest: it was changed after the export");
    }
  }
  for (const auto& name : order_) {
    if (name != kManifest && name != kManifestSig && !listed.count(name)) {
      exception(name + " is in the archive but not in the manifest");
    }
  }
  r_.files = static_cast<int64_t>(listed.size());
}

// The keys: the manifest's is the one the checkpoints end with; the keys
// before it come from the audit.key_rotate records the chain vouches for.
void Verifier::check_keys() {
  auto final_key = base64_decode(str_member(manifest_, "audit_key"));
  if (!final_key || final_key->size() != 32) return;
  std::string key = base64_encode(*final_key);
  // The key in force at the first checkpoint: the old key of the first rotation, if any.
  for (const auto& c : cps_) {
    if (c.next_key.empty()) continue;
    auto rot = std::find_if(rotations_.begin(), rotations_.end(),
                            [&](const KeyRotation& k) { return k.new_key == c.next_key && k.seq <= c.seq; });
    key = rot != rotations_.end() ? rot->old_key : std::string();
    break;
  }
  std::vector<std::string> chain_keys;
  int64_t unchecked = 0;
  for (const auto& c : cps_) {
    auto raw = base64_decode(key);
    if (!key.empty() && raw && raw->size() == 32) {
      if (!checkpoint_signed_by(c, *raw)) {
        exception("the " + c.kind + " checkpoint at " + seq_text(c.seq) + " (" + when(c.ts) +
                  ") does not carry a valid signature by the audit key in force (" + audit_key_fingerprint(*raw) + ")");
      }
      if (chain_keys.empty() || chain_keys.back() != key) chain_keys.push_back(key);
    } else {
      ++unchecked;
    }
    if (!c.next_key.empty()) {
      key = c.next_key;
      ++r_.rotations;
    }
  }
  if (unchecked > 0) {
    note(std::to_string(unchecked) +
         " checkpoint(s) were signed by a key before the first rotation the pack shows; the chain binds what they "
         "cover to the later, checked ones");
  }
  if (!cps_.empty() && key != base64_encode(*final_key)) {
    exception("the checkpoints end with the key " + key + " in force, but the manifest is signed by " +
              r_.key_fingerprint);
  }
  for (const auto& k : chain_keys) {
    auto raw = base64_decode(k);
    if (!raw) continue;
    keys_.push_back(*raw);
    if (*raw != *final_key) r_.earlier_keys.push_back(audit_key_fingerprint(*raw));
  }
  if (std::find(keys_.begin(), keys_.end(), *final_key) == keys_.end()) keys_.push_back(*final_key);
  if (!opt_.expect_keys.empty()) {
    for (const auto& want : opt_.expect_keys) {
      if (want == r_.key_fingerprint) r_.expected_key_matched = true;
      for (const auto& k : chain_keys) {
        auto raw = base64_decode(k);
        if (raw && audit_key_fingerprint(*raw) == want) r_.expected_key_matched = true;
      }
    }
    if (!r_.expected_key_matched) {
      exception("the pack is signed by the audit key " + r_.key_fingerprint +
                ", which is not the key you expect (--expect-key)");
    }
  }
}

void Verifier::check_start() {
  if (!records_seen_) return;
  const nlohmann::json recs = manifest_.value("records", nlohmann::json::object());
  if (r_.first_seq == 1) {
    if (first_prev_hash_ != kGenesisHash) exception("record seq 1 does not start from the genesis hash");
    r_.start = "the first record of the log";
    return;
  }
  if (int_member(recs, "context_seq").value_or(0) == r_.first_seq) {
    r_.start = "record " + seq_text(r_.first_seq) + ", the one before the records the period needs";
    return;
  }
  auto anchors = nlohmann::json::parse(purge_text_, nullptr, false);
  if (anchors.is_object() && anchors.contains("newest") && anchors["newest"].is_object()) {
    const auto& a = anchors["newest"];
    auto cut = a.contains("cut_at") ? checkpoint_from_json(a["cut_at"]) : Result<Checkpoint>(make_error("none"));
    if (int_member(a, "seq").value_or(-1) + 1 == r_.first_seq && cut && cut->hash == first_prev_hash_) {
      // Signed at the purge, by the key in force then (any the pack shows).
      bool signed_ok = std::any_of(keys_.begin(), keys_.end(),
                                   [&](const std::vector<uint8_t>& k) { return checkpoint_signed_by(*cut, k); });
      if (!signed_ok) {
        exception("the retention cut at " + seq_text(r_.first_seq - 1) +
                  " is not signed by an audit key the pack shows: what precedes the first record cannot be checked");
        return;
      }
      r_.start = "the retention cut at " + seq_text(r_.first_seq - 1) + " (" + str_member(a, "purged_at") +
                 "), signed by its " + cut->kind + " checkpoint";
      return;
    }
  }
  exception("the pack starts at " + seq_text(r_.first_seq) +
            " without the record before it or a retention cut that explains it: what precedes it cannot be checked");
}

// A record is signed by the next checkpoint, which the gateway writes within
// its checkpoint interval; a record that waited much longer means a
// checkpoint was removed (or the gateway did not run to sign it).
void Verifier::check_signing_delays() {
  for (const auto& [seq, delay] : cp_max_delay_) {
    r_.worst_signing_delay = std::max(r_.worst_signing_delay, delay);
    if (delay <= r_.max_signing_delay) continue;
    const int64_t first = cp_first_seq_[seq];
    exception("records " + seq_text(first) + (first < seq ? ".." + std::to_string(seq) : "") + " waited up to " +
              format_duration(delay - delay % kMicrosPerSecond) + " for a signature (the checkpoint at " +
              seq_text(seq) + "), more than " + format_duration(r_.max_signing_delay) +
              ": a checkpoint was removed, or the gateway was not running to sign them");
  }
}

void Verifier::check_grants_and_sessions() {
  // The database's grants against their records.
  std::map<std::string, nlohmann::json> db_grants;
  for (const auto& j : objects(grants_text_, kGrants)) {
    std::string g = str_member(j, "grant_id");
    if (!g.empty()) db_grants[g] = j;
  }
  for (const auto& [id, g] : grants_) {
    ++r_.grants;
    if (g.break_glass) {
      ++r_.break_glass;
      r_.break_glass_uses.push_back(id + " for " + g.user + " by " + g.decided_by + " at " + when(g.starts) + ": " +
                                    g.reason);
    }
    auto it = db_grants.find(id);
    if (it == db_grants.end()) {
      exception("grant " + id + " (" + seq_text(g.start_seq) + ") is missing from " + std::string(kGrants));
      continue;
    }
    auto db_start = int_member(it->second, "starts_at_us");
    auto db_end = int_member(it->second, "ends_at_us");
    if (!g.break_glass && db_start && *db_start != g.starts) {
      exception("grant " + id + ": the database says it starts at " + when(*db_start) + ", its record (" +
                seq_text(g.start_seq) + ") says " + when(g.starts));
    }
    if (db_end && *db_end != g.ends) {
      exception("grant " + id + ": the database says it ends at " + when(*db_end) + ", its record (" +
                seq_text(g.start_seq) + ") says " + when(g.ends));
    }
  }
  // The database's sessions against their records.
  std::set<std::string> listed;
  std::map<std::string, int64_t> first_session_seq;  // grant -> its first session's record
  for (const auto& [id, s] : sessions_) {
    if (s.grant_id.empty()) continue;
    auto& f = first_session_seq[s.grant_id];
    f = f == 0 ? s.seq : std::min(f, s.seq);
  }
  for (const auto& j : objects(sessions_text_, kSessions)) {
    ++r_.sessions;
    const std::string id = str_member(j, "id");
    listed.insert(id);
    const std::string grant = str_member(j, "grant_id");
    const Micros started = int_member(j, "started_at_us").value_or(0);
    const std::string who = "session " + id + " (" + str_member(j, "user") + " to " + str_member(j, "login") + "@" +
                            str_member(j, "target") + ", " + when(started) + ")";
    auto rec = sessions_.find(id);
    if (rec == sessions_.end()) {
      exception(who + " has no session.start record in the chain: the gateway never recorded it");
    } else {
      const ChainSession& s = rec->second;
      if (s.user != str_member(j, "user") || s.target != str_member(j, "target") || s.login != str_member(j, "login") ||
          s.grant_id != grant) {
        exception(who + ": the database's user, target, login or grant differ from its session.start record (" +
                  seq_text(s.seq) + ")");
      }
      if (std::llabs(s.ts - started) > kSessionStartSlack) {
        exception(who + ": the database says it started at " + when(started) + ", its session.start record (" +
                  seq_text(s.seq) + ") at " + when(s.ts));
      }
    }
    if (!grant.empty()) {
      ++r_.sessions_under_grant;
      auto g = grants_.find(grant);
      const Micros at = rec != sessions_.end() ? rec->second.ts : started;
      if (g == grants_.end()) {
        exception(who + " ran under grant " + grant +
                  ", which no grant.start or break-glass record in the pack starts");
      } else {
        Micros window_end = g->second.ended ? std::min(g->second.ends, g->second.ended->ts) : g->second.ends;
        for (Micros t : {started, at}) {
          if (t < g->second.starts || t > window_end) {
            exception(who + " started at " + format_utc(t) + " under grant " + grant + ", outside the grant's window " +
                      format_utc(g->second.starts) + " .. " + format_utc(window_end));
            break;
          }
        }
      }
    }
    for (const auto& rj : j.value("recordings", nlohmann::json::array())) {
      ++r_.recordings;
      int ch = static_cast<int>(int_member(rj, "channel").value_or(-1));
      std::string digest = str_member(rj, "sha256");
      auto end_it = ends_.find({id, ch});
      if (end_it == ends_.end()) {
        if (!digest.empty()) {
          exception(who + " channel " + std::to_string(ch) +
                    ": the database has a recording digest that no recording.end record vouches for");
        } else {
          note(who + " channel " + std::to_string(ch) + ": the recording was never completed (no final digest)");
        }
        continue;
      }
      if (digest != end_it->second.sha256) {
        exception(who + " channel " + std::to_string(ch) + ": the recording digest in the database (" +
                  digest.substr(0, 16) + "...) is not the one its recording.end record (" +
                  seq_text(end_it->second.seq) + ") vouches for (" + end_it->second.sha256.substr(0, 16) + "...)");
      }
      std::string entry = str_member(rj, "entry");
      if (!entry.empty() && !recordings_in_pack_.count(entry)) {
        exception(who + " channel " + std::to_string(ch) + ": " + entry + " is listed but not in the pack");
      }
    }
  }
  for (const auto& [id, s] : sessions_) {
    if (s.seq < r_.period_first_seq || s.seq > r_.period_last_seq) continue;
    if (!listed.count(id)) {
      exception("session " + id + " (" + s.user + ", session.start " + seq_text(s.seq) + ") is missing from " +
                std::string(kSessions));
    }
  }
  // Consent before use.
  for (const auto& [grant, first] : first_session_seq) {
    auto g = grants_.find(grant);
    if (g == grants_.end() || g->second.break_glass) continue;
    auto req = requests_.find(g->second.request_id);
    if (req == requests_.end() || req->second.seq > first) {
      exception("grant " + grant + " (request " + g->second.request_id + "): no elevation.request record before its " +
                "first session (" + seq_text(first) + ")");
    }
    bool customer = !g->second.customer.empty();
    bool consented = false;
    for (const auto& [at, kind] : approvals_[g->second.request_id]) {
      if (at.seq < first && (kind == "customer" || !customer)) consented = true;
    }
    if (!consented) {
      exception("grant " + grant + " (request " + g->second.request_id + "): no " +
                (customer ? "consent record of customer " + g->second.customer : std::string("approval record")) +
                " before its first session (" + seq_text(first) + ")");
    }
  }
  for (const auto& [id, g] : grants_) {
    if (g.break_glass) continue;
    bool customer = false;
    for (const auto& [at, kind] : approvals_[g.request_id]) customer = customer || kind == "customer";
    if (customer) {
      ++r_.consented;
    } else {
      ++r_.internal;
    }
  }
}

void Verifier::check_leavers() {
  std::vector<double> latencies;
  std::set<std::string> listed;
  for (const auto& j : objects(leavers_text_, kLeavers)) {
    const std::string ev = str_member(j, "event_id");
    listed.insert(ev);
    const std::string who = "leaver " + str_member(j, "user") + " (HR event " + ev + ")";
    auto rec = leaver_records_.find(ev);
    if (rec == leaver_records_.end()) {
      ++r_.leavers;
      exception(who + " has no revocation record (hr.leaver) in the chain");
      continue;
    }
    if (rec->second.plan != "leave") {
      // Signed: nothing was revoked, and why (no account, already left).
      note(who + ": nothing to revoke (" + seq_text(rec->second.seq) + ": " + rec->second.reason + ")");
      continue;
    }
    ++r_.leavers;
    const Micros revoked = int_member(j, "revoked_at_us").value_or(0);
    // The database stamps the event a moment before its record is appended.
    if (std::llabs(revoked - rec->second.ts) > kMicrosPerSecond) {
      exception(who + ": the database says access was revoked at " + format_utc(revoked) + ", its record (" +
                seq_text(rec->second.seq) + ") at " + format_utc(rec->second.ts));
    }
    Micros effective = int_member(j, "effective_at_us").value_or(rec->second.ts);
    if (rec->second.effective_at && *rec->second.effective_at != effective) {
      exception(who + ": the database says the HR event took effect at " + format_utc(effective) + ", its record (" +
                seq_text(rec->second.seq) + ") says " + format_utc(*rec->second.effective_at));
      effective = *rec->second.effective_at;
    }
    latencies.push_back(static_cast<double>(rec->second.ts - effective) / kMicrosPerSecond);
  }
  for (const auto& [ev, rec] : leaver_records_) {
    if (rec.plan != "leave" || rec.seq < r_.period_first_seq || rec.seq > r_.period_last_seq) continue;
    if (!listed.count(ev)) {
      exception("the revocation of " + rec.user + " (HR event " + ev + ", " + seq_text(rec.seq) + ") is missing from " +
                std::string(kLeavers));
    }
  }
  if (!latencies.empty()) {
    std::sort(latencies.begin(), latencies.end());
    r_.latency_max_s = latencies.back();
    r_.latency_median_s = latencies[latencies.size() / 2];
  }
}

void Verifier::summarize_review() {
  auto j = nlohmann::json::parse(review_text_, nullptr, false);
  if (!j.is_object()) {
    exception(std::string(kAccessReview) + " is missing or not JSON");
    return;
  }
  for (const auto& p : j.value("people", nlohmann::json::array())) {
    ++r_.people;
    if (str_member(p, "state") == "left") ++r_.people_left;
  }
}

}  // namespace

Result<PackReport> verify_pack(const TarSource& source, const VerifyOptions& options) {
  Verifier v(options);
  if (auto st = v.run(source); !st) return st.error();
  return v.take();
}

std::string summary_text(const PackReport& r) {
  std::string out;
  auto line = [&](const std::string& s) { out += printable(s) + "\n"; };
  line("evidence pack: " + r.period_from + " .. " + r.period_to);
  line("  exported " + r.generated_at + " by " + r.generated_by + " on node " + r.node + " (bastion " + r.version +
       ")");
  line("audit key:    " + r.key_fingerprint +
       (r.expected_key_matched ? "  (the key you expect)"
                               : "  (compare with the fingerprint you obtained out of band)"));
  for (const auto& k : r.earlier_keys) line("  earlier key: " + k + " (rotated to the key above, in the pack)");
  line("files:        " + std::to_string(r.files) + ", each matching its SHA-256 in the signed manifest" +
       (r.ok() ? "" : " (unless listed below)"));
  line("audit chain:  records " + seq_text(r.first_seq) + ".." + std::to_string(r.last_seq) + " (" +
       std::to_string(r.period_last_seq >= r.period_first_seq && r.period_first_seq > 0
                          ? r.period_last_seq - r.period_first_seq + 1
                          : 0) +
       " in the period), " + std::to_string(r.checkpoints) + " signed checkpoint(s), " + std::to_string(r.rotations) +
       " key rotation(s)");
  line("  starts at:  " + (r.start.empty() ? std::string("(unknown)") : r.start));
  line("  signing:    every record signed within " +
       format_duration(r.worst_signing_delay - r.worst_signing_delay % kMicrosPerSecond) +
       " (allowed: " + format_duration(r.max_signing_delay) + ")");
  line("people:       " + std::to_string(r.people) + " (" + std::to_string(r.people_left) + " left)");
  line("grants:       " + std::to_string(r.grants) + " (" + std::to_string(r.consented) + " with customer consent, " +
       std::to_string(r.internal) + " internally approved, " + std::to_string(r.break_glass) + " break-glass)");
  for (const auto& b : r.break_glass_uses) line("  BREAK-GLASS: " + b);
  line("sessions:     " + std::to_string(r.sessions) + " (" + std::to_string(r.sessions_under_grant) +
       " under a grant), " + std::to_string(r.recordings) + " recordings (" + std::to_string(r.recordings_checked) +
       " in the pack, checked byte by byte)");
  char lat[128];
  std::snprintf(lat, sizeof lat, "median %.3f s, max %.3f s from the HR event to revocation", r.latency_median_s,
                r.latency_max_s);
  line("leavers:      " + std::to_string(r.leavers) + (r.leavers > 0 ? std::string(", ") + lat : std::string()));
  for (const auto& n : r.notes) line("note: " + n);
  if (r.ok()) {
    line("exceptions:   none");
    line("RESULT: PASS");
  } else {
    line("exceptions:   " + std::to_string(r.exceptions.size()));
    for (const auto& e : r.exceptions) line("  - " + e);
    line("RESULT: FAIL");
  }
  return out;
}

nlohmann::json report_json(const PackReport& r) {
  return {{"result", r.ok() ? "pass" : "fail"},
          {"period", {{"from", r.period_from}, {"to", r.period_to}}},
          {"generated_at", r.generated_at},
          {"generated_by", r.generated_by},
          {"node", r.node},
          {"version", r.version},
          {"audit_key", r.key_fingerprint},
          {"earlier_keys", r.earlier_keys},
          {"expected_key_matched", r.expected_key_matched},
          {"files", r.files},
          {"records",
           {{"first_seq", r.first_seq},
            {"last_seq", r.last_seq},
            {"period_first_seq", r.period_first_seq},
            {"period_last_seq", r.period_last_seq},
            {"starts_at", r.start}}},
          {"checkpoints", r.checkpoints},
          {"rotations", r.rotations},
          {"worst_signing_delay_s", static_cast<double>(r.worst_signing_delay) / kMicrosPerSecond},
          {"people", r.people},
          {"people_left", r.people_left},
          {"grants",
           {{"total", r.grants},
            {"customer_consent", r.consented},
            {"internal", r.internal},
            {"break_glass", r.break_glass},
            {"break_glass_uses", r.break_glass_uses}}},
          {"sessions", r.sessions},
          {"sessions_under_grant", r.sessions_under_grant},
          {"recordings", r.recordings},
          {"recordings_checked", r.recordings_checked},
          {"leavers", {{"count", r.leavers}, {"median_s", r.latency_median_s}, {"max_s", r.latency_max_s}}},
          {"notes", r.notes},
          {"exceptions", r.exceptions}};
}

}  // namespace bastion::evidence
