#include "recorder/syslog_cursor.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <sys/stat.h>

#include "common/files.h"

namespace bastion::recorder {
namespace {

constexpr std::string_view kMagic = "bastion syslog cursor 1";

// Splits off the next '\n'-terminated line; false if there is none.
bool next_line(std::string_view& text, std::string_view& line) {
  auto nl = text.find('\n');
  if (nl == std::string_view::npos) return false;
  line = text.substr(0, nl);
  text.remove_prefix(nl + 1);
  return true;
}

}  // namespace

std::string format_syslog_cursor(const SyslogCursor& c) {
  return std::string(kMagic) + "\ntarget " + c.target + "\nseq " + std::to_string(c.seq) + "\n";
}

Result<SyslogCursor> parse_syslog_cursor(std::string_view text) {
  SyslogCursor c;
  std::string_view line;
  if (!next_line(text, line) || line != kMagic) return make_error("line 1 is not \"" + std::string(kMagic) + "\"");
  if (!next_line(text, line) || !line.starts_with("target ") || line.size() == 7) {
    return make_error("line 2 is not \"target URL\"");
  }
  c.target = std::string(line.substr(7));
  if (!next_line(text, line) || !line.starts_with("seq ")) return make_error("line 3 is not \"seq N\"");
  std::string_view num = line.substr(4);
  auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), c.seq);
  if (ec != std::errc() || end != num.data() + num.size() || num.empty() || c.seq < 0) {
    return make_error("line 3: \"" + std::string(num) + "\" is not a sequence number");
  }
  if (!text.empty()) return make_error("unexpected text after line 3");
  return c;
}

Result<std::optional<SyslogCursor>> load_syslog_cursor(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<SyslogCursor>();
    return make_error("syslog cursor " + path + ": " + std::strerror(errno));
  }
  auto text = read_file(path, 4096);
  if (!text) return make_error("syslog cursor " + path + ": " + text.error().message);
  auto c = parse_syslog_cursor(*text);
  if (!c) {
    return make_error("syslog cursor " + path + " is corrupt (" + c.error().message +
                      "); fix it, or remove it to deliver again from [audit] syslog_start");
  }
  return std::optional<SyslogCursor>(std::move(*c));
}

Status save_syslog_cursor(const std::string& path, const SyslogCursor& c) {
  if (auto st = write_file_atomic(path, format_syslog_cursor(c), 0600, true); !st) {
    return make_error("syslog cursor " + path + ": " + st.message());
  }
  return {};
}

}  // namespace bastion::recorder
