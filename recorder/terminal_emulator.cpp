#include "recorder/terminal_emulator.h"

#include <algorithm>
#include <new>

#include "common/encoding.h"

namespace bastion::recorder {
namespace {

// Answers the emulator would send back (device attributes, cursor reports)
// go nowhere: the real terminal is the person's.
void discard_output(const char* /*bytes*/, size_t /*len*/, void* /*user*/) {}

bool is_control(uint32_t c) { return c < 0x20 || (c >= 0x7F && c < 0xA0); }

}  // namespace

TerminalEmulator::TerminalEmulator(int cols, int rows, bool alt_screen, Observer* observer)
    : alt_screen_enabled_(alt_screen), observer_(observer) {
  make_terminal(std::clamp(cols, kMinCols, kMaxCols), std::clamp(rows, kMinRows, kMaxRows));
}

TerminalEmulator::~TerminalEmulator() = default;

void TerminalEmulator::make_terminal(int cols, int rows) {
  // Only an observer needs damage and moves: without one libvterm skips them.
  static constexpr VTermScreenCallbacks kPlain = {
      .damage = nullptr,
      .moverect = nullptr,
      .movecursor = nullptr,
      .settermprop = on_settermprop,
      .bell = nullptr,
      .resize = nullptr,
      .sb_pushline = on_pushline,
      .sb_popline = nullptr,
  };
  static constexpr VTermScreenCallbacks kObserved = {
      .damage = on_damage,
      .moverect = on_moverect,
      .movecursor = nullptr,
      .settermprop = on_settermprop,
      .bell = nullptr,
      .resize = nullptr,
      .sb_pushline = on_pushline,
      .sb_popline = nullptr,
  };
  vt_.reset(vterm_new(rows, cols));
  if (!vt_) throw std::bad_alloc();
  altscreen_ = false;
  vterm_set_utf8(vt_.get(), 1);
  vterm_output_set_callback(vt_.get(), discard_output, nullptr);
  screen_ = vterm_obtain_screen(vt_.get());
  state_ = vterm_obtain_state(vt_.get());
  vterm_screen_set_callbacks(screen_, observer_ != nullptr ? &kObserved : &kPlain, this);
  vterm_screen_enable_altscreen(screen_, alt_screen_enabled_ ? 1 : 0);
  quiet_ = true;
  vterm_screen_reset(screen_, 1);
  quiet_ = false;
  cells_.assign(static_cast<size_t>(cols), VTermScreenCell{});
}

int TerminalEmulator::on_settermprop(VTermProp prop, VTermValue* val, void* user) {
  auto* self = static_cast<TerminalEmulator*>(user);
  if (prop == VTERM_PROP_ALTSCREEN && self->alt_screen_enabled_) self->altscreen_ = val->boolean != 0;
  return 1;
}

int TerminalEmulator::on_pushline(int cols, const VTermScreenCell* cells, void* user) {
  auto* self = static_cast<TerminalEmulator*>(user);
  ++self->scrolled_;
  if (self->observer_ != nullptr && !self->quiet_) self->observer_->pushed(cols, cells);
  return 1;
}

int TerminalEmulator::on_damage(VTermRect rect, void* user) {
  auto* self = static_cast<TerminalEmulator*>(user);
  if (!self->quiet_) self->observer_->damaged(rect);
  return 1;
}

int TerminalEmulator::on_moverect(VTermRect dest, VTermRect src, void* user) {
  auto* self = static_cast<TerminalEmulator*>(user);
  if (!self->quiet_) self->observer_->moved(dest, src);
  return 1;  // handled: libvterm reports no damage for DEST
}

void TerminalEmulator::write_raw(std::string_view bytes) {
  if (!bytes.empty()) vterm_input_write(vt_.get(), bytes.data(), bytes.size());
}

void TerminalEmulator::write(std::string_view sanitized) {
  while (!sanitized.empty()) {
    size_t tab_at = sanitized.find('\t');
    write_raw(sanitized.substr(0, tab_at));
    if (tab_at == std::string_view::npos) return;
    tab();
    sanitized.remove_prefix(tab_at + 1);
  }
}

// HT as a cursor move to the next multiple of 8 (libvterm's tab stops are
// never used: see terminal_sanitizer.h).
void TerminalEmulator::tab() {
  VTermPos at = cursor();
  int to = std::min(cols() - 1, (at.col / 8 + 1) * 8);
  if (to > at.col) write_raw("\x1b[" + std::to_string(to - at.col) + "C");
}

int TerminalEmulator::cols() const {
  int rows = 0, cols = 0;
  vterm_get_size(vt_.get(), &rows, &cols);
  return cols;
}

int TerminalEmulator::rows() const {
  int rows = 0, cols = 0;
  vterm_get_size(vt_.get(), &rows, &cols);
  return rows;
}

VTermPos TerminalEmulator::cursor() const {
  VTermPos at{};
  vterm_state_get_cursorpos(state_, &at);
  at.row = std::clamp(at.row, 0, rows() - 1);
  at.col = std::clamp(at.col, 0, cols() - 1);
  return at;
}

// OUT gets what redraws ROW's first COLS cells: text, and CUF over erased
// cells so they stay erased. Controls never come out of a cell (a C1 code
// point is written as "?").
void TerminalEmulator::append_cells(std::string& out, int row, int cols) const {
  for (int col = 0; col < cols; ++col) {
    VTermScreenCell cell{};
    if (vterm_screen_get_cell(screen_, VTermPos{row, col}, &cell) == 0) return;
    if (cell.chars[0] == 0) {
      out += "\x1b[C";
      continue;
    }
    if (cell.chars[0] == static_cast<uint32_t>(-1)) continue;
    if (col + cell.width > cols) return;  // a wide character past the new margin
    for (int i = 0; i < VTERM_MAX_CHARS_PER_CELL && cell.chars[i] != 0; ++i) {
      uint32_t c = cell.chars[i];
      append_utf8(out, is_control(c) ? '?' : c);
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
int TerminalEmulator::resize(int cols, int rows) {
  cols = std::clamp(cols, kMinCols, kMaxCols);
  rows = std::clamp(rows, kMinRows, kMaxRows);
  int old_rows = this->rows(), old_cols = this->cols();
  if (cols == old_cols && rows == old_rows) return 0;
  VTermPos at = cursor();
  int shift = std::max(0, at.row - (rows - 1));
  std::string redraw = altscreen_ ? "\x1b[?1049h" : "";
  for (int r = shift; r < old_rows && r - shift < rows; ++r) {
    redraw += "\x1b[" + std::to_string(r - shift + 1) + ";1H";
    append_cells(redraw, r, std::min(cols, old_cols));
  }
  redraw += "\x1b[" + std::to_string(at.row - shift + 1) + ";" + std::to_string(std::min(at.col, cols - 1) + 1) + "H";
  make_terminal(cols, rows);
  quiet_ = true;
  write_raw(redraw);
  quiet_ = false;
  scrolled_ += shift;
  return shift;
}

const VTermScreenCell* TerminalEmulator::row_cells(int row) const {
  int n = std::min(cols(), static_cast<int>(cells_.size()));
  for (int col = 0; col < n; ++col) {
    VTermScreenCell& cell = cells_[static_cast<size_t>(col)];
    if (vterm_screen_get_cell(screen_, VTermPos{row, col}, &cell) == 0) cell = VTermScreenCell{};
  }
  return cells_.data();
}

std::string TerminalEmulator::row_text(int row, int to_col, bool keep_padding) const {
  return cells_text(row_cells(row), std::clamp(to_col, 0, cols()), keep_padding);
}

bool TerminalEmulator::reaches_margin(int row) const { return cells_reach_margin(row_cells(row), cols()); }

bool TerminalEmulator::has_text(int row, int from_col, int to_col) const {
  const VTermScreenCell* cells = row_cells(row);
  to_col = std::min(to_col, cols());
  for (int col = std::max(0, from_col); col < to_col; ++col) {
    if (cells[col].chars[0] != 0) return true;
  }
  return false;
}

// SECURITY: the text reaches a reviewer's terminal (search snippets): a
// control character in it could drive that terminal. libvterm puts none in
// a cell; "?" stands for one if it ever did.
std::string TerminalEmulator::cells_text(const VTermScreenCell* cells, int n, bool keep_padding) {
  std::string out;
  int padding = 0;
  for (int col = 0; col < n; ++col) {
    const VTermScreenCell& cell = cells[col];
    if (cell.chars[0] == 0) {
      ++padding;
      continue;
    }
    if (cell.chars[0] == static_cast<uint32_t>(-1)) continue;  // right half of a wide character
    out.append(static_cast<size_t>(padding), ' ');
    padding = 0;
    for (int i = 0; i < VTERM_MAX_CHARS_PER_CELL && cell.chars[i] != 0; ++i) {
      append_utf8(out, is_control(cell.chars[i]) ? '?' : cell.chars[i]);
    }
    if (cell.width > 1) col += cell.width - 1;
  }
  if (keep_padding) out.append(static_cast<size_t>(padding), ' ');
  return out;
}

bool TerminalEmulator::cells_reach_margin(const VTermScreenCell* cells, int n) {
  if (n <= 0) return false;
  if (cells[n - 1].chars[0] != 0) return true;
  // A wide character ending at the margin leaves the last cell as its right half.
  return n >= 2 && cells[n - 2].width == 2;
}

}  // namespace bastion::recorder
