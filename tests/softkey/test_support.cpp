#include "test_support.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "common/c_handle.h"

namespace bastion::softkey_test {
namespace {

using File = bastion::CHandle<FILE, std::fclose>;

std::string slurp(FILE* f) {
  std::string s;
  std::rewind(f);
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  return s;
}

// In the forked child: only async-signal-tolerant work, then exec.
[[noreturn]] void exec_child(const std::vector<std::string>& argv, const Env& env, const std::string& in, FILE* out,
                             FILE* err) {
  std::vector<std::string> drop;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string name(*e, std::strcspn(*e, "="));
    if (name.rfind("BASTION_SOFTKEY_", 0) == 0 || name == "SSH_SK_PROVIDER" || name == "SSH_AUTH_SOCK") {
      drop.push_back(name);
    }
  }
  for (const auto& name : drop) unsetenv(name.c_str());
  for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
  FILE* input = std::fopen(in.c_str(), "r");
  if (input == nullptr) _exit(126);
  dup2(fileno(input), 0);
  dup2(fileno(out), 1);
  dup2(fileno(err), 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execvp(args[0], args.data());
  _exit(127);
}

}  // namespace

RunResult run(const std::vector<std::string>& argv, const Env& env, const std::string& in) {
  File out(std::tmpfile());
  File err(std::tmpfile());
  RunResult r;
  if (!out || !err || argv.empty()) return r;
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) exec_child(argv, env, in, out.get(), err.get());
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out.get());
  r.err = slurp(err.get());
  return r;
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/softkey-test-XXXXXX";
  if (mkdtemp(tmpl) != nullptr) path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

Bytes base64_decode(std::string text) {
  std::erase_if(text, [](char c) { return c == '\n' || c == '\r' || c == ' ' || c == '\t'; });
  if (text.size() % 4 != 0) return {};
  Bytes out(text.size() / 4 * 3);
  int n =
      EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return {};
  size_t pad = static_cast<size_t>(std::count(text.end() - std::min<ptrdiff_t>(2, std::ssize(text)), text.end(), '='));
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string base64_encode(const Bytes& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Bytes sha256(const Bytes& bytes) {
  Bytes d(SHA256_DIGEST_LENGTH);
  SHA256(bytes.data(), bytes.size(), d.data());
  return d;
}

uint32_t Wire::u32() {
  if (!ok_ || bytes_.size() - pos_ < 4) {
    ok_ = false;
    return 0;
  }
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = v << 8 | bytes_[pos_++];
  return v;
}

Bytes Wire::string() {
  uint32_t n = u32();
  if (!ok_ || bytes_.size() - pos_ < n) {
    ok_ = false;
    return {};
  }
  auto first = bytes_.begin() + static_cast<ptrdiff_t>(pos_);
  pos_ += n;
  return Bytes(first, first + n);
}

std::string Wire::text() {
  Bytes b = string();
  return std::string(b.begin(), b.end());
}

Bytes sk_public_key(const std::string& pub_line) {
  std::istringstream in(pub_line);
  std::string type, b64;
  in >> type >> b64;
  Wire w(base64_decode(b64));
  if (w.text() != type) return {};
  if (type.find("ecdsa") != std::string::npos) w.string();  // curve name
  return w.string();
}

namespace {
const std::string kBegin = "-----BEGIN OPENSSH PRIVATE KEY-----\n";
const std::string kEnd = "-----END OPENSSH PRIVATE KEY-----\n";
}  // namespace

Bytes read_openssh_private_blob(const std::string& path) {
  std::string text = read_text(path);
  size_t end = text.find(kEnd);
  if (text.rfind(kBegin, 0) != 0 || end == std::string::npos) return {};
  return base64_decode(text.substr(kBegin.size(), end - kBegin.size()));
}

void write_openssh_private_blob(const std::string& path, const Bytes& blob) {
  std::string b64 = base64_encode(blob), wrapped;
  for (size_t i = 0; i < b64.size(); i += 70) wrapped += b64.substr(i, 70) + "\n";
  write_text(path, kBegin + wrapped + kEnd);
}

}  // namespace bastion::softkey_test
