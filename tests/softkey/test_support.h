// Helpers shared by the software-key tests: run a real program and wait for
// it, temporary directories, and the few OpenSSH encodings the tests read.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace bastion::softkey_test {

using Bytes = std::vector<uint8_t>;
using Env = std::vector<std::pair<std::string, std::string>>;

// The library under test (set by CMake).
inline const std::string kLib = BASTION_SOFTKEY_PATH;

struct RunResult {
  int exit_code = -1;  // 128+N when killed by signal N; -1 when not started
  std::string out, err;
};

// Runs argv (no shell) with stdin from `in`, waits, and captures output. The
// child starts without our BASTION_SOFTKEY_*, SSH_SK_PROVIDER and
// SSH_AUTH_SOCK, then gets `env`.
RunResult run(const std::vector<std::string>& argv, const Env& env = {}, const std::string& in = "/dev/null");

std::string read_text(const std::string& path);
void write_text(const std::string& path, const std::string& text);

// A fresh directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Bytes base64_decode(std::string text);  // ignores whitespace; {} on error
std::string base64_encode(const Bytes& bytes);
Bytes sha256(const Bytes& bytes);

// Reader of SSH wire data (RFC 4251 strings and u32). After a short read,
// ok() is false and every further read returns empty/0.
class Wire {
 public:
  explicit Wire(Bytes bytes) : bytes_(std::move(bytes)) {}
  uint32_t u32();
  Bytes string();
  std::string text();
  bool ok() const { return ok_; }
  bool at_end() const { return pos_ == bytes_.size(); }

 private:
  Bytes bytes_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// The public key in an OpenSSH security-key .pub line: 32 raw Ed25519 bytes
// or the 65-byte P-256 point.
Bytes sk_public_key(const std::string& pub_line);

// The private-key file's outer container: base64 between the armour lines.
Bytes read_openssh_private_blob(const std::string& path);
void write_openssh_private_blob(const std::string& path, const Bytes& blob);

}  // namespace bastion::softkey_test
