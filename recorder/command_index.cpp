#include "recorder/command_index.h"

#include <algorithm>
#include <utility>

#include "recorder/terminal_emulator.h"
#include "recorder/terminal_sanitizer.h"

namespace bastion::recorder {
namespace {

// The limits are the emulator's (terminal_emulator.h says why), stated in the header too.
static_assert(CommandIndexer::kMaxCols == TerminalEmulator::kMaxCols &&
              CommandIndexer::kMaxRows == TerminalEmulator::kMaxRows &&
              CommandIndexer::kMinCols == TerminalEmulator::kMinCols &&
              CommandIndexer::kMinRows == TerminalEmulator::kMinRows);

// The last six input bytes, as one number, against the bracketed-paste markers.
constexpr uint64_t kSixBytes = (uint64_t{1} << 48) - 1;
constexpr uint64_t marker(const char (&s)[7]) {
  uint64_t v = 0;
  for (int i = 0; i < 6; ++i) v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}
constexpr uint64_t kPasteStart = marker("\x1b[200~");
constexpr uint64_t kPasteEnd = marker("\x1b[201~");

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// S cut to at most MAX bytes, not inside a UTF-8 sequence.
void cut_utf8(std::string& s, size_t max) {
  if (s.size() <= max) return;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
}

}  // namespace

struct CommandIndexer::Impl {
  TerminalEmulator term;
  Micros started_at = 0;

  // The prompt of the line being typed (see the header).
  bool awaiting_input = true;  // no input since the previous Enter was read
  std::string prompt;          // empty: not known
  std::string last_prompt;     // the last non-empty one, for when `prompt` is not known
  int prompt_row = 0;
  int64_t prompt_scrolled = 0;    // `scrolled` when the prompt was read
  bool prompt_untrusted = false;  // type-ahead: what is left of the cursor may be typed text

  // An Enter whose echo has not arrived yet.
  bool pending = false;
  Micros pending_at = 0;
  bool typed_ahead = false;
  bool answered = false;  // output came after the Enter, with no LF
  std::string at_enter;   // the line as the screen showed it at the Enter

  uint64_t last_input = 0;  // the last six input bytes
  bool in_paste = false;

  TerminalSanitizer sanitizer;
  std::string filtered;  // sanitized output, reused

  std::vector<CommandEntry> entries;
  size_t made = 0;
  bool truncated = false;

