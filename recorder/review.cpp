#include "recorder/review.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include "common/ed25519_key.h"
#include "common/encoding.h"
#include "common/files.h"
#include "recorder/cast_crypto.h"
#include "recorder/channel_recording.h"
#include "recorder/recording_writer.h"
#include "recorder/screen_text.h"

namespace bastion::recorder {
Result<std::string> cast_text(const std::string& path, const std::string& key_path, bool& cut_off) {
  cut_off = false;
  auto bytes = read_file(path, size_t{8} << 30);
  if (!bytes) return bytes.error();
  if (!is_encrypted_cast(*bytes)) return bytes;
  if (key_path.empty()) return make_error(path + " is encrypted: pass --key REVIEWER.key");
  return open_sealed_cast(*bytes, key_path, cut_off);
}

Result<CastFile> read_cast(const std::string& path, const std::string& key_path, size_t max_bytes) {
  bool sealed_cut = false;
  auto text = cast_text(path, key_path, sealed_cut);
  if (!text) return text.error();
  if (text->size() > max_bytes) return make_error(path + " is too large");
  auto cast = parse_cast(*text, path);
  if (cast && sealed_cut) cast->cut_off = true;
  return cast;
}

Result<CastFile> parse_cast(std::string_view whole, const std::string& path) {
  const std::string_view* text = &whole;
  CastFile cast;
  size_t pos = 0;
  size_t line_no = 0;
  while (pos < text->size()) {
    size_t end = text->find('\n', pos);
    bool complete = end != std::string::npos;
    std::string_view line(text->data() + pos, (complete ? end : text->size()) - pos);
    pos = complete ? end + 1 : text->size();
    ++line_no;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) {
      if (!complete) {
        cast.cut_off = true;
        break;
      }
      return make_error(path + ":" + std::to_string(line_no) + ": not asciicast v2 (invalid JSON)");
    }
    if (line_no == 1) {
      // Found by fuzz_cast: j.value("version", 0) throws on a string and is
      // undefined on 1e300; ask for an integer first.
      auto v = j.is_object() ? j.find("version") : j.end();
      if (!j.is_object() || v == j.end() || !v->is_number_integer() || v->get<int64_t>() != 2) {
        return make_error(path + ": not an asciicast v2 file");
      }
      cast.header = j;
      continue;
    }
    if (!j.is_array() || j.size() != 3 || !j[0].is_number() || !j[1].is_string() || !j[2].is_string()) {
      return make_error(path + ":" + std::to_string(line_no) + ": not an asciicast v2 event");
    }
    cast.events.push_back({j[0].get<double>(), j[1].get<std::string>(), j[2].get<std::string>()});
  }
  if (cast.header.is_null()) return make_error(path + ": empty recording");
  return cast;
}

namespace {

// Walks a recording's audit records in order, checking the file against them.
class RecordingVerifier {
 public:
  RecordingVerifier(std::string_view file, RecordingCheck& c) : file_(file), c_(c) {}
  // False when the check has failed (c.problem says why).
  bool chunk(const nlohmann::json& d, int64_t seq);
  bool end(const nlohmann::json& d, int64_t seq);
  [[nodiscard]] int64_t covered() const { return covered_; }

 private:
  bool end_of_chunks(const nlohmann::json& d, int64_t seq);
  bool fail(std::string why) {
    c_.problem = std::move(why);
    return false;
  }

