#include "gateway/web/cast_tail.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include <nlohmann/json.hpp>

namespace bastion::gateway {
namespace {

std::string message(const nlohmann::json& j) {
  // dump() escapes every control character: one "data:" line per message.
  return "data: " + j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
}

// "COLSxROWS" of a resize event, each 1 to 10000.
bool parse_size(const std::string& text, int& cols, int& rows) {
  auto number = [](std::string_view digits, int& out) {
    if (digits.empty() || digits.size() > 5) return false;
    int v = 0;
    for (char ch : digits) {
      if (ch < '0' || ch > '9') return false;
      v = v * 10 + (ch - '0');
    }
    if (v < 1 || v > 10000) return false;
    out = v;
    return true;
  };
  size_t x = text.find('x');
  int c = 0, r = 0;
  if (x == std::string::npos || !number(std::string_view(text).substr(0, x), c) ||
      !number(std::string_view(text).substr(x + 1), r)) {
    return false;
  }
  cols = c;
  rows = r;
  return true;
}

// An output event as the gateway's writer writes it, `[TIME, "o", "..."]`:
// valid JSON (checked without building it), no CR (which SSE would take for
// a line's end). Sent as it is, so a watcher costs a check, not a parse and
// a re-encoding of everything the session prints.
bool plain_output(std::string_view line) {
  if (line.size() < 10 || line.front() != '[' || line.back() != ']') return false;
  size_t i = 1;
  while (i < line.size() && ((line[i] >= '0' && line[i] <= '9') || line[i] == '.')) ++i;
  if (i == 1 || line.substr(i, 8) != ", \"o\", \"") return false;
  // The text's closing quote (the first one not escaped) must be the line's
  // last but one character: exactly three elements, the last the text.
  size_t q = i + 8;
  while (q < line.size() && line[q] != '"') q += line[q] == '\\' ? 2 : 1;
  if (q != line.size() - 2) return false;
  return line.find('\r') == std::string_view::npos && nlohmann::json::accept(line);
}

struct Event {
  double time = 0;
  std::string kind;
  std::string data;
};

Result<Event> parse_event(std::string_view line) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_array() || j.size() != 3 || !j[0].is_number() || !j[1].is_string() ||
      !j[2].is_string()) {
    return make_error("a malformed line in the terminal recording");
  }
  return Event{j[0].get<double>(), j[1].get<std::string>(), j[2].get<std::string>()};
}

}  // namespace

std::string CastTail::done() { return "event: done\ndata: {}\n\n"; }

Result<std::string> CastTail::poll() {
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::pread(fd_, buf, sizeof buf, static_cast<off_t>(offset_));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(std::string("cannot read the recording: ") + std::strerror(errno));
    if (n == 0) break;
    offset_ += n;
    partial_.append(buf, static_cast<size_t>(n));
    size_t last = partial_.rfind('\n');
    if ((last == std::string::npos ? partial_.size() : partial_.size() - last - 1) > kMaxLine) {
      return make_error("a line of the terminal recording is longer than 4 MiB");
    }
    if (static_cast<size_t>(n) < sizeof buf) break;
  }
  size_t end = partial_.rfind('\n');
  if (end == std::string::npos) return std::string();
  std::string lines = partial_.substr(0, end + 1);
  partial_.erase(0, end + 1);
  return started_ ? events(lines) : first(lines);
}

Result<std::string> CastTail::first(std::string& lines) {
  size_t eol = lines.find('\n');
  auto header = nlohmann::json::parse(std::string_view(lines).substr(0, eol), nullptr, false);
  // Whole numbers only, read as 64 bits: a field of the file is anything
  // its writer wrote (converting 1e38 to an int would be undefined).
  auto whole = [&header](const char* key, int64_t otherwise) {
    auto it = header.find(key);
    return it != header.end() && it->is_number_integer() ? it->get<int64_t>() : otherwise;
  };
  if (header.is_discarded() || !header.is_object() || whole("version", 0) != 2) {
    return make_error("not a terminal recording (asciicast v2)");
  }
  cols_ = static_cast<int>(std::clamp<int64_t>(whole("width", 80), 1, 10000));
  rows_ = static_cast<int>(std::clamp<int64_t>(whole("height", 24), 1, 10000));
  std::string init;
  double time = 0;
  size_t at = eol + 1;
  while (at < lines.size()) {
    size_t next = lines.find('\n', at);
    auto e = parse_event(std::string_view(lines).substr(at, next - at));
    if (!e) return e.error();
    at = next + 1;
    time = e->time;
    if (e->kind == "o") {
      init += e->data;
    } else if (e->kind == "r") {
      (void)parse_size(e->data, cols_, rows_);
    }
  }
  if (init.size() > kMaxInit) {
    // The screen of a long session: its last megabyte, from a line start
    // where there is one, so the terminal resynchronises.
    size_t from = init.size() - kMaxInit;
    size_t nl = init.find('\n', from);
    init.erase(0, nl != std::string::npos && nl - from < 4096 ? nl + 1 : from);
  }
  started_ = true;
  return message({{"cols", cols_}, {"rows", rows_}, {"time", time}, {"init", init}});
}

Result<std::string> CastTail::events(std::string& lines) {
  std::string out;
  size_t at = 0;
  while (at < lines.size()) {
    size_t next = lines.find('\n', at);
    std::string_view line = std::string_view(lines).substr(at, next - at);
    at = next + 1;
    if (plain_output(line)) {
      out.append("data: ").append(line).append("\n\n");
      continue;
    }
    auto e = parse_event(line);
    if (!e) return e.error();
    if (e->kind == "o") {
      out += message(nlohmann::json::array({e->time, "o", e->data}));
    } else if (e->kind == "r" && parse_size(e->data, cols_, rows_)) {
      out += message(nlohmann::json::array({e->time, "r", {{"cols", cols_}, {"rows", rows_}}}));
    }
  }
  return out;
}

}  // namespace bastion::gateway