  Impl(int cols, int rows, Micros start) : term(cols, rows, true), started_at(start) {}
  void key();
  void enter(Micros at);
  void read_prompt();
  void resolve();
  void add(std::string command);
  [[nodiscard]] std::string command_line() const;
};

void CommandIndexer::Impl::read_prompt() {
  VTermPos cursor = term.cursor();
  prompt_row = cursor.row;
  prompt_scrolled = term.scrolled();
  if (prompt_untrusted) {
    prompt_untrusted = false;
    prompt.clear();
    return;
  }
  prompt = term.row_text(cursor.row, cursor.col, true);
  if (!prompt.empty()) last_prompt = prompt;
}

// The command line on the screen now, prompt stripped (see the header).
std::string CommandIndexer::Impl::command_line() const {
  int rows = term.rows(), cols = term.cols();
  int last = term.cursor().row;
  int64_t first64 = prompt_row - (term.scrolled() - prompt_scrolled);
  int first = static_cast<int>(std::clamp<int64_t>(first64, 0, last));
  // The cursor may sit inside a wrapped line: go on through its continuation.
  while (last + 1 < rows && term.reaches_margin(last) && !term.row_text(last + 1, cols, false).empty()) ++last;
  // The last row in range that starts with the prompt (or else the last
  // prompt known) is where the line starts.
  std::vector<std::string> texts;
  for (int r = first; r <= last; ++r) texts.push_back(term.row_text(r, cols, false));
  size_t start = 0;
  size_t strip = 0;
  for (const std::string* p : {&prompt, &last_prompt}) {
    if (p->empty()) continue;
    auto hit = std::find_if(texts.rbegin(), texts.rend(), [&](const std::string& t) { return t.starts_with(*p); });
    if (hit != texts.rend()) {
      start = static_cast<size_t>(texts.rend() - hit) - 1;
      strip = p->size();
      break;
    }
  }
  std::string line;
  for (size_t i = start; i < texts.size() && line.size() <= kMaxCommandBytes + strip; ++i) {
    line += texts[i];
    if (i + 1 < texts.size() && !term.reaches_margin(first + static_cast<int>(i))) line += '\n';
  }
  std::string_view rest = line;
  rest.remove_prefix(strip);
  std::string command(trim(rest));
  cut_utf8(command, kMaxCommandBytes);
  return command;
}

void CommandIndexer::Impl::resolve() {
  pending = false;
  awaiting_input = true;
  prompt_untrusted = typed_ahead;
  typed_ahead = false;
  if (!term.altscreen()) add(command_line());
}

void CommandIndexer::Impl::add(std::string command) {
  if (command.empty() || truncated) return;
  if (made >= kMaxEntries) {
    truncated = true;
    return;
  }
  ++made;
  entries.push_back(CommandEntry{std::max<Micros>(0, pending_at - started_at), std::move(command)});
}

void CommandIndexer::Impl::key() {
  if (pending && answered) {
    // The program answered the Enter without a new line (`read -s` prints
    // nothing, then the shell's prompt follows on the same row): the line
    // is what the screen showed at the Enter, and this key starts the next.
    pending = false;
    awaiting_input = true;
    add(std::exchange(at_enter, {}));
  }
  if (pending) {
    typed_ahead = true;
  } else if (awaiting_input && !term.altscreen()) {  // keys for vim or less are not a command line
    awaiting_input = false;
    read_prompt();
  }
}

void CommandIndexer::Impl::enter(Micros at) {
  if (pending) resolve();
  if (term.altscreen()) {  // vim, less: an Enter there runs nothing
    awaiting_input = true;
    return;
  }
  if (awaiting_input) key();
  pending = true;
  pending_at = at;
  answered = false;
  at_enter = command_line();
}

CommandIndexer::CommandIndexer(int cols, int rows, Micros started_at)
    : impl_(std::make_unique<Impl>(cols, rows, started_at)) {}
CommandIndexer::~CommandIndexer() = default;
CommandIndexer::CommandIndexer(CommandIndexer&&) noexcept = default;
CommandIndexer& CommandIndexer::operator=(CommandIndexer&&) noexcept = default;

void CommandIndexer::output(Micros /*at*/, std::string_view bytes) {
  Impl& m = *impl_;
  m.filtered.clear();
  m.sanitizer.feed(bytes, m.filtered);
  if (m.pending && !m.filtered.empty()) m.answered = true;  // unless an LF below reads the line first
  std::string_view rest = m.filtered;
  while (!rest.empty()) {
    // While an Enter waits for its echo, the line is read just before the
    // output moves past it (its first LF).
    size_t stop = m.pending ? rest.find('\n') : std::string_view::npos;
    if (stop == std::string_view::npos) {
      m.term.write(rest);
      break;
    }
    m.term.write(rest.substr(0, stop));
    m.resolve();
    rest.remove_prefix(stop);
  }
}

void CommandIndexer::input(Micros at, std::string_view bytes) {
  Impl& m = *impl_;
  for (char c : bytes) {
    m.last_input = ((m.last_input << 8) | static_cast<unsigned char>(c)) & kSixBytes;
    if (m.last_input == kPasteStart) {
      m.in_paste = true;
    } else if (m.last_input == kPasteEnd) {
      m.in_paste = false;
    } else if (!m.in_paste && (c == '\r' || (c == '\n' && ((m.last_input >> 8) & 0xff) != '\r'))) {
      // Enter is CR; LF (Ctrl-J, or a client that sends it) ends a line too,
      // but not as the second half of a CR LF.
      m.enter(at);
      continue;
    }
    m.key();
  }
}

void CommandIndexer::resize(int cols, int rows) {
  Impl& m = *impl_;
  if (m.pending) m.resolve();
  m.term.resize(cols, rows);
}

void CommandIndexer::finish() {
  if (impl_->pending) impl_->resolve();
}

std::vector<CommandEntry> CommandIndexer::take() { return std::exchange(impl_->entries, {}); }

const std::vector<CommandEntry>& CommandIndexer::entries() const { return impl_->entries; }

bool CommandIndexer::truncated() const { return impl_->truncated; }

}  // namespace bastion::recorder
