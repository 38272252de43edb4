#include "recorder/terminal_sanitizer.h"

#include <algorithm>
#include <cstring>

#include "common/encoding.h"

namespace bastion::recorder {
namespace {

constexpr int kMaxParam = 9999;
constexpr char kReplacement[] = "\xef\xbf\xbd";

bool allowed_final(char f) { return f != 0 && std::strchr("ABCDEFGHJKLMPSTX@`adefr", f) != nullptr; }

}  // namespace

void TerminalSanitizer::emit_csi(char final_byte, std::string& out) const {
  if (bad_) return;
  if (final_byte == 'h' || final_byte == 'l') {
    if (nparams_ != 1) return;
    int p = params_[0];
    bool ok = private_ ? (p == 47 || p == 1047 || p == 1049 || p == 7) : p == 4;
    if (!ok) return;
    out += private_ ? "\x1b[?" : "\x1b[";
    out += std::to_string(p);
    out += final_byte;
    return;
  }
  if (private_ || !allowed_final(final_byte)) return;
  out += "\x1b[";
  for (int i = 0; i < nparams_; ++i) {
    if (i > 0) out += ';';
    out += std::to_string(params_[i]);
  }
  out += final_byte;
}

void TerminalSanitizer::csi_byte(char c, std::string& out) {
  if (c >= '0' && c <= '9') {
    if (nparams_ == 0) nparams_ = 1;
    int& p = params_[static_cast<size_t>(nparams_ - 1)];
    p = p >= kMaxParam ? kMaxParam : std::min(kMaxParam, p * 10 + (c - '0'));
  } else if (c == ';') {
    if (nparams_ == 0) nparams_ = 1;  // an empty first parameter
    if (nparams_ == static_cast<int>(params_.size())) {
      bad_ = true;
    } else {
      params_[static_cast<size_t>(nparams_++)] = 0;
    }
  } else if (c == '?' && nparams_ == 0 && !private_) {
    private_ = true;
  } else if (c >= 0x40 && c <= 0x7E) {
    emit_csi(c, out);
    state_ = State::kGround;
  } else if (c == '\x1b') {
    state_ = State::kEsc;  // a new sequence cuts this one off
  } else if (static_cast<unsigned char>(c) < 0x20) {
    // a control inside CSI: dropped (libvterm would run it; we need not)
  } else {
    bad_ = true;  // intermediates, ':' sub-parameters, other private markers
  }
}

void TerminalSanitizer::text_byte(unsigned char c, std::string& out) {
  if (need_ > 0) {
    if ((c & 0xC0) == 0x80) {
      code_ = (code_ << 6) | (c & 0x3F);
      if (--need_ == 0) {
        bool ok = code_ >= min_ && code_ <= 0x10FFFF && !(code_ >= 0xD800 && code_ <= 0xDFFF) &&
                  !(code_ >= 0x80 && code_ < 0xA0);
        if (ok) {
          append_utf8(out, code_);
        } else {
          out += kReplacement;
        }
      }
      return;
    }
    need_ = 0;  // cut short: one replacement, then C starts afresh
    out += kReplacement;
  }
  // Printable ASCII and the controls a line editor uses pass as they are.
  bool passes = (c >= 0x20 && c < 0x7F) || c == '\r' || c == '\n' || c == '\b' || c == '\t';
  if (passes) {
    out += static_cast<char>(c);
  } else if (c >= 0xC2 && c <= 0xDF) {
    code_ = c & 0x1F;
    need_ = 1;
    min_ = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    code_ = c & 0x0F;
    need_ = 2;
    min_ = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    code_ = c & 0x07;
    need_ = 3;
    min_ = 0x10000;
  } else if (c >= 0x80) {
    out += kReplacement;
  } else if (c == '\v' || c == '\f') {
    out += '\n';
  }
  // other C0 controls and DEL: dropped
}

void TerminalSanitizer::feed(std::string_view bytes, std::string& out) {
  for (char ch : bytes) {
    auto c = static_cast<unsigned char>(ch);
    switch (state_) {
      case State::kGround:
        if (c == 0x1B) {
          if (need_ > 0) {
            need_ = 0;
            out += kReplacement;
          }
          state_ = State::kEsc;
        } else {
          text_byte(c, out);
        }
        break;
      case State::kEsc:
        state_ = State::kGround;
        if (c == '[') {
          state_ = State::kCsi;
          private_ = bad_ = false;
          params_.fill(0);
          nparams_ = 0;
        } else if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_') {
          state_ = State::kString;  // OSC, DCS, SOS, PM, APC: dropped to their end
          string_ends_on_bel_ = c == ']';
        } else if (c == '7' || c == '8' || c == 'D' || c == 'E' || c == 'M') {
          out += '\x1b';
          out += static_cast<char>(c);
        } else if (c >= 0x20 && c <= 0x2F) {
          state_ = State::kEscSkip;  // ESC ( B, ESC # 8 ...: dropped with their final
        } else if (c == 0x1B) {
          state_ = State::kEsc;
        }
        break;
      case State::kEscSkip:
        if (c >= 0x30 && c <= 0x7E) state_ = State::kGround;
        if (c == 0x1B) state_ = State::kEsc;
        break;
      case State::kCsi: csi_byte(static_cast<char>(c), out); break;
      case State::kString:
        if (c == 0x1B) state_ = State::kStringEsc;
        if (c == 0x07 && string_ends_on_bel_) state_ = State::kGround;
        break;
      case State::kStringEsc:
        state_ = c == '\\' ? State::kGround : c == 0x1B ? State::kStringEsc : State::kString;
        break;
    }
  }
}

}  // namespace bastion::recorder
