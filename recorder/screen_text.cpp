#include "recorder/screen_text.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "recorder/terminal_emulator.h"
#include "recorder/terminal_sanitizer.h"

namespace bastion::recorder {
namespace {

// Where the lines go: the held lines and their byte budget.
struct Sink {
  std::vector<ScreenLine> lines;
  size_t held = 0;
  size_t max_held = 0;
  bool truncated = false;
  Micros now = 0;  // the `at` of the output being fed

  void add(Micros at, std::string text) {
    if (truncated) return;
    if (text.size() > max_held - held) {
      truncated = true;
      return;
    }
    held += text.size();
    lines.push_back(ScreenLine{at, std::move(text)});
  }
};

// The sequences of the sanitized output that ScreenText acts on itself.
struct Control {
  enum Kind : uint8_t { kNone, kEraseDisplay, kAltOn, kAltOff };
  Kind kind = kNone;
  size_t at = std::string_view::npos;
  size_t len = 0;
  int param = 0;  // the first parameter (0 when missing)
};

// The first such sequence in S, which TerminalSanitizer wrote: CSI with
// whole numbers ("\x1b[" ["?"] digits and ";" final), or ESC and one byte.
Control next_control(std::string_view s) {
  for (size_t i = s.find('\x1b'); i != std::string_view::npos; i = s.find('\x1b', i + 1)) {
    if (i + 1 >= s.size() || s[i + 1] != '[') continue;
    size_t j = i + 2;
    bool priv = j < s.size() && s[j] == '?';
    if (priv) ++j;
    int param = 0;
    bool first = true;
    for (; j < s.size() && ((s[j] >= '0' && s[j] <= '9') || s[j] == ';'); ++j) {
      if (s[j] == ';') first = false;
      if (first && s[j] != ';') param = std::min(99'999, param * 10 + (s[j] - '0'));
    }
    if (j >= s.size()) break;
    char f = s[j];
    Control c{Control::kNone, i, j + 1 - i, param};
    if (!priv && f == 'J') c.kind = Control::kEraseDisplay;
    bool alt_mode = priv && (param == 47 || param == 1047 || param == 1049);
    if (alt_mode && (f == 'h' || f == 'l')) c.kind = f == 'h' ? Control::kAltOn : Control::kAltOff;
    if (c.kind != Control::kNone) return c;
  }
  return {};
}

std::string cup(VTermPos at) { return "\x1b[" + std::to_string(at.row + 1) + ";" + std::to_string(at.col + 1) + "H"; }

// One screen (the main or the alternate one) and what is known of its rows.
class Pane final : public TerminalEmulator::Observer {
 public:
  Pane(int cols, int rows, Sink& sink) : sink_(sink), term_(cols, rows, false, this) { reset_rows(); }

  TerminalEmulator& term() { return term_; }
  void write(std::string_view sanitized);
  void erase_display(int param, std::string_view sequence);
  void resize(int cols, int rows);
  // Gives the rows with text (the screen goes away or the session ends).
  void give_all();

  void pushed(int cols, const VTermScreenCell* cells) override;
  void damaged(VTermRect rect) override;
  void moved(VTermRect dest, VTermRect src) override;

 private:
  struct Seen {
    std::string text;
    Micros at = 0;
    bool valid = false;
  };

  void reset_rows();
  void add_row(std::string_view text, bool wraps, Micros at);
  void end_line();
  void give_row(int row);
  bool repeated(int row, const std::string& text);
  std::pair<int, int> rows_in(VTermRect rect) const;

  Sink& sink_;
  TerminalEmulator term_;
  std::vector<Micros> written_;  // per row: the `at` of its last write
  std::vector<uint8_t> inked_;   // per row: may hold text (written since found empty)
  std::vector<Seen> seen_;       // per row: what the last give of this screen gave there
  size_t next_push_ = 0;         // the row the next pushed() gives
  bool erasing_ = false;         // erase_display() is writing: its damage is not a write
  std::string line_;             // the line being joined (its rows wrapped)
  Micros line_at_ = 0;
  std::exception_ptr error_;  // thrown inside a libvterm callback, rethrown by write()
};

void Pane::reset_rows() {
  auto rows = static_cast<size_t>(term_.rows());
  written_.assign(rows, sink_.now);
  inked_.assign(rows, 0);
  seen_.assign(rows, Seen{});
}

void Pane::write(std::string_view sanitized) {
  next_push_ = 0;
  term_.write(sanitized);
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

std::pair<int, int> Pane::rows_in(VTermRect rect) const {
  int rows = static_cast<int>(written_.size());
  return {std::clamp(rect.start_row, 0, rows), std::clamp(rect.end_row, 0, rows)};
}

// Called inside libvterm: an exception must not unwind through its C frames,
// so it is kept and rethrown by write().
void Pane::pushed(int cols, const VTermScreenCell* cells) {
  try {
    Micros at = next_push_ < written_.size() ? written_[next_push_] : sink_.now;
    ++next_push_;
    add_row(TerminalEmulator::cells_text(cells, cols, false), TerminalEmulator::cells_reach_margin(cells, cols), at);
  } catch (...) {
    error_ = std::current_exception();
  }
}

void Pane::damaged(VTermRect rect) {
  if (erasing_) return;
  auto [from, to] = rows_in(rect);
  for (int r = from; r < to; ++r) {
    written_[static_cast<size_t>(r)] = sink_.now;
    inked_[static_cast<size_t>(r)] = 1;
  }
}

// A scroll moves whole rows, with when they were written; a move inside rows
// (characters inserted or deleted) writes them.
void Pane::moved(VTermRect dest, VTermRect src) {
  next_push_ = 0;
  auto [from, to] = rows_in(dest);
  auto [src_from, src_to] = rows_in(src);
  bool whole_rows = dest.start_col == 0 && dest.end_col >= term_.cols() && to - from == src_to - src_from;
  if (!whole_rows) {
    damaged(dest);
    return;
  }
  std::vector<Micros> times(written_.begin() + src_from, written_.begin() + src_to);
  std::vector<uint8_t> inks(inked_.begin() + src_from, inked_.begin() + src_to);
  std::copy(times.begin(), times.end(), written_.begin() + from);
  std::copy(inks.begin(), inks.end(), inked_.begin() + from);
}

void Pane::add_row(std::string_view text, bool wraps, Micros at) {
  if (line_.size() >= ScreenText::kMaxLineBytes) end_line();
  line_at_ = line_.empty() ? at : std::max(line_at_, at);
  line_ += text;
  if (!wraps) end_line();
}

void Pane::end_line() {
  while (!line_.empty() && line_.back() == ' ') line_.pop_back();
  if (!line_.empty()) sink_.add(line_at_, std::exchange(line_, {}));
}

bool Pane::repeated(int row, const std::string& text) {
  Seen& s = seen_[static_cast<size_t>(row)];
  // Unsigned: any two times (a caller's clock may be anything) subtract without overflow.
  bool recent =
      s.valid && s.at <= sink_.now &&
      static_cast<uint64_t>(sink_.now) - static_cast<uint64_t>(s.at) < static_cast<uint64_t>(ScreenText::kRepeatWindow);
  bool same = recent && s.text == text;
  s.text = text;
  s.at = sink_.now;
  s.valid = true;
  return same;
}

// ROW as a line (joined with the row above if that one wrapped into it),
// unless it is empty or a repeat.
void Pane::give_row(int row) {
  std::string text = inked_[static_cast<size_t>(row)] != 0 ? term_.row_text(row, term_.cols(), false) : "";
  if (text.empty()) inked_[static_cast<size_t>(row)] = 0;
  if (text.empty() || repeated(row, text)) {
    end_line();
    return;
  }
  add_row(text, term_.reaches_margin(row), written_[static_cast<size_t>(row)]);
}

// A line held because its last row wrapped goes on in row 0.
void Pane::give_all() {
  for (int r = 0; r < term_.rows(); ++r) give_row(r);
  end_line();
}

// Gives what CSI PARAM J will erase (as libvterm 0.1.4 erases it: 0 from the
// cursor, 1 through the cursor, 2 all; others nothing), then writes it.
void Pane::erase_display(int param, std::string_view sequence) {
  VTermPos c = term_.cursor();
  int rows = term_.rows(), cols = term_.cols();
  int from = 0, to = 0;  // whole rows erased
  bool part = false;     // the cursor's row is partly erased, and that part held text
  if (param == 0) {
    from = c.row + 1;
    to = rows;
    part = term_.has_text(c.row, c.col, cols);
  } else if (param == 1) {
    to = c.row;
    part = term_.has_text(c.row, 0, c.col + 1);
  } else if (param == 2) {
    to = rows;
  }
  for (int r = 0; r < rows; ++r) {
    if ((r >= from && r < to) || (part && r == c.row)) {
      give_row(r);
    } else {
      end_line();
    }
  }
  end_line();
  erasing_ = true;
  write(sequence);
  erasing_ = false;
  for (int r = from; r < to; ++r) inked_[static_cast<size_t>(r)] = 0;
}

// Gives the rows the rebuilt screen drops or cuts; the others keep their times.
void Pane::resize(int cols, int rows) {
  int old_rows = term_.rows(), old_cols = term_.cols();
  int new_cols = std::clamp(cols, TerminalEmulator::kMinCols, TerminalEmulator::kMaxCols);
  if (new_cols == old_cols && std::clamp(rows, TerminalEmulator::kMinRows, TerminalEmulator::kMaxRows) == old_rows) {
    return;
  }
  std::vector<std::string> texts(static_cast<size_t>(old_rows));
  std::vector<uint8_t> wraps(static_cast<size_t>(old_rows));
  std::vector<uint8_t> cut(static_cast<size_t>(old_rows));
  for (int r = 0; r < old_rows; ++r) {
    if (inked_[static_cast<size_t>(r)] == 0) continue;
    texts[static_cast<size_t>(r)] = term_.row_text(r, old_cols, false);
    wraps[static_cast<size_t>(r)] = term_.reaches_margin(r) ? 1 : 0;
    cut[static_cast<size_t>(r)] = term_.has_text(r, new_cols, old_cols) ? 1 : 0;
  }
  int shift = term_.resize(cols, rows);
  std::vector<Micros> written(static_cast<size_t>(term_.rows()), sink_.now);
  std::vector<uint8_t> inked(static_cast<size_t>(term_.rows()), 0);
  for (int r = 0; r < old_rows; ++r) {
    auto i = static_cast<size_t>(r);
    int to = r - shift;
    bool kept = to >= 0 && to < term_.rows();
    if (kept) written[static_cast<size_t>(to)] = written_[i];
    if (kept) inked[static_cast<size_t>(to)] = inked_[i];
    if (!kept || cut[i] != 0) {
      add_row(texts[i], wraps[i] != 0, written_[i]);
    } else {
      end_line();
    }
  }
  end_line();
  written_ = std::move(written);
  inked_ = std::move(inked);
  seen_.assign(written_.size(), Seen{});
}

}  // namespace

struct ScreenText::Impl {
  Sink sink;
  TerminalSanitizer sanitizer;
  std::string filtered;  // sanitized output, reused
  Pane main;
  std::unique_ptr<Pane> alt;  // while the alternate screen is shown
  bool finished = false;

  Impl(int cols, int rows, size_t max_held) : main(cols, rows, sink) { sink.max_held = max_held; }
  Pane& active() { return alt ? *alt : main; }
  void act(const Control& c, std::string_view sequence);
};

void ScreenText::Impl::act(const Control& c, std::string_view sequence) {
  switch (c.kind) {
    case Control::kEraseDisplay: active().erase_display(c.param, sequence); break;
    case Control::kAltOn: {
      // Entering again erases the alternate screen, as libvterm does.
      VTermPos at = active().term().cursor();
      if (alt) alt->give_all();
      alt = std::make_unique<Pane>(main.term().cols(), main.term().rows(), sink);
      alt->write(cup(at));
      break;
    }
    case Control::kAltOff:
      if (!alt) break;
      alt->give_all();
      if (c.param != 1049) main.write(cup(alt->term().cursor()));  // 1049 restores the cursor
      alt.reset();
      break;
    case Control::kNone: break;
  }
}

ScreenText::ScreenText(int cols, int rows, size_t max_held_bytes)
    : impl_(std::make_unique<Impl>(cols, rows, max_held_bytes)) {}
ScreenText::~ScreenText() = default;
ScreenText::ScreenText(ScreenText&&) noexcept = default;
ScreenText& ScreenText::operator=(ScreenText&&) noexcept = default;

void ScreenText::output(Micros at, std::string_view bytes) {
  Impl& m = *impl_;
  if (m.finished) return;
  m.sink.now = at;
  m.filtered.clear();
  m.sanitizer.feed(bytes, m.filtered);
  std::string_view rest = m.filtered;
  while (!rest.empty()) {
    Control c = next_control(rest);
    m.active().write(rest.substr(0, c.at));
    if (c.kind == Control::kNone) break;
    m.act(c, rest.substr(c.at, c.len));
    rest.remove_prefix(c.at + c.len);
  }
}

void ScreenText::resize(int cols, int rows) {
  Impl& m = *impl_;
  if (m.finished) return;
  m.main.resize(cols, rows);
  if (m.alt) m.alt->resize(cols, rows);
}

void ScreenText::finish() {
  Impl& m = *impl_;
  if (m.finished) return;
  m.finished = true;
  if (m.alt) m.alt->give_all();
  m.main.give_all();
}

std::vector<ScreenLine> ScreenText::take() {
  impl_->sink.held = 0;
  return std::exchange(impl_->sink.lines, {});
}

bool ScreenText::truncated() const { return impl_->sink.truncated; }

}  // namespace bastion::recorder
