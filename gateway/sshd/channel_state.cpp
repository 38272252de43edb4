#include "gateway/sshd/channel_state.h"

namespace bastion::gateway {

void Direction::on_eof() {
  if (half_ == HalfClose::kOpen) half_ = HalfClose::kEofReceived;
}

void Direction::eof_forwarded() {
  if (half_ == HalfClose::kEofReceived) half_ = HalfClose::kEofForwarded;
}

void Direction::on_close() { closed_ = true; }

void ChannelState::start() {
  if (stage_ == Stage::kNew) stage_ = Stage::kStarting;
}

void ChannelState::run() { stage_ = Stage::kRunning; }

void ChannelState::finish() { finished_ = true; }

}  // namespace bastion::gateway