  std::string_view file_;
  RecordingCheck& c_;
  int64_t covered_ = 0;
  int chunks_ = 0;
  std::string chunk_digests_;  // raw, in order: what a kDigestOfChunks end vouches for
};

bool RecordingVerifier::chunk(const nlohmann::json& d, int64_t seq) {
  int64_t off = d.value("offset", int64_t{-1}), len = d.value("length", int64_t{-1});
  ++chunks_;
  if (off != covered_ || len <= 0) {
    return fail("the audit log's digests for this recording are not contiguous at byte " + std::to_string(off));
  }
  if (off + len > c_.file_size) {
    return fail("recording truncated: the audit log vouches for " + std::to_string(off + len) +
                " bytes, the file has " + std::to_string(c_.file_size));
  }
  auto digest = sha256(as_bytes(file_.substr(static_cast<size_t>(off), static_cast<size_t>(len))));
  if (hex_encode(digest) != d.value("sha256", "")) {
    return fail("recording altered: chunk " + std::to_string(chunks_) + " (bytes " + std::to_string(off) + "-" +
                std::to_string(off + len) + ") does not match its digest in the audit log (seq " + std::to_string(seq) +
                ")");
  }
  chunk_digests_.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  covered_ = off + len;
  return true;
}

bool RecordingVerifier::end(const nlohmann::json& d, int64_t seq) {
  c_.complete = true;
  int64_t size = d.value("size", int64_t{-1});
  if (size != c_.file_size) {
    return fail("recording " + std::string(c_.file_size < size ? "truncated" : "extended") + ": the audit log says " +
                std::to_string(size) + " bytes, the file has " + std::to_string(c_.file_size));
  }
  std::string digest =
      d.contains("digest") && d["digest"].is_string() ? d["digest"].get<std::string>() : std::string(kDigestWholeFile);
  if (digest == kDigestOfChunks) return end_of_chunks(d, seq);
  if (digest != kDigestWholeFile) return fail("the audit log names an unknown digest \"" + digest + "\"");
  if (hex_encode(sha256(as_bytes(file_))) != d.value("sha256", "")) {
    return fail("recording altered: its SHA-256 does not match the audit log (seq " + std::to_string(seq) + ")");
  }
  covered_ = size;
  return true;
}

// Every byte was checked against its chunk; the end vouches for the list of chunks.
bool RecordingVerifier::end_of_chunks(const nlohmann::json& d, int64_t seq) {
  if (covered_ != c_.file_size) {
    return fail("recording altered: bytes " + std::to_string(covered_) + "-" + std::to_string(c_.file_size) +
                " are not covered by any chunk digest in the audit log");
  }
  if (hex_encode(sha256(as_bytes(chunk_digests_))) != d.value("sha256", "")) {
    return fail("the audit log's chunk digests do not add up to the recording's final digest (seq " +
                std::to_string(seq) + ")");
  }
  return true;
}

// The command index the recording.end record vouches for, if any.
bool check_index(const nlohmann::json& end, RecordingCheck& c) {
  if (!end.contains("index_sha256")) return true;
  std::string path = end.contains("index") && end["index"].is_string() ? end["index"].get<std::string>() : "";
  auto d = digest_index_file(path);
  if (!d) {
    c.problem = "command index: " + d.error().message;
    return false;
  }
  if (d->size != end.value("index_size", int64_t{-1}) || d->sha256 != end.value("index_sha256", "")) {
    c.problem = "command index altered: " + path + " does not match its digest in the audit log";
    return false;
  }
  c.index_path = path;
  return true;
}

}  // namespace

Result<RecordingCheck> verify_recording(AuditLog& audit, const std::string& session_id, int channel,
                                        const std::string& path) {
  AuditFilter f;
  f.session_id = session_id;
  f.limit = 1'000'000;
  auto records = audit.query(f);
  if (!records) return records.error();
  auto bytes = read_file(path, size_t{8} << 30);
  if (!bytes) return bytes.error();
  RecordingCheck c;
  c.file_size = static_cast<int64_t>(bytes->size());
  RecordingVerifier v(*bytes, c);
  const nlohmann::json* end = nullptr;
  for (const auto& r : *records) {
    const auto& d = r.event.details;
    if (!d.is_object() || d.value("channel", -1) != channel) continue;
    bool ok = r.event.action == "recording.chunk" ? v.chunk(d, r.seq)
              : r.event.action == "recording.end" ? v.end(d, r.seq)
                                                  : true;
    if (!ok) return c;
    if (r.event.action == "recording.end") end = &d;
  }
  if (end != nullptr && !check_index(*end, c)) return c;
  c.verified_bytes = v.covered();
  if (c.verified_bytes == 0 && c.file_size > 0 && !c.complete) {
    c.note = "no digest of this recording reached the audit log before the session ended abnormally";
  } else if (!c.complete && c.verified_bytes < c.file_size) {
    c.note = "the last " + std::to_string(c.file_size - c.verified_bytes) +
             " bytes were written after the last digest (the session ended abnormally) and cannot be vouched for";
  }
  c.ok = true;
  return c;
}

