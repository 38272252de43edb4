// The command index of a terminal recording: which command lines a person
// ran, and when, so a reviewer can jump to them (issue 14).
//
// CommandIndexer feeds a PTY session's output into a terminal emulator
// (libvterm, kept out of this header) and, when the person presses Enter (a
// "\r" in the input stream), takes the command line as the screen shows it.
// Line editing, history recall and tab completion therefore give the command
// that ran, not the keystrokes.
//
// The heuristic, and where it stops working:
//  - The prompt is what the cursor's row shows left of the cursor when the
//    person starts typing (the first input after the previous Enter): the
//    screen is then as the last output left it. The command is the text that
//    follows the prompt, on the row where the prompt was, through the row of
//    the cursor at Enter (soft-wrapped rows are joined; a row that does not
//    reach the right margin ends a line, and a "\n" is kept between lines,
//    as in a pasted multi-line command). If no row starts with the prompt
//    (the prompt was redrawn differently) the whole text is kept, prompt
//    included: too much is better than nothing.
//  - The screen is read when the Enter's echo arrives (just before the first
//    "\n" of the output that follows it), not when the key is pressed, so a
//    line pasted or typed faster than the echo returns is read whole. If the
//    program answers without a new line (`read -s`, then a prompt on the
//    same row), the line is what the screen showed at the Enter, taken at
//    the next key. An Enter with no output after it is read at the next
//    Enter, resize or finish().
//  - Keys typed before the previous command's echo arrived (type-ahead) mean
//    the next prompt cannot be told from the typed text; the previous
//    prompt is used instead (right when the prompt does not change).
//  - Multi-line prompts work (only the cursor's row counts); a prompt line
//    wider than the terminal, or a right-side prompt (zsh RPROMPT), ends up
//    in the command text.
//  - Full-screen programs (vim, less, top) run on the alternate screen: an
//    Enter there is not a command and makes no entry. Programs on the main
//    screen that read lines (a `read` prompt, a REPL, a y/N question) give
//    entries too: what was answered, after its prompt.
//  - With echo off (passwords) the screen shows nothing new, so nothing is
//    recorded, which is what we want. A shell that echoes something other
//    than what will run (a typed but hidden secret) cannot be caught.
//  - Inside bracketed paste (ESC[200~ ... ESC[201~) a "\r" is text, not Enter.
//    Several lines pasted at once without it (older shells): the first is
//    read when the second Enter comes, before any echo, so may be lost.
//  - Empty lines (Enter alone) are not entries.
//  - The emulator sees only the output that TerminalSanitizer keeps
//    (terminal_sanitizer.h): text, cursor moves, erases, the alternate
//    screen. A program that draws its line with anything else is misread.
//
// Contract: never throws on any input bytes (it is fed what the peer sends);
// memory is bounded (the screen, at most kMaxCols x kMaxRows; a command at
// most kMaxCommandBytes; at most kMaxEntries entries, then truncated() and
// no more). Construction throws std::bad_alloc if the emulator cannot be
// made. Not thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace bastion::recorder {

struct CommandEntry {
  Micros offset = 0;    // when Enter was pressed, from the recording's start
  std::string command;  // UTF-8, as the screen showed it; "\n" between lines

  bool operator==(const CommandEntry&) const = default;
};

class CommandIndexer {
 public:
  static constexpr size_t kMaxCommandBytes = 4096;  // longer commands are cut (at a UTF-8 boundary)
  static constexpr size_t kMaxEntries = 100'000;    // then truncated() and no more entries
  // SECURITY: the size comes from the peer (pty-req, window-change); without
  // a cap a client could make the emulator allocate gigabytes.
  static constexpr int kMaxCols = 1000;
  static constexpr int kMaxRows = 500;
  // SECURITY: libvterm 0.1.4 writes out of bounds on screens of one or two
  // columns; real terminals are never that small.
  static constexpr int kMinCols = 20;
  static constexpr int kMinRows = 4;

  // A screen of COLS x ROWS (each clamped to kMin*..kMax*). Entry offsets are
  // `at - started_at`; with started_at 0 the caller passes offsets itself.
  CommandIndexer(int cols, int rows, Micros started_at = 0);
  ~CommandIndexer();
  CommandIndexer(const CommandIndexer&) = delete;
  CommandIndexer& operator=(const CommandIndexer&) = delete;
  CommandIndexer(CommandIndexer&&) noexcept;
  CommandIndexer& operator=(CommandIndexer&&) noexcept;

  // What the session showed (channel data from the server).
  void output(Micros at, std::string_view bytes);
  // What the person typed (channel data from the client).
  void input(Micros at, std::string_view bytes);
  // A new size (clamped as above). The emulator is rebuilt with the text of
  // the screen (see terminal_emulator.cpp): colours and modes are not kept.
  void resize(int cols, int rows);
  // The session is over: reads an Enter still waiting for its echo.
  void finish();

  // The entries made since the previous take(), which are removed.
  std::vector<CommandEntry> take();
  [[nodiscard]] const std::vector<CommandEntry>& entries() const;
  // True once kMaxEntries entries were made: later commands are not indexed.
  [[nodiscard]] bool truncated() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The index file beside a recording, JSON Lines:
//   {"format":"bastion-command-index","version":1,"recording":"...","started_at_us":...,
//    "cols":80,"rows":24,"truncated":false}
//   {"t":1.234000,"cmd":"ls -la"}
// t is seconds from the recording's start (microsecond precision).
struct CommandIndexHeader {
  std::string recording;  // the recording's file name, for people
  Micros started_at = 0;  // the recording's start, Unix microseconds
  int cols = 80;
  int rows = 24;
  bool truncated = false;  // CommandIndexer::truncated()

  bool operator==(const CommandIndexHeader&) const = default;
};

struct CommandIndex {
  CommandIndexHeader header;
  std::vector<CommandEntry> entries;
};

// The file's text (invalid UTF-8 in a command becomes U+FFFD).
std::string format_command_index(const CommandIndex& index);
// Writes the file at PATH atomically, mode 0600, refusing an existing file;
// returns the hex SHA-256 of the bytes written, for the audit chain.
Result<std::string> write_command_index(const std::string& path, const CommandIndex& index);

// Parses an index file (which an attacker may have touched): errors are one
// line, "NAME line N: what is wrong". Entries must be in time order, with
// commands of at most kMaxCommandBytes, and at most kMaxEntries of them.
Result<CommandIndex> parse_command_index(std::string_view text, const std::string& name);
// A sealed index (recordings encrypted to a reviewer key) needs KEY_PATH, the
// reviewer's private key.
Result<CommandIndex> read_command_index(const std::string& path, const std::string& key_path = "",
                                        size_t max_bytes = size_t{256} << 20);

// The index of a terminal recording rebuilt from the recording itself (its
// output, input and resize events), for a recording whose index file is
// missing or empty (the session ended abnormally, or older versions).
struct CastFile;
CommandIndex index_from_cast(const CastFile& cast, const std::string& recording_name);

}  // namespace bastion::recorder
