// Recordings encrypted at rest, readable only with a reviewer's private key.
//
// Each file gets a fresh X25519 key pair; the file key is
// HKDF-SHA256(X25519(ephemeral, reviewer), salt = ephemeral_pub || reviewer_pub,
// info = "bastion recording v1"). The ephemeral private key is discarded at
// once, so a gateway compromised later cannot read past recordings: only the
// reviewer's private key can. The file is a magic line, then frames:
//   u32 length (big-endian) || 12-byte nonce (frame counter) || AES-256-GCM ciphertext || 16-byte tag
// one frame per flush, so a crash loses at most the last flush; frames cannot
// be reordered or altered undetected (the counter is the nonce; GCM tags).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace bastion::recorder {

inline constexpr std::string_view kEncryptedCastMagic = "bastion-encrypted-cast v1 ";

// What a sealed file is: its magic (the start of its header line) and the
// HKDF info its key is derived with, so that a file of one kind never opens
// as the other. Recordings and bastionctl backups share the scheme.
struct SealFormat {
  std::string_view magic;
  std::string_view info;
  std::string_view what;  // for messages: "recording", "backup"
};
inline constexpr SealFormat kRecordingSeal{kEncryptedCastMagic, "bastion recording v1", "recording"};
inline constexpr SealFormat kBackupSeal{"bastion-encrypted-backup v1 ", "bastion backup v1", "backup"};

// Writes PREFIX.key (PKCS#8 PEM, 0600) and PREFIX.pub (PEM); refuses to overwrite.
Status generate_reviewer_keys(const std::string& prefix);
// The raw 32-byte X25519 public key from a PEM file.
Result<std::vector<uint8_t>> load_reviewer_public_key(const std::string& path);

class CastSealer {
 public:
  static Result<std::unique_ptr<CastSealer>> create(std::span<const uint8_t> reviewer_public_key,
                                                    const SealFormat& format = kRecordingSeal);
  ~CastSealer();
  // The plaintext first line of the file (magic and the ephemeral public key).
  [[nodiscard]] const std::string& file_header() const { return header_; }
  Result<std::string> seal(std::string_view plaintext);

 private:
  CastSealer() = default;
  std::vector<uint8_t> key_;
  std::string header_;
  uint64_t counter_ = 0;
};

// Opens the frames of one file, one at a time (stream recordings decrypt block
// by block). `header_line`: the sealer's file_header() without its newline.
class CastOpener {
 public:
  static Result<std::unique_ptr<CastOpener>> create(std::string_view header_line, const std::string& private_key_path,
                                                    const SealFormat& format = kRecordingSeal);
  ~CastOpener();
  CastOpener(const CastOpener&) = delete;
  CastOpener& operator=(const CastOpener&) = delete;
  // FRAME: one whole frame as seal() made it (length prefix included), the
  // `counter`-th of its file.
  Result<std::string> open(std::string_view frame, uint64_t counter);

 private:
  CastOpener() = default;
  std::vector<uint8_t> key_;
  std::string_view what_ = "recording";
};

// The length of the sealed frame at the start of `bytes` (prefix included),
// 0 if `bytes` is too short to tell; an error if the prefix is implausible.
Result<size_t> sealed_frame_size(std::string_view bytes);

bool is_encrypted_cast(std::string_view file_bytes);
// Decrypts a whole file with the reviewer's private key (PEM file). A cut-off
// last frame (a crash mid-write) is dropped and reported in `cut_off`.
Result<std::string> open_sealed_cast(std::string_view file_bytes, const std::string& private_key_path, bool& cut_off);

}  // namespace bastion::recorder
