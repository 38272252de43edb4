// zstd compression of recording blocks (libzstd). One Compressor per
// recording keeps its context (and so its memory) between blocks; each block
// is a whole zstd frame with its content size and a checksum, so a reader can bound the
// memory before it decompresses. Not thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace bastion::recorder {

class Compressor {
 public:
  // level: zstd's (1 = fastest of the standard levels).
  static Result<std::unique_ptr<Compressor>> create(int level = 1);
  ~Compressor();
  Compressor(const Compressor&) = delete;
  Compressor& operator=(const Compressor&) = delete;
  // One zstd frame holding `plain`, appended to `out`.
  Status compress(std::string_view plain, std::string& out);

 private:
  struct Impl;
  explicit Compressor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The content of one zstd frame; refuses a frame that does not state its
// size, states more than `max_size`, or is not exactly one frame.
Result<std::string> decompress_frame(std::string_view frame, size_t max_size);

}  // namespace bastion::recorder
