// Small helpers shared by the fuzz targets (header-only, fuzz builds only).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/openssl_handles.h"
#include "common/x509_builder.h"

namespace bastion::fuzz {

// A property the code under test must keep. A violation is a finding: it
// aborts, so libFuzzer saves the input as a crash.
#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// One private temporary directory per process, removed at exit.
inline const std::string& temp_dir() {
  static const std::string dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "bastion-fuzz-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    static std::string to_remove;
    to_remove = tmpl;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(to_remove, ec);
    });
    return tmpl;
  }();
  return dir;
}

// Replaces the file at `path` with `content` (plain write; not atomic).
inline void write_whole_file(const std::string& path, std::string_view content) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    std::perror(path.c_str());
    std::abort();
  }
  if (!content.empty() && std::fwrite(content.data(), 1, content.size(), f) != content.size()) {
    std::perror(path.c_str());
    std::abort();
  }
  std::fclose(f);
}

// A self-signed CA certificate (PEM) whose private key is dropped on return:
// a trust root nothing the fuzzer makes can chain to.
inline std::string make_untouchable_root(const char* cn) {
  Pkey key(EVP_EC_gen("P-256"));
  FUZZ_CHECK(key);
  CertificateSpec spec = ca_spec(cn, 365L * 24 * 3600);
  spec.backdate_seconds = 3600;
  auto cert = make_certificate(key.get(), spec);
  FUZZ_CHECK(cert);
  auto pem = certificate_pem(cert->get());
  FUZZ_CHECK(pem && !pem->empty());
  return *pem;
}

}  // namespace bastion::fuzz
