// Writes an evidence pack (pack_format.h): entries as they come, then the
// manifest (every entry's size and SHA-256) and its signature by the audit
// key. The archive is written to PATH.tmp, fsync'd and renamed to PATH only
// when complete; a writer dropped before finish() removes PATH.tmp, so a
// failed export leaves nothing behind. Not thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/ed25519_key.h"
#include "common/result.h"

namespace bastion::evidence {

class PackWriter {
 public:
  // Refuses when PATH exists (an export never overwrites one).
  static Result<std::unique_ptr<PackWriter>> create(const std::string& path, int64_t mtime);
  ~PackWriter();
  PackWriter(const PackWriter&) = delete;
  PackWriter& operator=(const PackWriter&) = delete;

  Status add(std::string_view name, std::string_view bytes);
  // The content of the file at `path` (streamed; a recording, or the
  // records spooled to a temporary file).
  Status add_file(std::string_view name, const std::string& path);
  // Adds "files" (every entry so far) to `manifest`, writes MANIFEST.json
  // and MANIFEST.sig, ends the archive and puts it in place.
  Status finish(nlohmann::json manifest, const Ed25519Key& key);
  [[nodiscard]] uint64_t bytes_written() const;

 private:
  struct Impl;
  explicit PackWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace bastion::evidence
