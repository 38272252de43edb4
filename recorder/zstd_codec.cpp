#include "recorder/zstd_codec.h"

#include <zstd.h>

#include "common/c_handle.h"

namespace bastion::recorder {
namespace {

using CCtx = CHandle<ZSTD_CCtx, ZSTD_freeCCtx>;
using DCtx = CHandle<ZSTD_DCtx, ZSTD_freeDCtx>;

std::string zstd_problem(size_t code) { return std::string("zstd: ") + ZSTD_getErrorName(code); }

}  // namespace

struct Compressor::Impl {
  CCtx ctx;
};

Compressor::Compressor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Compressor::~Compressor() = default;

Result<std::unique_ptr<Compressor>> Compressor::create(int level) {
  auto impl = std::make_unique<Impl>();
  impl->ctx.reset(ZSTD_createCCtx());
  if (!impl->ctx) return make_error("zstd: cannot create a compression context");
  size_t rc = ZSTD_CCtx_setParameter(impl->ctx.get(), ZSTD_c_compressionLevel, level);
  if (ZSTD_isError(rc)) return make_error(zstd_problem(rc));
  rc = ZSTD_CCtx_setParameter(impl->ctx.get(), ZSTD_c_contentSizeFlag, 1);
  if (ZSTD_isError(rc)) return make_error(zstd_problem(rc));
  // A 4-byte checksum per frame: a damaged block is an error, not wrong bytes.
  rc = ZSTD_CCtx_setParameter(impl->ctx.get(), ZSTD_c_checksumFlag, 1);
  if (ZSTD_isError(rc)) return make_error(zstd_problem(rc));
  return std::unique_ptr<Compressor>(new Compressor(std::move(impl)));
}

Status Compressor::compress(std::string_view plain, std::string& out) {
  size_t base = out.size();
  out.resize(base + ZSTD_compressBound(plain.size()));
  size_t n = ZSTD_compress2(impl_->ctx.get(), out.data() + base, out.size() - base, plain.data(), plain.size());
  if (ZSTD_isError(n)) {
    out.resize(base);
    return make_error(zstd_problem(n));
  }
  out.resize(base + n);
  return {};
}

Result<std::string> decompress_frame(std::string_view frame, size_t max_size) {
  unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (size == ZSTD_CONTENTSIZE_ERROR) return make_error("not a zstd frame");
  if (size == ZSTD_CONTENTSIZE_UNKNOWN) return make_error("zstd frame without a content size");
  if (size > max_size) return make_error("zstd frame too large (" + std::to_string(size) + " bytes)");
  size_t frame_size = ZSTD_findFrameCompressedSize(frame.data(), frame.size());
  if (ZSTD_isError(frame_size) || frame_size != frame.size()) return make_error("not exactly one zstd frame");
  DCtx ctx(ZSTD_createDCtx());
  if (!ctx) return make_error("zstd: cannot create a decompression context");
  std::string out(static_cast<size_t>(size), '\0');
  size_t n = ZSTD_decompressDCtx(ctx.get(), out.data(), out.size(), frame.data(), frame.size());
  if (ZSTD_isError(n)) return make_error(zstd_problem(n));
  if (n != out.size()) return make_error("zstd frame shorter than it says");
  return out;
}

}  // namespace bastion::recorder
