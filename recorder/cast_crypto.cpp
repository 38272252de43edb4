#include "recorder/cast_crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>

#include "common/encoding.h"
#include "common/files.h"
#include "common/openssl_handles.h"

namespace bastion::recorder {
namespace {

constexpr size_t kNonce = 12, kTag = 16;

std::vector<uint8_t> raw_public(EVP_PKEY* k) {
  std::vector<uint8_t> out(32);
  size_t len = out.size();
  EVP_PKEY_get_raw_public_key(k, out.data(), &len);
  return out;
}

// X25519 + HKDF-SHA256 -> 32-byte file key.
Result<std::vector<uint8_t>> derive(EVP_PKEY* mine, std::span<const uint8_t> peer_pub, std::span<const uint8_t> eph_pub,
                                    std::span<const uint8_t> reviewer_pub, std::string_view info) {
  Pkey peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer_pub.data(), peer_pub.size()));
  PkeyCtx ctx(EVP_PKEY_CTX_new(mine, nullptr));
  std::vector<uint8_t> shared(32);
  size_t len = shared.size();
  if (!peer || !ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1 ||
      EVP_PKEY_derive(ctx.get(), shared.data(), &len) != 1) {
    return make_error("X25519 key agreement failed");
  }
  std::vector<uint8_t> salt(eph_pub.begin(), eph_pub.end());
  salt.insert(salt.end(), reviewer_pub.begin(), reviewer_pub.end());
  PkeyCtx kdf(EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr));
  std::vector<uint8_t> key(32);
  size_t klen = key.size();
  bool ok = kdf && EVP_PKEY_derive_init(kdf.get()) == 1 && EVP_PKEY_CTX_set_hkdf_md(kdf.get(), EVP_sha256()) == 1 &&
            EVP_PKEY_CTX_set1_hkdf_salt(kdf.get(), salt.data(), static_cast<int>(salt.size())) == 1 &&
            EVP_PKEY_CTX_set1_hkdf_key(kdf.get(), shared.data(), static_cast<int>(shared.size())) == 1 &&
            EVP_PKEY_CTX_add1_hkdf_info(kdf.get(), reinterpret_cast<const unsigned char*>(info.data()),
                                        static_cast<int>(info.size())) == 1 &&
            EVP_PKEY_derive(kdf.get(), key.data(), &klen) == 1;
  OPENSSL_cleanse(shared.data(), shared.size());
  if (!ok) return make_error("HKDF failed");
  return key;
}

void nonce_for(uint64_t counter, unsigned char* nonce) {
  std::fill(nonce, nonce + kNonce, 0);
  for (int i = 0; i < 8; ++i) nonce[kNonce - 1 - i] = static_cast<unsigned char>(counter >> (8 * i));
}

}  // namespace

Status generate_reviewer_keys(const std::string& prefix) {
  if (file_exists(prefix + ".key") || file_exists(prefix + ".pub")) {
    return make_error("refusing to overwrite " + prefix + ".key / " + prefix + ".pub");
  }
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
  Bio priv(BIO_new(BIO_s_mem())), pub(BIO_new(BIO_s_mem()));
  if (!key || PEM_write_bio_PrivateKey(priv.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      PEM_write_bio_PUBKEY(pub.get(), key.get()) != 1) {
    return make_error("cannot generate an X25519 key");
  }
  char* p = nullptr;
  long plen = BIO_get_mem_data(priv.get(), &p);
  std::string priv_pem(p, static_cast<size_t>(plen));
  Status st = write_file_atomic(prefix + ".key", priv_pem, 0600, false);
  OPENSSL_cleanse(priv_pem.data(), priv_pem.size());
  if (!st) return st;
  long qlen = BIO_get_mem_data(pub.get(), &p);
  return write_file_atomic(prefix + ".pub", std::string(p, static_cast<size_t>(qlen)), 0644, false);
}

Result<std::vector<uint8_t>> load_reviewer_public_key(const std::string& path) {
  auto pem = read_file(path, 16 * 1024);
  if (!pem) return pem.error();
  Bio bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  Pkey key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!key || EVP_PKEY_get_id(key.get()) != EVP_PKEY_X25519) {
    return make_error(path + ": not an X25519 public key (make one with `bastionctl recording keygen`)");
  }
  return raw_public(key.get());
}

CastSealer::~CastSealer() { OPENSSL_cleanse(key_.data(), key_.size()); }

