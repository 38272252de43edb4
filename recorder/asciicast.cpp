#include "recorder/asciicast.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/encoding.h"
#include "common/openssl_handles.h"

namespace bastion::recorder {
namespace {

constexpr size_t kBufferLimit = 256 * 1024;

std::string finish(EVP_MD_CTX* md) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(md, out, &len);
  return hex_encode(std::span<const uint8_t>(out, len));
}

}  // namespace

// Each byte is hashed once, into its chunk; the final digest is over the
// chunk digests (kDigestOfChunks), as for stream recordings.
struct CastWriter::Hashes {
  MdCtx chunk = new_sha256();
  MdCtx of_chunks = new_sha256();
};

// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid.
size_t utf8_sequence(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = b(0);
  size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
  }
  if (n == 3 && ((c == 0xE0 && b(1) < 0xA0) || (c == 0xED && b(1) >= 0xA0))) return 0;  // overlong, surrogates
  if (n == 4 && ((c == 0xF0 && b(1) < 0x90) || (c == 0xF4 && b(1) >= 0x90))) return 0;
  return n;
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  // No input byte takes more than 6 output bytes (\u00XX, \ufffd), so the
  // output is written in place into room made once, then trimmed: binary
  // streams (every byte escaped) cost no per-byte append.
  size_t base = out.size();
  out.resize(base + s.size() * 6 + 2);
  char* w = out.data() + base;
  *w++ = '"';
  const char* in = s.data();
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(in[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {  // printable ASCII runs are copied in one go
      size_t run = i + 1;
      while (run < s.size()) {
        auto r = static_cast<unsigned char>(in[run]);
        if (r < 0x20 || r >= 0x80 || r == '"' || r == '\\') break;
        ++run;
      }
      std::memcpy(w, in + i, run - i);
      w += run - i;
      i = run;
      continue;
    }
    if (c >= 0x80) {
      size_t n = utf8_sequence(s, i);
      if (n == 0) {
        std::memcpy(w, "\\ufffd", 6);
        w += 6;
        ++i;
      } else {
        std::memcpy(w, in + i, n);
        w += n;
        i += n;
      }
      continue;
    }
    char short_escape = c == '"'    ? '"'
                        : c == '\\' ? '\\'
                        : c == '\n' ? 'n'
                        : c == '\r' ? 'r'
                        : c == '\t' ? 't'
                        : c == '\b' ? 'b'
                        : c == '\f' ? 'f'
                                    : 0;
    if (short_escape != 0) {
      w[0] = '\\';
      w[1] = short_escape;
      w += 2;
    } else {
      std::memcpy(w, "\\u00", 4);
      w[4] = kHex[c >> 4];
      w[5] = kHex[c & 15];
      w += 6;
    }
    ++i;
  }
  *w++ = '"';
  out.resize(static_cast<size_t>(w - out.data()));
}

size_t complete_utf8_prefix(std::string_view data) {
  size_t n = data.size();
  // Look back at most 3 bytes for the start of a multi-byte sequence.
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    auto c = static_cast<unsigned char>(data[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return need > back ? n - back : n;
  }
  return n;
}

CastWriter::CastWriter(UniqueFd fd, Micros start, Micros flush_interval)
    : fd_(std::move(fd)),
      start_(start),
      flush_interval_(flush_interval),
      last_flush_(start),
      hashes_(std::make_unique<Hashes>()) {}

CastWriter::~CastWriter() {
  if (fd_) (void)flush();
}

Result<UniqueFd> CastWriter::create_file(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (ec) return make_error("cannot create recording folder for " + path + ": " + ec.message());
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_APPEND, 0600));
  if (!fd) return make_error("cannot create recording " + path + ": " + std::strerror(errno));
  return fd;
}

Result<std::unique_ptr<CastWriter>> CastWriter::open(const std::string& path, const CastHeader& h,
                                                     Micros flush_interval, std::unique_ptr<CastSealer> sealer) {
  auto fd = create_file(path);
  if (!fd) return fd.error();
  return open(std::move(*fd), h, flush_interval, std::move(sealer));
}

