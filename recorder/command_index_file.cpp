// The command index file (command_index.h): JSON Lines beside a recording.
#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/ed25519_key.h"
#include "common/encoding.h"
#include "common/files.h"
#include "recorder/asciicast.h"
#include "recorder/cast_crypto.h"
#include "recorder/command_index.h"
#include "recorder/review.h"

namespace bastion::recorder {
namespace {

constexpr const char* kFormat = "bastion-command-index";
constexpr int kVersion = 1;
// A line holds one command of at most 4 KiB, each byte at most 6 bytes of JSON.
constexpr size_t kMaxLine = CommandIndexer::kMaxCommandBytes * 6 + 256;
constexpr double kMaxSeconds = 1e11;  // ~3,000 years: past that, microseconds overflow nothing but mean nothing

void append_seconds(std::string& out, Micros offset) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%" PRId64 ".%06" PRId64, offset / kMicrosPerSecond, offset % kMicrosPerSecond);
  out += buf;
}

Error line_error(const std::string& name, size_t line, const std::string& what) {
  return make_error(name + " line " + std::to_string(line) + ": " + what);
}

// Splits off the next line of REST (without its "\n"); false at the end.
bool next_line(std::string_view& rest, std::string_view& line, bool& cut_off) {
  if (rest.empty()) return false;
  size_t nl = rest.find('\n');
  cut_off = nl == std::string_view::npos;
  line = rest.substr(0, cut_off ? rest.size() : nl);
  rest.remove_prefix(cut_off ? rest.size() : nl + 1);
  return true;
}

Result<CommandIndexHeader> parse_header(const nlohmann::json& j) {
  if (!j.is_object()) return make_error("the header is not a JSON object");
  auto format = j.find("format");
  if (format == j.end() || !format->is_string() || format->get<std::string>() != kFormat) {
    return make_error(std::string("not a command index (\"format\" is not \"") + kFormat + "\")");
  }
  auto version = j.find("version");
  if (version == j.end() || !version->is_number_integer() || version->get<int64_t>() != kVersion) {
    return make_error("unsupported version (this reader knows version " + std::to_string(kVersion) + ")");
  }
  CommandIndexHeader h;
  auto recording = j.find("recording");
  if (recording != j.end()) {
    if (!recording->is_string()) return make_error("\"recording\" is not a string");
    h.recording = recording->get<std::string>();
  }
  auto int_field = [&](const char* key, int64_t lo, int64_t hi, int64_t& out) -> Status {
    auto it = j.find(key);
    if (it == j.end()) return Status::ok();
    if (!it->is_number_integer()) return make_error(std::string("\"") + key + "\" is not an integer");
    int64_t v = it->get<int64_t>();
    if (v < lo || v > hi) return make_error(std::string("\"") + key + "\" is out of range");
    out = v;
    return Status::ok();
  };
  int64_t cols = h.cols, rows = h.rows;
  if (auto s = int_field("started_at_us", 0, INT64_MAX, h.started_at); !s) return s.error();
  if (auto s = int_field("cols", 1, CommandIndexer::kMaxCols, cols); !s) return s.error();
  if (auto s = int_field("rows", 1, CommandIndexer::kMaxRows, rows); !s) return s.error();
  h.cols = static_cast<int>(cols);
  h.rows = static_cast<int>(rows);
  auto truncated = j.find("truncated");
  if (truncated != j.end()) {
    if (!truncated->is_boolean()) return make_error("\"truncated\" is not true or false");
    h.truncated = truncated->get<bool>();
  }
  return h;
}

Result<CommandEntry> parse_entry(const nlohmann::json& j) {
  if (!j.is_object()) return make_error("not a JSON object");
  auto t = j.find("t");
  if (t == j.end() || !t->is_number()) return make_error("no time (\"t\", seconds)");
  double seconds = t->get<double>();
  if (!std::isfinite(seconds) || seconds < 0 || seconds > kMaxSeconds) return make_error("\"t\" is out of range");
  auto cmd = j.find("cmd");
  if (cmd == j.end() || !cmd->is_string()) return make_error("no command (\"cmd\", a string)");
  CommandEntry e{std::llround(seconds * kMicrosPerSecond), cmd->get<std::string>()};
  if (e.command.empty()) return make_error("the command is empty");
  if (e.command.size() > CommandIndexer::kMaxCommandBytes) return make_error("the command is longer than 4 KiB");
  return e;
}

}  // namespace

