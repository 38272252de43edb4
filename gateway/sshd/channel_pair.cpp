#include "gateway/sshd/channel_pair.h"

#include <algorithm>

namespace bastion::gateway {
namespace {

constexpr uint32_t kChunk = 32 * 1024;
constexpr uint64_t kMaxPerTurn = 1 << 20;  // fairness between directions

// Moves bytes from src to dst as far as dst's window allows; each chunk is
// also shown to `tap` (the recording, the SFTP auditor) before it is forwarded.
// SECURITY: a chunk the tap rejects is not forwarded, and nothing after it: the
// SFTP auditor rejects a request it refuses (or cannot audit) in the chunk that
// completes it, so the target never receives that request whole.
template <class Tap>
uint64_t move(ssh_channel src, ssh_channel dst, bool is_stderr, Tap&& tap) {
  char buf[kChunk];
  uint64_t moved = 0;
  while (moved < kMaxPerTurn) {
    uint32_t window = ssh_channel_window_size(dst);
    if (window == 0) break;
    int n = ssh_channel_read_nonblocking(src, buf, std::min(window, kChunk), is_stderr ? 1 : 0);
    if (n <= 0) break;
    if (!tap(std::string_view(buf, static_cast<size_t>(n)))) break;
    int w = is_stderr ? ssh_channel_write_stderr(dst, buf, static_cast<uint32_t>(n))
                      : ssh_channel_write(dst, buf, static_cast<uint32_t>(n));
    if (w < 0) break;
    moved += static_cast<uint64_t>(n);
  }
  return moved;
}

int available(ssh_channel ch, int is_stderr) {
  int n = ssh_channel_poll(ch, is_stderr);
  return n > 0 ? n : 0;
}

}  // namespace

uint64_t pump(ChannelPair& p) {
  if (!p.state.running() || p.in == nullptr || p.up == nullptr) return 0;
  uint64_t total = 0;
  auto to_target = [&](std::string_view b) {
    if (p.rec) (void)p.rec->input(b);
    if (p.sftp && p.sftp_error.empty()) {
      if (auto st = p.sftp->client_data(b); !st) p.sftp_error = st.message();
    }
    return !p.sftp || p.sftp_error.empty();
  };
  auto to_client = [&](std::string_view b) {
    if (p.rec) (void)p.rec->output(b);
    if (p.sftp && p.sftp_error.empty()) {
      if (auto st = p.sftp->server_data(b); !st) p.sftp_error = st.message();
    }
    return !p.sftp || p.sftp_error.empty();
  };
  auto to_client_stderr = [&](std::string_view b) {
    if (p.rec) (void)p.rec->error_output(b);
    return true;
  };
  if (p.state.forwards_to_target() && ssh_channel_is_open(p.up)) {
    uint64_t n = move(p.in, p.up, false, to_target);
    p.bytes_in += n;
    total += n;
  }
  if (p.state.forwards_to_client() && ssh_channel_is_open(p.in)) {
    uint64_t n = move(p.up, p.in, false, to_client);
    uint64_t e = move(p.up, p.in, true, to_client_stderr);
    p.bytes_out += n + e;
    total += n + e;
  }
  return total;
}

bool upstream_drained(const ChannelPair& p) { return available(p.up, 0) == 0 && available(p.up, 1) == 0; }

void tell_client(ssh_channel in, const std::string& text) {
  if (in == nullptr || !ssh_channel_is_open(in)) return;
  ssh_channel_write_stderr(in, text.data(), static_cast<uint32_t>(text.size()));
}

}  // namespace bastion::gateway
