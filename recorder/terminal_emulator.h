// TerminalEmulator: libvterm 0.1.4 (Debian 12) made safe to feed what a
// remote host prints. Private to recorder/: CommandIndexer and ScreenText
// read screens through it and never call libvterm's input themselves.
//
// SECURITY: libvterm 0.1.4 reads and writes out of bounds on some escape
// sequences (tab stops, DEC line attributes), on screens of one or two
// columns, and on resizes with saved state; the bytes come from the target
// host, which need not be friendly. So:
//  - write() takes only what TerminalSanitizer made of the host's bytes;
//    HT becomes a cursor move, so libvterm's tab stops are never used;
//  - sizes are clamped to kMin*..kMax*;
//  - resize() makes a new emulator and redraws the old one's text into it.
//
// The Observer's callbacks run inside libvterm, during write(): they must not
// throw (record, and act after write() returns). The emulator's own reset
// and the redraw of resize() are not reported to it.
// Never throws except std::bad_alloc (construction and resize() throw it when
// libvterm cannot allocate). Not thread-safe; not movable (libvterm holds a
// pointer to it).
#pragma once

#include <vterm.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/c_handle.h"

namespace bastion::recorder {

class TerminalEmulator {
 public:
  // SECURITY: the size comes from the peer (pty-req, window-change, a
  // recording's header); without a cap a client could make the emulator
  // allocate gigabytes.
  static constexpr int kMaxCols = 1000;
  static constexpr int kMaxRows = 500;
  // SECURITY: libvterm 0.1.4 writes out of bounds on screens of one or two
  // columns; real terminals are never that small.
  static constexpr int kMinCols = 20;
  static constexpr int kMinRows = 4;

  class Observer {
   public:
    // A row scrolled off the top of the main screen (libvterm's sb_pushline),
    // COLS cells, before the rows below move up.
    virtual void pushed(int cols, const VTermScreenCell* cells) = 0;
    // Cells were written or erased.
    virtual void damaged(VTermRect rect) = 0;
    // Cells moved from SRC to DEST (a scroll, an insert or a delete); the
    // cells of DEST are not also reported as damaged.
    virtual void moved(VTermRect dest, VTermRect src) = 0;

   protected:
    ~Observer() = default;
  };

  // A screen of COLS x ROWS (each clamped to kMin*..kMax*). With ALT_SCREEN,
  // CSI ? 47/1047/1049 h|l switch libvterm's alternate screen; without it
  // they switch nothing (the owner may emulate one).
  TerminalEmulator(int cols, int rows, bool alt_screen, Observer* observer = nullptr);
  ~TerminalEmulator();
  TerminalEmulator(const TerminalEmulator&) = delete;
  TerminalEmulator& operator=(const TerminalEmulator&) = delete;

  // SECURITY: SANITIZED must be TerminalSanitizer output (or text made of
  // this emulator's cells); anything else may reach libvterm's bugs.
  void write(std::string_view sanitized);
  // A new size (clamped). Returns the rows the text moved up: old row R is
  // now row R - shift if that is inside the new size (its cells past the new
  // width are gone); the other rows are gone. Colours and modes are not kept.
  int resize(int cols, int rows);

  [[nodiscard]] int cols() const;
  [[nodiscard]] int rows() const;
  [[nodiscard]] VTermPos cursor() const;  // inside the screen
  [[nodiscard]] bool altscreen() const { return altscreen_; }
  // Rows pushed off the top of the main screen so far (resize() counts the
  // rows it shifts out).
  [[nodiscard]] int64_t scrolled() const { return scrolled_; }

  // Text of ROW's cells [0, TO_COL): erased cells become spaces when text
  // follows them (or, with KEEP_PADDING, always). UTF-8; a control character
  // in a cell becomes "?".
  [[nodiscard]] std::string row_text(int row, int to_col, bool keep_padding) const;
  // Whether ROW's last cell holds text: the next row may continue it (a soft wrap).
  [[nodiscard]] bool reaches_margin(int row) const;
  // Whether any of ROW's cells [FROM_COL, TO_COL) holds text.
  [[nodiscard]] bool has_text(int row, int from_col, int to_col) const;
  // The same for a row's cells handed to Observer::pushed().
  static std::string cells_text(const VTermScreenCell* cells, int n, bool keep_padding);
  static bool cells_reach_margin(const VTermScreenCell* cells, int n);

 private:
  void make_terminal(int cols, int rows);
  void write_raw(std::string_view bytes);
  void tab();
  void append_cells(std::string& out, int row, int cols) const;
  const VTermScreenCell* row_cells(int row) const;

  static int on_settermprop(VTermProp prop, VTermValue* val, void* user);
  static int on_pushline(int cols, const VTermScreenCell* cells, void* user);
  static int on_damage(VTermRect rect, void* user);
  static int on_moverect(VTermRect dest, VTermRect src, void* user);

  CHandle<VTerm, vterm_free> vt_;
  VTermScreen* screen_ = nullptr;
  VTermState* state_ = nullptr;
  bool alt_screen_enabled_;
  Observer* observer_;
  bool altscreen_ = false;
  bool quiet_ = false;  // a reset or resize()'s redraw: not reported
  int64_t scrolled_ = 0;
  mutable std::vector<VTermScreenCell> cells_;  // one row, reused
};

}  // namespace bastion::recorder