std::string format_command_index(const CommandIndex& index) {
  const CommandIndexHeader& h = index.header;
  std::string out =
      std::string("{\"format\":\"") + kFormat + "\",\"version\":" + std::to_string(kVersion) + ",\"recording\":";
  append_json_string(out, h.recording);
  out += ",\"started_at_us\":" + std::to_string(h.started_at) + ",\"cols\":" + std::to_string(h.cols) +
         ",\"rows\":" + std::to_string(h.rows) + ",\"truncated\":" + (h.truncated ? "true" : "false") + "}\n";
  for (const CommandEntry& e : index.entries) {
    out += "{\"t\":";
    append_seconds(out, std::max<Micros>(0, e.offset));
    out += ",\"cmd\":";
    append_json_string(out, e.command);
    out += "}\n";
  }
  return out;
}

Result<std::string> write_command_index(const std::string& path, const CommandIndex& index) {
  std::string text = format_command_index(index);
  if (auto s = write_file_atomic(path, text, 0600, false); !s) {
    return s.error().prefixed("cannot write the command index " + path + ": ");
  }
  return hex_encode(sha256(as_bytes(text)));
}

Result<CommandIndex> parse_command_index(std::string_view text, const std::string& name) {
  CommandIndex index;
  std::string_view rest = text, line;
  bool cut_off = false;
  size_t n = 0;
  while (next_line(rest, line, cut_off)) {
    ++n;
    if (cut_off) return line_error(name, n, "cut off (no newline at the end): the file is incomplete");
    if (line.size() > kMaxLine) return line_error(name, n, "longer than " + std::to_string(kMaxLine) + " bytes");
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) return line_error(name, n, "not valid JSON");
    if (n == 1) {
      auto h = parse_header(j);
      if (!h) return line_error(name, n, h.error().message);
      index.header = std::move(*h);
      continue;
    }
    auto e = parse_entry(j);
    if (!e) return line_error(name, n, e.error().message);
    if (!index.entries.empty() && e->offset < index.entries.back().offset) {
      return line_error(name, n, "out of time order");
    }
    if (index.entries.size() >= CommandIndexer::kMaxEntries) {
      return line_error(name, n, "more than " + std::to_string(CommandIndexer::kMaxEntries) + " entries");
    }
    index.entries.push_back(std::move(*e));
  }
  if (n == 0) return make_error(name + ": empty, not a command index");
  return index;
}

Result<CommandIndex> read_command_index(const std::string& path, const std::string& key_path, size_t max_bytes) {
  auto text = read_file(path, max_bytes);
  if (!text) return text.error().prefixed("cannot read the command index " + path + ": ");
  if (!is_encrypted_cast(*text)) return parse_command_index(*text, path);
  if (key_path.empty()) {
    return make_error(path + " is encrypted: pass --key (the reviewer's private key)");
  }
  bool cut_off = false;
  auto plain = open_sealed_cast(*text, key_path, cut_off);
  if (!plain) return plain.error().prefixed(path + ": ");
  if (cut_off) return make_error(path + ": the sealed index is cut off (the file is incomplete)");
  return parse_command_index(*plain, path);
}

CommandIndex index_from_cast(const CastFile& cast, const std::string& recording_name) {
  CommandIndexHeader h;
  h.recording = recording_name;
  const nlohmann::json& j = cast.header;
  // The header comes from a file an attacker may have touched: no value() (it throws on a wrong type).
  auto number = [&](const char* key, double dflt, double lo, double hi) {
    if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return dflt;
    double v = j[key].get<double>();
    return std::isfinite(v) ? std::clamp(v, lo, hi) : dflt;
  };
  h.cols = static_cast<int>(number("width", 80, CommandIndexer::kMinCols, CommandIndexer::kMaxCols));
  h.rows = static_cast<int>(number("height", 24, CommandIndexer::kMinRows, CommandIndexer::kMaxRows));
  h.started_at = std::llround(number("timestamp", 0, 0, kMaxSeconds) * kMicrosPerSecond);
  CommandIndexer indexer(h.cols, h.rows);  // offsets come from the events
  for (const CastEvent& e : cast.events) {
    Micros at = std::isfinite(e.t) ? std::llround(std::clamp(e.t, 0.0, kMaxSeconds) * kMicrosPerSecond) : 0;
    if (e.kind == "o") {
      indexer.output(at, e.data);
    } else if (e.kind == "i") {
      indexer.input(at, e.data);
    } else if (e.kind == "r") {
      // "COLSxROWS"; anything else is ignored.
      std::string_view d = e.data;
      size_t x = d.find('x');
      int cols = 0, rows = 0;
      if (x != std::string_view::npos && std::from_chars(d.data(), d.data() + x, cols).ptr == d.data() + x &&
          std::from_chars(d.data() + x + 1, d.data() + d.size(), rows).ptr == d.data() + d.size()) {
        indexer.resize(cols, rows);
      }
    }
  }
  indexer.finish();
  h.truncated = indexer.truncated();
  return CommandIndex{h, indexer.take()};
}

}  // namespace bastion::recorder
