#include "recorder/command_index.h"

#include <vterm.h>

#include <algorithm>
#include <new>
#include <utility>

#include "common/c_handle.h"
#include "common/encoding.h"
#include "recorder/terminal_sanitizer.h"

namespace bastion::recorder {
namespace {

using VTermHandle = CHandle<VTerm, vterm_free>;

// The last six input bytes, as one number, against the bracketed-paste markers.
constexpr uint64_t kSixBytes = (uint64_t{1} << 48) - 1;
constexpr uint64_t marker(const char (&s)[7]) {
  uint64_t v = 0;
  for (int i = 0; i < 6; ++i) v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}
constexpr uint64_t kPasteStart = marker("\x1b[200~");
constexpr uint64_t kPasteEnd = marker("\x1b[201~");

int clamp_size(int v, int min, int max) { return std::clamp(v, min, max); }

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
  VTermHandle vt;
  VTermScreen* screen = nullptr;
  VTermState* state = nullptr;
  Micros started_at = 0;
  bool altscreen = false;
  int64_t scrolled = 0;  // rows pushed off the top of the main screen so far

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

  Impl(int cols, int rows, Micros start);
  void make_terminal(int cols, int rows);
  void write(std::string_view bytes) {
    if (!bytes.empty()) vterm_input_write(vt.get(), bytes.data(), bytes.size());
  }
  void tab();
  void rebuild(int cols, int rows);
  void append_cells(std::string& out, int row, int cols) const;
  void key();
  void enter(Micros at);
  void read_prompt();
  void resolve();
  void add(std::string command);
  [[nodiscard]] std::string row_text(int row, int to_col, bool keep_padding) const;
  [[nodiscard]] bool reaches_margin(int row) const;
  [[nodiscard]] std::string command_line() const;