Result<std::unique_ptr<CastWriter>> CastWriter::open(UniqueFd fd, const CastHeader& h, Micros flush_interval,
                                                     std::unique_ptr<CastSealer> sealer) {
  std::unique_ptr<CastWriter> w(new CastWriter(std::move(fd), h.started_at, flush_interval));
  if (sealer) {
    if (auto st = w->write_out(sealer->file_header()); !st) return st.error();
    w->sealer_ = std::move(sealer);
  }
  nlohmann::json header = {{"version", 2},
                           {"width", h.width},
                           {"height", h.height},
                           {"timestamp", h.started_at / kMicrosPerSecond},
                           {"env", {{"TERM", h.term}, {"SHELL", "/bin/sh"}}},
                           {"title", h.title}};
  if (!h.command.empty()) header["command"] = h.command;
  w->buffer_ = header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (auto st = w->flush(); !st) return st.error();
  return w;
}

Status CastWriter::event(Micros at, const char* kind, std::string_view data) {
  if (!failed_.is_ok()) return failed_;
  char t[32];
  std::snprintf(t, sizeof t, "%.6f", static_cast<double>(std::max<Micros>(0, at - start_)) / 1e6);
  buffer_ += "[";
  buffer_ += t;
  buffer_ += ", \"";
  buffer_ += kind;
  buffer_ += "\", ";
  append_json_string(buffer_, data);
  buffer_ += "]\n";
  if (buffer_.size() >= kBufferLimit) return flush();
  return tick(at);
}

Status CastWriter::stream(Micros at, const char* kind, std::string& carry, std::string_view bytes) {
  if (carry.empty()) {  // the common case: no copy
    size_t n = complete_utf8_prefix(bytes);
    Status st = n > 0 ? event(at, kind, bytes.substr(0, n)) : failed_;
    carry.assign(bytes.substr(n));
    return st;
  }
  carry.append(bytes);
  size_t n = complete_utf8_prefix(carry);
  if (n == 0) return failed_;
  Status st = event(at, kind, std::string_view(carry).substr(0, n));
  carry.erase(0, n);
  return st;
}

Status CastWriter::output(Micros at, std::string_view bytes) { return stream(at, "o", carry_o_, bytes); }

Status CastWriter::input(Micros at, std::string_view bytes) { return stream(at, "i", carry_i_, bytes); }

Status CastWriter::write(Micros at, StreamId stream, std::string_view bytes) {
  return stream == StreamId::kStdin ? input(at, bytes) : output(at, bytes);
}

Status CastWriter::resize(Micros at, int cols, int rows) {
  return event(at, "r", std::to_string(cols) + "x" + std::to_string(rows));
}

Status CastWriter::tick(Micros now) {
  if (!failed_.is_ok()) return failed_;
  if (now - last_flush_ < flush_interval_) return {};
  last_flush_ = now;
  return flush();
}

Status CastWriter::write_out(std::string_view bytes) {
  if (auto st = write_all(fd_.get(), bytes); !st) {
    failed_ = st.error().prefixed("cannot write the recording: ");
    return failed_;
  }
  EVP_DigestUpdate(hashes_->chunk.get(), bytes.data(), bytes.size());
  written_ += static_cast<int64_t>(bytes.size());
  return {};
}

Status CastWriter::flush() {
  if (!failed_.is_ok()) return failed_;
  if (buffer_.empty()) return {};
  Status st;
  if (sealer_) {
    auto frame = sealer_->seal(buffer_);
    st = frame ? write_out(*frame) : Status(frame.error());
    if (!st) failed_ = st;
  } else {
    st = write_out(buffer_);
  }
  buffer_.clear();
  return st;
}

CastChunk CastWriter::next_chunk() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(hashes_->chunk.get(), digest, &len);
  hashes_->chunk = new_sha256();
  CastChunk c{chunk_start_, written_ - chunk_start_, hex_encode(std::span<const uint8_t>(digest, len))};
  // Only chunks that reach the audit log (non-empty ones) make the final digest.
  if (c.length > 0) EVP_DigestUpdate(hashes_->of_chunks.get(), digest, len);
  chunk_start_ = written_;
  return c;
}

CastChunk CastWriter::take_chunk() {
  if (last_chunk_) {
    CastChunk c = std::move(*last_chunk_);
    last_chunk_.reset();
    return c;
  }
  return next_chunk();
}

Result<CastSummary> CastWriter::close() {
  if (!carry_o_.empty()) (void)event(last_flush_, "o", carry_o_);  // a dangling partial sequence
  carry_o_.clear();
  if (auto st = flush(); !st) return st.error();
  if (::fsync(fd_.get()) != 0) return make_error(std::string("cannot fsync the recording: ") + std::strerror(errno));
  fd_.reset();
  last_chunk_ = next_chunk();
  return CastSummary{written_, finish(hashes_->of_chunks.get()), std::string(kDigestOfChunks)};
}

}  // namespace bastion::recorder