namespace {

constexpr size_t kSnippetBytes = 120;

// A recording's seconds as microseconds (a file may hold any double).
Micros to_micros(double seconds) {
  if (!(seconds > 0)) return 0;
  if (seconds > 1e12) return Micros{1'000'000'000'000'000'000};
  return static_cast<Micros>(std::llround(seconds * 1e6));
}

// The header's width or height; FALLBACK when missing or not an integer
// (ScreenText clamps the rest).
int header_size(const nlohmann::json& header, const char* key, int fallback) {
  if (!header.is_object()) return fallback;
  auto it = header.find(key);
  if (it == header.end() || !it->is_number_integer()) return fallback;
  return static_cast<int>(std::clamp<int64_t>(it->get<int64_t>(), 0, 100'000));
}

std::optional<int> small_number(std::string_view digits) {
  if (digits.empty() || digits.size() > 6) return std::nullopt;
  int v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

// A resize event's data, "COLSxROWS".
std::optional<std::pair<int, int>> cast_size(std::string_view data) {
  size_t x = data.find('x');
  if (x == std::string_view::npos) return std::nullopt;
  auto cols = small_number(data.substr(0, x));
  auto rows = small_number(data.substr(x + 1));
  if (!cols || !rows) return std::nullopt;
  return std::make_pair(*cols, *rows);
}

bool utf8_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// LINE cut to about kSnippetBytes around the match of LEN bytes at AT, at
// character boundaries.
std::string snippet(const std::string& line, size_t at, size_t len) {
  if (line.size() <= kSnippetBytes) return line;
  size_t width = std::max(kSnippetBytes, len);
  size_t from = std::min(at > (width - len) / 2 ? at - (width - len) / 2 : 0, line.size() - width);
  size_t to = from + width;
  while (from > 0 && utf8_continuation(line[from])) --from;
  while (to < line.size() && utf8_continuation(line[to])) ++to;
  return line.substr(from, to - from);
}

// Adds HIT to HITS, which stay in offset order and keep the MAX earliest.
void add_hit(std::vector<SearchHit>& hits, SearchHit hit, size_t max) {
  auto later = [](double t, const SearchHit& h) { return t < h.offset; };
  auto pos = std::upper_bound(hits.begin(), hits.end(), hit.offset, later);
  if (hits.size() >= max && pos == hits.end()) return;
  hits.insert(pos, std::move(hit));
  if (hits.size() > max) hits.pop_back();
}

}  // namespace

std::vector<SearchHit> search_cast(const CastFile& cast, const std::string& text, size_t max_hits) {
  std::vector<SearchHit> hits;
  // Found by fuzz_cast: an empty text "matches" everywhere (and was once read past the end).
  if (text.empty() || max_hits == 0) return hits;
  ScreenText screen(header_size(cast.header, "width", 80), header_size(cast.header, "height", 24));
  auto search = [&] {
    for (const ScreenLine& line : screen.take()) {
      size_t at = line.text.find(text);
      if (at == std::string::npos) continue;
      add_hit(hits, SearchHit{static_cast<double>(line.offset) / 1e6, snippet(line.text, at, text.size())}, max_hits);
    }
  };
  for (const auto& e : cast.events) {
    if (e.kind == "o") {
      screen.output(to_micros(e.t), e.data);
    } else if (auto size = e.kind == "r" ? cast_size(e.data) : std::nullopt) {
      screen.resize(size->first, size->second);
    }
    search();
  }
  screen.finish();
  search();
  return hits;
}

}  // namespace bastion::recorder
