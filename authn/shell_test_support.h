// Test-only helpers for authn's tests that check against the real OpenSSH
// tools: run a shell command, read a whole file. Header-only.
#pragma once

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace bastion::authn::test_support {

// Runs `cmd` through the shell; returns what it printed (stdout and stderr).
inline std::string sh(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  if (p) pclose(p);
  return out;
}

inline std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace bastion::authn::test_support