  static int on_settermprop(VTermProp prop, VTermValue* val, void* user) {
    if (prop == VTERM_PROP_ALTSCREEN) static_cast<Impl*>(user)->altscreen = val->boolean != 0;
    return 1;
  }
  static int on_pushline(int /*cols*/, const VTermScreenCell* /*cells*/, void* user) {
    ++static_cast<Impl*>(user)->scrolled;
    return 1;
  }
};

namespace {

// Answers the emulator would send back (device attributes, cursor reports)
// go nowhere: the real terminal is the person's.
void discard_output(const char* /*bytes*/, size_t /*len*/, void* /*user*/) {}

}  // namespace

CommandIndexer::Impl::Impl(int cols, int rows, Micros start) : started_at(start) {
  make_terminal(clamp_size(cols, kMinCols, kMaxCols), clamp_size(rows, kMinRows, kMaxRows));
}

void CommandIndexer::Impl::make_terminal(int cols, int rows) {
  static constexpr VTermScreenCallbacks kScreenCallbacks = {
      .damage = nullptr,
      .moverect = nullptr,
      .movecursor = nullptr,
      .settermprop = on_settermprop,
      .bell = nullptr,
      .resize = nullptr,
      .sb_pushline = on_pushline,
      .sb_popline = nullptr,
  };
  vt.reset(vterm_new(rows, cols));
  if (!vt) throw std::bad_alloc();
  altscreen = false;
  vterm_set_utf8(vt.get(), 1);
  vterm_output_set_callback(vt.get(), discard_output, nullptr);
  screen = vterm_obtain_screen(vt.get());
  state = vterm_obtain_state(vt.get());
  vterm_screen_set_callbacks(screen, &kScreenCallbacks, this);
  vterm_screen_enable_altscreen(screen, 1);
  vterm_screen_reset(screen, 1);
}

// HT as a cursor move to the next multiple of 8 (libvterm's tab stops are
// never used: see terminal_sanitizer.h).
void CommandIndexer::Impl::tab() {
  int rows = 0, cols = 0;
  vterm_get_size(vt.get(), &rows, &cols);
  VTermPos cursor{};
  vterm_state_get_cursorpos(state, &cursor);
  int to = std::min(cols - 1, (cursor.col / 8 + 1) * 8);
  if (to > cursor.col) write("\x1b[" + std::to_string(to - cursor.col) + "C");
}

// Text of ROW's cells [0, TO_COL): erased cells become spaces when text
// follows them (or, with KEEP_PADDING, always).
std::string CommandIndexer::Impl::row_text(int row, int to_col, bool keep_padding) const {
  std::string out;
  int padding = 0;
  for (int col = 0; col < to_col; ++col) {
    VTermScreenCell cell{};
    if (vterm_screen_get_cell(screen, VTermPos{row, col}, &cell) == 0) break;
    if (cell.chars[0] == 0) {
      ++padding;
      continue;
    }
    if (cell.chars[0] == static_cast<uint32_t>(-1)) continue;  // right half of a wide character
    out.append(static_cast<size_t>(padding), ' ');
    padding = 0;
    for (int i = 0; i < VTERM_MAX_CHARS_PER_CELL && cell.chars[i] != 0; ++i) append_utf8(out, cell.chars[i]);
    if (cell.width > 1) col += cell.width - 1;
  }
  if (keep_padding) out.append(static_cast<size_t>(padding), ' ');
  return out;
}

// Whether ROW's last cell holds text: the next row may continue it (a soft wrap).
bool CommandIndexer::Impl::reaches_margin(int row) const {
  int rows = 0, cols = 0;
  vterm_get_size(vt.get(), &rows, &cols);
  VTermScreenCell cell{};
  if (vterm_screen_get_cell(screen, VTermPos{row, cols - 1}, &cell) == 0) return false;
  if (cell.chars[0] != 0) return true;
  // A wide character ending at the margin leaves the last cell as its right half.
  return cols >= 2 && vterm_screen_get_cell(screen, VTermPos{row, cols - 2}, &cell) != 0 && cell.width == 2;
}

// OUT gets what redraws ROW's first COLS cells: text, and CUF over erased
// cells so they stay erased. Controls never come out of a cell (a C1 code
// point is written as "?").
void CommandIndexer::Impl::append_cells(std::string& out, int row, int cols) const {
  for (int col = 0; col < cols; ++col) {
    VTermScreenCell cell{};
    if (vterm_screen_get_cell(screen, VTermPos{row, col}, &cell) == 0) return;
    if (cell.chars[0] == 0) {
      out += "\x1b[C";
      continue;
    }
    if (cell.chars[0] == static_cast<uint32_t>(-1)) continue;
    if (col + cell.width > cols) return;  // a wide character past the new margin
    for (int i = 0; i < VTERM_MAX_CHARS_PER_CELL && cell.chars[i] != 0; ++i) {
      uint32_t c = cell.chars[i];
      append_utf8(out, c < 0x20 || (c >= 0x7F && c < 0xA0) ? '?' : c);
    }
    if (cell.width > 1) col += cell.width - 1;
  }
}

// SECURITY: libvterm 0.1.4 resizes unsafely (a saved cursor, a scroll
// region or line attributes left past the new size are later written
// through). So a resize makes a new terminal of the new size and redraws the
// text of the old one into it (the rows up to the cursor's, top-aligned
// unless the cursor would fall off: then the top rows count as scrolled off).
// Colours, modes and scroll regions are not carried over: programs redraw on
// SIGWINCH anyway.
void CommandIndexer::Impl::rebuild(int cols, int rows) {
  int old_rows = 0, old_cols = 0;
  vterm_get_size(vt.get(), &old_rows, &old_cols);
  if (cols == old_cols && rows == old_rows) return;
  VTermPos cursor{};
  vterm_state_get_cursorpos(state, &cursor);
  cursor.row = std::clamp(cursor.row, 0, old_rows - 1);
  cursor.col = std::clamp(cursor.col, 0, old_cols - 1);
  int shift = std::max(0, cursor.row - (rows - 1));
  std::string redraw = altscreen ? "\x1b[?1049h" : "";
  for (int r = shift; r < old_rows && r - shift < rows; ++r) {
    redraw += "\x1b[" + std::to_string(r - shift + 1) + ";1H";
    append_cells(redraw, r, std::min(cols, old_cols));
  }
  redraw +=
      "\x1b[" + std::to_string(cursor.row - shift + 1) + ";" + std::to_string(std::min(cursor.col, cols - 1) + 1) + "H";
  make_terminal(cols, rows);
  write(redraw);
  scrolled += shift;
}

void CommandIndexer::Impl::read_prompt() {
  VTermPos cursor{};
  vterm_state_get_cursorpos(state, &cursor);
  prompt_row = cursor.row;
  prompt_scrolled = scrolled;
  if (prompt_untrusted) {
    prompt_untrusted = false;
    prompt.clear();
    return;
  }
  prompt = row_text(cursor.row, cursor.col, true);
  if (!prompt.empty()) last_prompt = prompt;
}

// The command line on the screen now, prompt stripped (see the header).
std::string CommandIndexer::Impl::command_line() const {
  int rows = 0, cols = 0;
  vterm_get_size(vt.get(), &rows, &cols);
  VTermPos cursor{};
  vterm_state_get_cursorpos(state, &cursor);
  int last = std::clamp(cursor.row, 0, rows - 1);
  int64_t first64 = prompt_row - (scrolled - prompt_scrolled);
  int first = static_cast<int>(std::clamp<int64_t>(first64, 0, last));
  // The cursor may sit inside a wrapped line: go on through its continuation.
  while (last + 1 < rows && reaches_margin(last) && !row_text(last + 1, cols, false).empty()) ++last;
  // The last row in range that starts with the prompt (or else the last
  // prompt known) is where the line starts.
  std::vector<std::string> texts;
  for (int r = first; r <= last; ++r) texts.push_back(row_text(r, cols, false));
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
    if (i + 1 < texts.size() && !reaches_margin(first + static_cast<int>(i))) line += '\n';
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
  if (!altscreen) add(command_line());
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
  } else if (awaiting_input && !altscreen) {  // keys for vim or less are not a command line
    awaiting_input = false;
    read_prompt();
  }
}

void CommandIndexer::Impl::enter(Micros at) {
  if (pending) resolve();
  if (altscreen) {  // vim, less: an Enter there runs nothing
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
    size_t stop = rest.find_first_of(m.pending ? "\t\n" : "\t");
    if (stop == std::string_view::npos) {
      m.write(rest);
      break;
    }
    m.write(rest.substr(0, stop));
    if (rest[stop] == '\t') {
      m.tab();
      ++stop;
    } else {
      m.resolve();
    }
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
  m.rebuild(clamp_size(cols, kMinCols, kMaxCols), clamp_size(rows, kMinRows, kMaxRows));
}

void CommandIndexer::finish() {
  if (impl_->pending) impl_->resolve();
}

std::vector<CommandEntry> CommandIndexer::take() { return std::exchange(impl_->entries, {}); }

const std::vector<CommandEntry>& CommandIndexer::entries() const { return impl_->entries; }

bool CommandIndexer::truncated() const { return impl_->truncated; }

}  // namespace bastion::recorder
