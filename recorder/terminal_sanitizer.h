// TerminalSanitizer: what a host prints, cut down to what the command index
// needs from it, before it reaches the terminal emulator (libvterm).
//
// SECURITY: libvterm 0.1.4 (Debian 12) reads and writes out of bounds on
// some escape sequences (DEC line attributes, tab stops, resizes with saved
// state); the output comes from the target host, which need not be friendly.
// So only a whitelist reaches it, each sequence rebuilt from parsed numbers:
//  - text, as valid UTF-8 (invalid bytes and C1 code points become U+FFFD);
//  - CR, LF, BS, and HT (left to the caller: it becomes a cursor move, so
//    libvterm's tab stops are never used); VT and FF become LF;
//  - CSI with numeric parameters (each clamped to 0..9999, at most 8) and
//    one of the finals A-H, J, K, L, M, P, S, T, X, @, `, a, d, e, f, r;
//  - CSI ? 47/1047/1049 h|l (alternate screen), CSI ? 7 h|l (autowrap),
//    CSI 4 h|l (insert mode);
//  - ESC 7, ESC 8, ESC D, ESC E, ESC M.
// Everything else (SGR colours, OSC titles, DCS strings, charsets, modes,
// other controls) is dropped. State carries across calls (a sequence may be
// split anywhere). Never throws except std::bad_alloc; memory is bounded (a
// sequence being parsed is at most 8 numbers). Not thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace bastion::recorder {

class TerminalSanitizer {
 public:
  // Appends the sanitized form of BYTES to OUT.
  void feed(std::string_view bytes, std::string& out);

 private:
  enum class State : uint8_t { kGround, kEsc, kEscSkip, kCsi, kString, kStringEsc };
  void csi_byte(char c, std::string& out);
  void emit_csi(char final_byte, std::string& out) const;
  void text_byte(unsigned char c, std::string& out);

  State state_ = State::kGround;
  bool string_ends_on_bel_ = false;
  // CSI being parsed.
  bool private_ = false;
  bool bad_ = false;
  std::array<int, 8> params_{};
  int nparams_ = 0;
  // An incomplete UTF-8 sequence.
  uint32_t code_ = 0;
  int need_ = 0;
  uint32_t min_ = 0;
};

}  // namespace bastion::recorder
