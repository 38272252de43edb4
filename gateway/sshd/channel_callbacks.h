// libssh channel callbacks for ChannelPair: they only record what the peer
// asked for; Connection's loop acts on it.
#pragma once

#include "gateway/sshd/channel_pair.h"

namespace bastion::gateway {

void install_ingress_callbacks(ChannelPair& p);
void install_upstream_callbacks(ChannelPair& p);

}  // namespace bastion::gateway
