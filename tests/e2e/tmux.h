// A real terminal for e2e tests: tmux with a socket of its own.
#pragma once

#include <unistd.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "fixture.h"

namespace bastion::e2e {

// A shell-quoted word, for the command line tmux runs.
inline std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A tmux server of its own (socket in the test's folder) with one window
// running ARGV: the terminal a person would have. Killed on destruction.
class Tmux {
 public:
  Tmux(const std::string& dir, const std::vector<std::string>& argv, int rows, int cols)
      : socket_(dir + "/tmux-" + std::to_string(::getpid()) + ".sock") {
    std::string command;
    for (const auto& a : argv) command += (command.empty() ? "" : " ") + quoted(a);
    auto r = run({"tmux", "-S", socket_, "-f", "/dev/null", "new-session", "-d", "-x", std::to_string(cols), "-y",
                  std::to_string(rows), command});
    if (r.exit_code != 0) throw std::runtime_error("tmux new-session failed: " + r.err);
  }
  ~Tmux() { (void)run({"tmux", "-S", socket_, "kill-server"}); }
  Tmux(const Tmux&) = delete;
  Tmux& operator=(const Tmux&) = delete;

  // Literal text.
  void type(const std::string& text) { (void)run({"tmux", "-S", socket_, "send-keys", "-t", "0", "-l", text}); }
  // Named keys: "Enter", "Tab", "Up", "BSpace", "C-a".
  void keys(const std::vector<std::string>& names) {
    std::vector<std::string> argv = {"tmux", "-S", socket_, "send-keys", "-t", "0"};
    argv.insert(argv.end(), names.begin(), names.end());
    (void)run(argv);
  }
  std::string screen() { return run({"tmux", "-S", socket_, "capture-pane", "-p", "-t", "0"}).out; }
  bool shows(const std::string& needle, int timeout_ms = 15000) {
    return wait_for([&] { return screen().find(needle) != std::string::npos; }, timeout_ms);
  }
  bool gone(int timeout_ms = 15000) {
    return wait_for([&] { return run({"tmux", "-S", socket_, "has-session"}).exit_code != 0; }, timeout_ms);
  }

 private:
  std::string socket_;
};

}  // namespace bastion::e2e
