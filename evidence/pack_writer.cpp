#include "evidence/pack_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/encoding.h"
#include "common/files.h"
#include "common/openssl_handles.h"
#include "common/tar.h"
#include "common/unique_fd.h"
#include "evidence/pack_format.h"

namespace bastion::evidence {

struct PackWriter::Impl {
  std::string path, tmp;
  UniqueFd fd;
  int64_t mtime = 0;
  std::unique_ptr<TarWriter> tar;
  nlohmann::json files = nlohmann::json::array();
  bool done = false;
  // The digest of the entry being written (the sink hashes what passes).
  MdCtx md;
  bool hashing = false;

  Status write_all(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::write(fd.get(), bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return make_error("cannot write " + tmp + ": " + std::strerror(errno));
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return {};
  }

  Status entry(std::string_view name, uint64_t size, const TarSource& data) {
    md = new_sha256();
    if (!md) return make_error("SHA-256 unavailable");
    uint64_t seen = 0;
    auto hashed = [&](char* buf, size_t cap) -> Result<size_t> {
      auto n = data(buf, cap);
      if (n && *n > 0) {
        EVP_DigestUpdate(md.get(), buf, *n);
        seen += *n;
      }
      return n;
    };
    TarEntry e;
    e.name = std::string(name);
    e.size = size;
    e.mtime = mtime;
    e.mode = 0644;
    if (auto st = tar->add(e, hashed); !st) return st.error().prefixed(e.name + ": ");
    std::vector<uint8_t> out(EVP_MAX_MD_SIZE);
    unsigned int len = 0;
    EVP_DigestFinal_ex(md.get(), out.data(), &len);
    out.resize(len);
    files.push_back({{"name", e.name}, {"size", seen}, {"sha256", hex_encode(out)}});
    return {};
  }
};

PackWriter::PackWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

PackWriter::~PackWriter() {
  if (impl_ && !impl_->done && !impl_->tmp.empty()) ::unlink(impl_->tmp.c_str());
}

Result<std::unique_ptr<PackWriter>> PackWriter::create(const std::string& path, int64_t mtime) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) return make_error(path + " exists; an export never overwrites a file");
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->tmp = path + ".tmp";
  impl->mtime = mtime;
  impl->fd = UniqueFd(::open(impl->tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640));
  if (!impl->fd) return make_error("cannot create " + impl->tmp + ": " + std::strerror(errno));
  Impl* raw = impl.get();
  impl->tar = std::make_unique<TarWriter>([raw](std::string_view bytes) { return raw->write_all(bytes); });
  return std::unique_ptr<PackWriter>(new PackWriter(std::move(impl)));
}

Status PackWriter::add(std::string_view name, std::string_view bytes) {
  size_t pos = 0;
  return impl_->entry(name, bytes.size(), [&](char* buf, size_t cap) -> Result<size_t> {
    size_t n = std::min(cap, bytes.size() - pos);
    std::memcpy(buf, bytes.data() + pos, n);
    pos += n;
    return n;
  });
}

Status PackWriter::add_file(std::string_view name, const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return make_error("cannot open " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return make_error(path + " is not a regular file");
  return impl_->entry(name, static_cast<uint64_t>(st.st_size), [&](char* buf, size_t cap) -> Result<size_t> {
    for (;;) {
      ssize_t n = ::read(fd.get(), buf, cap);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return make_error("cannot read " + path + ": " + std::strerror(errno));
      return static_cast<size_t>(n);
    }
  });
}

Status PackWriter::finish(nlohmann::json manifest, const Ed25519Key& key) {
  manifest["files"] = impl_->files;
  const std::string text = manifest.dump(2) + "\n";
  auto sig = key.sign(as_bytes(text));
  if (!sig) return sig.error();
  TarEntry m{std::string(kManifest), 0644, text.size(), impl_->mtime};
  if (auto st = impl_->tar->add(m, text); !st) return st;
  const std::string sig_text = signature_file(*sig);
  TarEntry s{std::string(kManifestSig), 0644, sig_text.size(), impl_->mtime};
  if (auto st = impl_->tar->add(s, sig_text); !st) return st;
  if (auto st = impl_->tar->finish(); !st) return st;
  if (::fsync(impl_->fd.get()) != 0) return make_error("cannot fsync " + impl_->tmp + ": " + std::strerror(errno));
  impl_->fd.reset();
  struct stat st {};
  if (::lstat(impl_->path.c_str(), &st) == 0) return make_error(impl_->path + " appeared meanwhile; not replaced");
  if (::rename(impl_->tmp.c_str(), impl_->path.c_str()) != 0) {
    return make_error("cannot rename " + impl_->tmp + " to " + impl_->path + ": " + std::strerror(errno));
  }
  impl_->done = true;
  return sync_parent_directory(impl_->path);
}

uint64_t PackWriter::bytes_written() const { return impl_->tar->bytes_written(); }

}  // namespace bastion::evidence
