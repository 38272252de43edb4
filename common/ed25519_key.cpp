#include "common/ed25519_key.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <stdexcept>

#include "common/files.h"
#include "common/openssl_handles.h"

namespace bastion {
namespace {}  // namespace

struct Ed25519Key::Impl {
  Pkey key;
};

Ed25519Key::Ed25519Key(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ed25519Key::Ed25519Key(Ed25519Key&&) noexcept = default;
Ed25519Key& Ed25519Key::operator=(Ed25519Key&&) noexcept = default;
Ed25519Key::~Ed25519Key() = default;

Result<Ed25519Key> Ed25519Key::create(const std::string& path) {
  if (file_exists(path)) return make_error("refusing to overwrite existing key " + path);
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) return make_error("cannot generate an Ed25519 key");
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return make_error("cannot encode an Ed25519 key");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  std::string pem(data, static_cast<size_t>(len));
  // SECURITY: mode 0600 from creation, never overwritten: replacing a signing
  // key silently would invalidate every target's trust or every checkpoint.
  Status st = write_file_atomic(path, pem, 0600, false);
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!st) return st.error();
  return Ed25519Key(std::make_unique<Impl>(Impl{std::move(key)}));
}

Result<Ed25519Key> Ed25519Key::load(const std::string& path) {
  // Check the file we read, not the name (no window between stat and open).
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return make_error("key " + path + " is missing or not a regular file");
  struct stat sb {};
  std::string pem_text;
  bool ok = ::fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
  if (ok && (sb.st_mode & 077) == 0 && (sb.st_uid == ::geteuid() || sb.st_uid == 0)) {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0 && pem_text.size() < 64 * 1024)
      pem_text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (!ok) return make_error("key " + path + " is not a regular file");
  if ((sb.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", sb.st_mode & 0777);
    return make_error(path + ": permissions " + mode + " are too open; chmod 600 " + path);
  }
  if (sb.st_uid != ::geteuid() && sb.st_uid != 0) return make_error(path + ": owned by another user");
  Result<std::string> pem(std::move(pem_text));
  Bio bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  OPENSSL_cleanse(pem->data(), pem->size());
  if (!key) return make_error(path + ": not a PEM private key");
  if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) return make_error(path + ": not an Ed25519 key");
  return Ed25519Key(std::make_unique<Impl>(Impl{std::move(key)}));
}

std::vector<uint8_t> Ed25519Key::public_key() const {
  std::vector<uint8_t> raw(32);
  size_t len = raw.size();
  EVP_PKEY_get_raw_public_key(impl_->key.get(), raw.data(), &len);
  return raw;
}

Result<std::vector<uint8_t>> Ed25519Key::sign(std::span<const uint8_t> message) const {
  MdCtx ctx(EVP_MD_CTX_new());
  std::vector<uint8_t> sig(64);
  size_t len = sig.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, impl_->key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig.data(), &len, message.data(), message.size()) != 1 || len != 64) {
    return make_error("Ed25519 signing failed");
  }
  return sig;
}

bool ed25519_public_key_is_weak(std::span<const uint8_t> public_key) {
  if (public_key.size() != 32) return true;
  std::array<uint8_t, 32> y{};
  std::copy(public_key.begin(), public_key.end(), y.begin());
  y[31] &= 0x7f;  // the top bit is the sign of x; the rest is y, little-endian
  // p = 2^255 - 19 is 0xed, 30 x 0xff, 0x7f little-endian; y >= p is a
  // non-canonical encoding of y - p.
  bool at_least_p =
      y[31] == 0x7f && y[0] >= 0xed && std::all_of(y.begin() + 1, y.begin() + 31, [](uint8_t b) { return b == 0xff; });
  if (at_least_p) return true;
  // The y coordinates of the 8 points of small order: 0 (order 4), 1 (the
  // identity), p-1 (order 2), and the two of order 8; the sign bit does not
  // change the order.
  static constexpr std::array<std::array<uint8_t, 32>, 5> kSmallOrderY = {{
      {0},
      {1},
      {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
      {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
       0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
      {0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
       0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
  }};
  return std::any_of(kSmallOrderY.begin(), kSmallOrderY.end(), [&](const auto& s) { return s == y; });
}

bool ed25519_verify(std::span<const uint8_t> public_key, std::span<const uint8_t> message,
                    std::span<const uint8_t> signature) {
  if (public_key.size() != 32 || signature.size() != 64 || ed25519_public_key_is_weak(public_key)) return false;
  Pkey key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key.data(), public_key.size()));
  MdCtx ctx(EVP_MD_CTX_new());
  return key && ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(), message.size()) == 1;
}

std::vector<uint8_t> sha256(std::span<const uint8_t> data) {
  std::vector<uint8_t> d(32);
  unsigned int len = 0;
  // SECURITY: a digest that silently failed would be all zeros for every
  // input; treat it as the programming/platform error it is.
  if (EVP_Digest(data.data(), data.size(), d.data(), &len, EVP_sha256(), nullptr) != 1 || len != 32) {
    throw std::runtime_error("SHA-256 failed");
  }
  return d;
}

}  // namespace bastion
