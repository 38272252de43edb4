#include "recorder/stream_writer.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/encoding.h"
#include "common/openssl_handles.h"
#include "recorder/asciicast.h"

namespace bastion::recorder {
namespace {

constexpr size_t kBufferLimit = 256 * 1024;

void append_u32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}

Result<std::string> header_line(const StreamHeader& h, bool compress, CastSealer* sealer) {
  std::string sealed = sealer ? sealer->file_header() : "none";
  if (!sealed.empty() && sealed.back() == '\n') sealed.pop_back();
  nlohmann::ordered_json j = {{"format", kStreamFormat},
                              {"version", 1},
                              {"session", h.session},
                              {"channel", h.channel},
                              {"command", sealer ? "" : h.command},
                              {"started_at", h.started_at},
                              {"compression", compress ? "zstd" : "none"},
                              {"encryption", sealed}};
  if (!h.subsystem.empty()) j["subsystem"] = h.subsystem;
  if (sealer) {
    auto frame = sealer->seal(h.command);
    if (!frame) return frame.error();
    j["sealed_command"] = base64_encode(as_bytes(*frame));
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace

struct ChunkDigests::Impl {
  MdCtx md = new_sha256();
  bool bad = false;
};

ChunkDigests::ChunkDigests() : impl_(std::make_unique<Impl>()) {}
ChunkDigests::~ChunkDigests() = default;
ChunkDigests::ChunkDigests(ChunkDigests&&) noexcept = default;
ChunkDigests& ChunkDigests::operator=(ChunkDigests&&) noexcept = default;

bool ChunkDigests::add(std::string_view hex) {
  auto nibble = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; };
  unsigned char raw[32];
  bool ok = hex.size() == 64;
  for (size_t i = 0; ok && i < 32; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    ok = hi >= 0 && lo >= 0;
    raw[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  if (!ok) impl_->bad = true;
  if (!impl_->bad) EVP_DigestUpdate(impl_->md.get(), raw, sizeof raw);
  return ok;
}

std::string ChunkDigests::final() const {
  if (impl_->bad) return "";
  MdCtx copy(EVP_MD_CTX_new());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!copy || EVP_MD_CTX_copy_ex(copy.get(), impl_->md.get()) != 1 ||
      EVP_DigestFinal_ex(copy.get(), digest, &len) != 1) {
    return "";
  }
  return hex_encode(std::span<const uint8_t>(digest, len));
}

std::string digest_of_chunks(const std::vector<std::string>& chunk_sha256_hex) {
  ChunkDigests d;
  for (const auto& hex : chunk_sha256_hex) {
    if (!d.add(hex)) return "";
  }
  return d.final();
}

void append_uvarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

bool read_uvarint(std::string_view in, size_t& pos, uint64_t& v) {
  v = 0;
  for (int i = 0; i < 10 && pos < in.size(); ++i) {
    auto b = static_cast<unsigned char>(in[pos++]);
    if (i == 9 && b > 1) return false;  // more than 64 bits
    v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

struct StreamWriter::Hashes {
  MdCtx chunk = new_sha256();
  MdCtx of_chunks = new_sha256();  // over the raw digests of the chunks
};

StreamWriter::StreamWriter(UniqueFd fd, Micros start, Micros flush_interval)
    : fd_(std::move(fd)),
      start_(start),
      flush_interval_(flush_interval),
      last_flush_(start),
      hashes_(std::make_unique<Hashes>()) {}

StreamWriter::~StreamWriter() {
  if (fd_) (void)flush();
}

Result<std::unique_ptr<StreamWriter>> StreamWriter::open(const std::string& path, const StreamHeader& h,
                                                         Micros flush_interval, bool compress,
                                                         std::unique_ptr<CastSealer> sealer) {
  auto fd = CastWriter::create_file(path);
  if (!fd) return fd.error();
  return open(std::move(*fd), h, flush_interval, compress, std::move(sealer));
}

Result<std::unique_ptr<StreamWriter>> StreamWriter::open(UniqueFd fd, const StreamHeader& h, Micros flush_interval,
                                                         bool compress, std::unique_ptr<CastSealer> sealer) {
  std::unique_ptr<StreamWriter> w(new StreamWriter(std::move(fd), h.started_at, flush_interval));
  if (compress) {
    auto c = Compressor::create();
    if (!c) return c.error();
    w->compressor_ = std::move(*c);
  }
  auto line = header_line(h, compress, sealer.get());
  if (!line) return line.error();
  if (auto st = w->write_out(*line); !st) return st.error();
  w->sealer_ = std::move(sealer);
  return w;
}

Status StreamWriter::write(Micros at, StreamId stream, std::string_view bytes) {
  if (!failed_.is_ok()) return failed_;
  // Records of at most kBufferLimit bytes keep every payload far below kMaxStreamPayload.
  for (size_t pos = 0; pos < bytes.size(); pos += kBufferLimit) {
    std::string_view piece = bytes.substr(pos, kBufferLimit);
    buffer_ += static_cast<char>(stream);
    append_uvarint(buffer_, static_cast<uint64_t>(std::max<Micros>(0, at - start_)));
    append_uvarint(buffer_, piece.size());
    buffer_.append(piece);
    if (buffer_.size() >= kBufferLimit) {
      if (auto st = flush(); !st) return st;
    }
  }
  return tick(at);
}

Status StreamWriter::tick(Micros now) {
  if (!failed_.is_ok()) return failed_;
  if (now - last_flush_ < flush_interval_) return {};
  last_flush_ = now;
  return flush();
}

Status StreamWriter::flush() {
  if (!failed_.is_ok()) return failed_;
  if (buffer_.empty()) return {};
  Status st;
  if (compressor_) {
    compressed_.clear();
    st = compressor_->compress(buffer_, compressed_);
    if (st) st = write_block(compressed_);
  } else {
    st = write_block(buffer_);
  }
  buffer_.clear();
  if (!st) failed_ = st;
  return st;
}

Status StreamWriter::write_block(std::string_view payload) {
  if (sealer_) {
    auto frame = sealer_->seal(payload);
    return frame ? write_out(*frame) : Status(frame.error());
  }
  std::string prefix;
  append_u32(prefix, static_cast<uint32_t>(payload.size()));
  if (auto st = write_out(prefix); !st) return st;
  return write_out(payload);
}

Status StreamWriter::write_out(std::string_view bytes) {
  if (auto st = write_all(fd_.get(), bytes); !st) {
    failed_ = st.error().prefixed("cannot write the recording: ");
    return failed_;
  }
  EVP_DigestUpdate(hashes_->chunk.get(), bytes.data(), bytes.size());
  written_ += static_cast<int64_t>(bytes.size());
  return {};
}

CastChunk StreamWriter::next_chunk() {
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

CastChunk StreamWriter::take_chunk() {
  if (last_chunk_) {
    CastChunk c = std::move(*last_chunk_);
    last_chunk_.reset();
    return c;
  }
  return next_chunk();
}

Result<CastSummary> StreamWriter::close() {
  if (auto st = flush(); !st) return st.error();
  if (::fsync(fd_.get()) != 0) return make_error(std::string("cannot fsync the recording: ") + std::strerror(errno));
  fd_.reset();
  last_chunk_ = next_chunk();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(hashes_->of_chunks.get(), digest, &len);
  return CastSummary{written_, hex_encode(std::span<const uint8_t>(digest, len)), std::string(kDigestOfChunks)};
}

}  // namespace bastion::recorder
