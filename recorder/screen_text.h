// ScreenText: the text a terminal session showed, line by line, as the
// screen showed it, so that a search over a recording finds what a person
// saw (backspaces, line redraws, progress bars and cursor moves applied;
// colours and other escape sequences gone).
//
// It runs the session's output through a terminal emulator
// (TerminalEmulator: libvterm behind TerminalSanitizer) and gives a line
// when its text leaves the screen:
//  - a row scrolls off the top of the screen;
//  - an erase in display (CSI J: `clear`, a full-screen program's redraw)
//    is about to erase it: the rows it erases, and the cursor's row when the
//    part of it erased held text, are given (whole) first;
//  - the alternate screen (vim, less, top) is left, or entered again: what
//    it shows;
//  - a resize drops it (rows that no longer fit, rows cut by a narrower
//    screen: these are given whole and may be given again later);
//  - finish(): the rows still on the screens.
// What is overwritten in place is not given: a progress bar redrawn after
// "\r", a line readline redraws, a row a full-screen program repaints give
// only what was last shown there. Rows lost otherwise (deleted with CSI M,
// scrolled inside a scroll region that does not start at the top, as vim
// scrolls its window, or more than a screenful at once) are not given either.
//
// Lines:
//  - UTF-8 without control characters (a control in a cell becomes "?");
//    trailing blanks trimmed; empty lines are never given;
//  - a row whose last cell holds text continues on the next row (a soft
//    wrap; a line exactly as wide as the screen is joined to the next too);
//    a joined line is cut, at a row's end, once it passes kMaxLineBytes;
//  - offset: the `at` of the output() that last wrote or erased a cell of
//    the line (scrolling moves a row without writing it), so a line typed
//    key by key has the time of its last key;
//  - given in the order they leave the screen, not in offset order.
// A row given from a screen (an erase, the alternate screen, finish()) with
// the same text as the same row of that screen less than kRepeatWindow
// earlier is not given again: a program that clears and redraws many times a
// second gives its screen once.
//
// The alternate screen is a second emulator: CSI ? 47/1047/1049 h starts a
// blank one (the cursor where it was), l goes back to the main screen (for
// 1049 with the cursor as it was; for 47 and 1047 where the alternate
// screen left it). Modes set on one (autowrap, insert, scroll region) do not
// reach the other; programs set them again when they switch.
//
// Contract: never throws on any input bytes (they come from the target
// host); std::bad_alloc on exhaustion. Memory is bounded: each screen is at
// most TerminalEmulator::kMaxCols x kMaxRows; the lines given and not yet
// taken are at most MAX_HELD_BYTES: past that, lines are dropped and
// truncated() is true from then on (take() often to avoid it). Not
// thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"

namespace bastion::recorder {

struct ScreenLine {
  Micros offset = 0;  // see the header: when the line was last written
  std::string text;

  bool operator==(const ScreenLine&) const = default;
};

class ScreenText {
 public:
  static constexpr size_t kDefaultMaxHeldBytes = size_t{64} << 20;
  static constexpr size_t kMaxLineBytes = size_t{64} << 10;
  static constexpr Micros kRepeatWindow = 5'000'000;  // microseconds

  // Screens of COLS x ROWS, each clamped to TerminalEmulator's limits.
  ScreenText(int cols, int rows, size_t max_held_bytes = kDefaultMaxHeldBytes);
  ~ScreenText();
  ScreenText(const ScreenText&) = delete;
  ScreenText& operator=(const ScreenText&) = delete;
  ScreenText(ScreenText&&) noexcept;
  ScreenText& operator=(ScreenText&&) noexcept;

  // What the session showed at AT (any clock; offsets are these values).
  // Calls after finish() are ignored.
  void output(Micros at, std::string_view bytes);
  // A new size, clamped (the screens are rebuilt with their text).
  void resize(int cols, int rows);
  // The session is over: gives the rows still on the screens.
  void finish();

  // The lines given since the previous take(), which are removed.
  std::vector<ScreenLine> take();
  // True once a line was dropped for lack of room (see above).
  [[nodiscard]] bool truncated() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bastion::recorder