Result<std::unique_ptr<CastSealer>> CastSealer::create(std::span<const uint8_t> reviewer_pub,
                                                       const SealFormat& format) {
  if (reviewer_pub.size() != 32) return make_error("reviewer public key must be 32 bytes");
  Pkey eph(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
  if (!eph) return make_error("cannot generate an X25519 key");
  auto eph_pub = raw_public(eph.get());
  auto key = derive(eph.get(), reviewer_pub, eph_pub, reviewer_pub, format.info);
  if (!key) return key.error();
  std::unique_ptr<CastSealer> s(new CastSealer());
  s->key_ = std::move(*key);
  s->header_ = std::string(format.magic) + base64_encode(eph_pub) + " " + base64_encode(reviewer_pub) + "\n";
  return s;  // SECURITY: `eph` (the only other way to the key) is freed here.
}

Result<std::string> CastSealer::seal(std::string_view plain) {
  unsigned char nonce[kNonce];
  nonce_for(counter_++, nonce);
  CipherCtx c(EVP_CIPHER_CTX_new());
  std::string out(4 + kNonce + plain.size() + kTag, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int n = 0, fin = 0;
  if (!c || EVP_EncryptInit_ex(c.get(), EVP_aes_256_gcm(), nullptr, key_.data(), nonce) != 1 ||
      EVP_EncryptUpdate(c.get(), o + 4 + kNonce, &n, reinterpret_cast<const unsigned char*>(plain.data()),
                        static_cast<int>(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(c.get(), o + 4 + kNonce + n, &fin) != 1 ||
      EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_GET_TAG, kTag, o + 4 + kNonce + plain.size()) != 1) {
    return make_error("AES-256-GCM encryption failed");
  }
  auto len = static_cast<uint32_t>(kNonce + plain.size() + kTag);
  for (int i = 0; i < 4; ++i) o[i] = static_cast<unsigned char>(len >> (24 - 8 * i));
  std::copy(nonce, nonce + kNonce, o + 4);
  return out;
}

bool is_encrypted_cast(std::string_view bytes) {
  return bytes.substr(0, kEncryptedCastMagic.size()) == kEncryptedCastMagic;
}

CastOpener::~CastOpener() { OPENSSL_cleanse(key_.data(), key_.size()); }

Result<std::unique_ptr<CastOpener>> CastOpener::create(std::string_view header_line,
                                                       const std::string& private_key_path, const SealFormat& format) {
  const std::string what(format.what);
  if (!header_line.starts_with(format.magic)) return make_error("not an encrypted " + what);
  std::string_view line = header_line.substr(format.magic.size());
  size_t sp = line.find(' ');
  auto eph_pub = base64_decode(line.substr(0, sp));
  auto rev_pub = base64_decode(sp == std::string_view::npos ? "" : line.substr(sp + 1));
  if (!eph_pub || !rev_pub || eph_pub->size() != 32 || rev_pub->size() != 32)
    return make_error("corrupt " + what + " header");
  auto pem = read_file(private_key_path, 16 * 1024);
  if (!pem) return pem.error();
  Bio bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  Pkey priv(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  OPENSSL_cleanse(pem->data(), pem->size());
  if (!priv || EVP_PKEY_get_id(priv.get()) != EVP_PKEY_X25519)
    return make_error(private_key_path + ": not an X25519 private key");
  if (raw_public(priv.get()) != *rev_pub) {
    return make_error("this " + what + " was encrypted to a different " +
                      (format.magic == kEncryptedCastMagic ? "reviewer key" : "key"));
  }
  auto key = derive(priv.get(), *eph_pub, *eph_pub, *rev_pub, format.info);
  if (!key) return key.error();
  std::unique_ptr<CastOpener> o(new CastOpener());
  o->key_ = std::move(*key);
  o->what_ = format.what;
  return o;
}

Result<size_t> sealed_frame_size(std::string_view bytes) {
  if (bytes.size() < 4) return size_t{0};
  auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  uint32_t len = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
  if (len < kNonce + kTag || len > (64u << 20)) return make_error("corrupt recording frame");
  return size_t{4} + len;
}

Result<std::string> CastOpener::open(std::string_view frame, uint64_t counter) {
  auto* p = reinterpret_cast<const unsigned char*>(frame.data());
  unsigned char nonce[kNonce];
  nonce_for(counter, nonce);
  const std::string what(what_);
  if (frame.size() < 4 + kNonce + kTag) return make_error("corrupt " + what + " frame");
  if (!std::equal(nonce, nonce + kNonce, p + 4)) return make_error(what + " frames out of order");
  size_t clen = frame.size() - 4 - kNonce - kTag;
  std::string chunk(clen, '\0');
  CipherCtx c(EVP_CIPHER_CTX_new());
  int n = 0, fin = 0;
  if (!c || EVP_DecryptInit_ex(c.get(), EVP_aes_256_gcm(), nullptr, key_.data(), nonce) != 1 ||
      EVP_DecryptUpdate(c.get(), reinterpret_cast<unsigned char*>(chunk.data()), &n, p + 4 + kNonce,
                        static_cast<int>(clen)) != 1 ||
      EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_SET_TAG, kTag, const_cast<unsigned char*>(p + 4 + kNonce + clen)) !=
          1 ||
      EVP_DecryptFinal_ex(c.get(), reinterpret_cast<unsigned char*>(chunk.data()) + n, &fin) != 1) {
    return make_error(what + " frame " + std::to_string(counter) + " fails authentication (altered)");
  }
  return chunk;
}

Result<std::string> open_sealed_cast(std::string_view bytes, const std::string& private_key_path, bool& cut_off) {
  cut_off = false;
  size_t eol = bytes.find('\n');
  if (!is_encrypted_cast(bytes) || eol == std::string_view::npos) return make_error("not an encrypted recording");
  auto opener = CastOpener::create(bytes.substr(0, eol), private_key_path);
  if (!opener) return opener.error();
  std::string plain;
  size_t pos = eol + 1;
  for (uint64_t counter = 0; pos < bytes.size(); ++counter) {
    auto size = sealed_frame_size(bytes.substr(pos));
    if (!size) return size.error();
    if (*size == 0 || bytes.size() - pos < *size) {
      cut_off = true;
      break;
    }
    auto chunk = (*opener)->open(bytes.substr(pos, *size), counter);
    if (!chunk) return chunk.error();
    plain += *chunk;
    pos += *size;
  }
  return plain;
}

}  // namespace bastion::recorder
