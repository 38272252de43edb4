#include "recorder/sftp_content.h"

#include <span>

#include "common/ssh_wire.h"
#include "recorder/sftp_audit.h"
#include "recorder/sftp_wire.h"

namespace bastion::recorder {

using namespace sftp;  // NOLINT(google-build-using-namespace): the packet types, file-local

namespace {

// Cuts one direction's bytes into packets (uint32 length, then the packet).
class Packets {
 public:
  using Each = std::function<Status(std::span<const uint8_t>)>;
  Status feed(std::string_view bytes, const Each& each) {
    buf_.append(bytes);
    size_t pos = 0;
    Status st;
    while (st && buf_.size() - pos >= 4) {
      const auto* p = reinterpret_cast<const uint8_t*>(buf_.data() + pos);
      uint32_t len = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
      if (len == 0 || len > SftpAuditor::kMaxPacket) {
        return make_error("an SFTP packet of " + std::to_string(len) + " bytes: not an SFTP conversation");
      }
      if (buf_.size() - pos - 4 < len) break;
      st = each({p + 4, len});
      pos += 4 + size_t{len};
    }
    buf_.erase(0, pos);
    return st;
  }

 private:
  std::string buf_;
};

std::string_view as_view(std::span<const uint8_t> s) { return {reinterpret_cast<const char*>(s.data()), s.size()}; }

Error malformed(const char* what) { return make_error(std::string("malformed SFTP ") + what + " in the recording"); }

}  // namespace

struct SftpReplay::Impl {
  struct Request {
    uint8_t type = 0;
    std::string path;    // OPEN
    std::string handle;  // READ
    uint64_t offset = 0;
  };

  int want = 0;
  Sink sink;
  Packets from_client, from_server;
  std::vector<SftpTransfer> transfers;
  std::map<uint32_t, Request> pending;  // requests waiting for their answer, by id
  std::map<std::string, size_t> open;   // handle -> index in `transfers`
  // The wanted transfer's content: written up to `next`, the rest held by offset.
  uint64_t next = 0;
  std::map<uint64_t, std::string> held;
  size_t held_bytes = 0;

  Status content(size_t index, uint64_t offset, std::string_view data);
  Status drain();
  Status on_client(std::span<const uint8_t> packet);
  Status on_server(std::span<const uint8_t> packet);
};

Status SftpReplay::Impl::content(size_t index, uint64_t offset, std::string_view data) {
  if (!sink || transfers[index].number != want || data.empty()) return {};
  if (offset > next) {
    if (held_bytes + data.size() > kMaxReorderBytes) {
      return make_error("transfer " + std::to_string(want) + ": more than " + std::to_string(kMaxReorderBytes >> 20) +
                        " MiB arrive ahead of byte " + std::to_string(next) +
                        " (out of order or missing): cannot put it together");
    }
    std::string& slot = held[offset];  // a later write of the same offset wins
    held_bytes = held_bytes - slot.size() + data.size();
    slot.assign(data);
    return {};
  }
  if (offset + data.size() <= next) return {};  // already written (a write repeated)
  data.remove_prefix(next - offset);
  if (auto st = sink(data); !st) return st;
  next += data.size();
  return drain();
}

// Writes the held pieces that now follow on.
Status SftpReplay::Impl::drain() {
  while (!held.empty() && held.begin()->first <= next) {
    auto node = held.extract(held.begin());
    held_bytes -= node.mapped().size();
    uint64_t end = node.key() + node.mapped().size();
    if (end <= next) continue;
    std::string_view rest = std::string_view(node.mapped()).substr(next - node.key());
    if (auto st = sink(rest); !st) return st;
    next = end;
  }
  return {};
}

Status SftpReplay::Impl::on_client(std::span<const uint8_t> packet) {
  WireReader r(packet);
  auto type = r.u8();
  if (!type) return malformed("request");
  if (*type == kInit) return {};
  auto id = r.u32();
  if (!id) return malformed("request");
  if (*type == kOpen) {
    auto path = r.text();
    if (!path) return malformed("OPEN");
    pending[*id] = {kOpen, std::move(*path), {}, 0};
  } else if (*type == kRead) {
    auto handle = r.text();
    if (!handle) return malformed("READ");
    auto offset = r.u64();
    if (!offset) return malformed("READ");
    pending[*id] = {kRead, {}, std::move(*handle), *offset};
  } else if (*type == kWrite) {
    auto handle = r.text();
    if (!handle) return malformed("WRITE");
    auto offset = r.u64();
    if (!offset) return malformed("WRITE");
    auto data = r.string();
    if (!data) return malformed("WRITE");
    auto it = open.find(*handle);
    if (it == open.end()) return {};  // a handle this replay did not see opened (e.g. a directory)
    transfers[it->second].uploaded += data->size();
    return content(it->second, *offset, as_view(*data));
  } else if (*type == kClose) {
    auto handle = r.text();
    if (!handle) return malformed("CLOSE");
    if (auto it = open.find(*handle); it != open.end()) {
      transfers[it->second].closed = true;
      open.erase(it);  // the target may hand the same handle out again
    }
  }
  return {};
}

Status SftpReplay::Impl::on_server(std::span<const uint8_t> packet) {
  WireReader r(packet);
  auto type = r.u8();
  if (!type) return malformed("answer");
  if (*type == kVersion) return {};
  auto id = r.u32();
  if (!id) return malformed("answer");
  auto req = pending.find(*id);
  if (req == pending.end()) return {};
  Request q = std::move(req->second);
  pending.erase(req);
  if (*type == kHandle && q.type == kOpen) {
    auto handle = r.text();
    if (!handle) return malformed("HANDLE");
    transfers.push_back({static_cast<int>(transfers.size()) + 1, std::move(q.path), 0, 0, false});
    open[*handle] = transfers.size() - 1;
  } else if (*type == kData && q.type == kRead) {
    auto data = r.string();
    if (!data) return malformed("DATA");
    auto it = open.find(q.handle);
    if (it == open.end()) return {};
    transfers[it->second].downloaded += data->size();
    return content(it->second, q.offset, as_view(*data));
  }
  return {};
}

SftpReplay::SftpReplay() : impl_(std::make_unique<Impl>()) {}

SftpReplay::SftpReplay(int want, Sink sink) : impl_(std::make_unique<Impl>()) {
  impl_->want = want;
  impl_->sink = std::move(sink);
}

SftpReplay::~SftpReplay() = default;

Status SftpReplay::client(std::string_view bytes) {
  return impl_->from_client.feed(bytes, [this](std::span<const uint8_t> p) { return impl_->on_client(p); });
}

Status SftpReplay::server(std::string_view bytes) {
  return impl_->from_server.feed(bytes, [this](std::span<const uint8_t> p) { return impl_->on_server(p); });
}

Status SftpReplay::finish() {
  Impl& m = *impl_;
  if (!m.sink) return {};
  if (m.want < 1 || static_cast<size_t>(m.want) > m.transfers.size()) {
    return make_error(ErrorCode::kNotFound, "there is no transfer " + std::to_string(m.want) + " (the channel has " +
                                                std::to_string(m.transfers.size()) + ")");
  }
  if (!m.held.empty()) {
    return make_error("transfer " + std::to_string(m.want) + " (" + m.transfers[m.want - 1].path +
                      "): the recording does not hold bytes " + std::to_string(m.next) + " to " +
                      std::to_string(m.held.begin()->first) + " (never read or written); the bytes before them " +
                      "were written");
  }
  return {};
}

const std::vector<SftpTransfer>& SftpReplay::transfers() const { return impl_->transfers; }

}  // namespace bastion::recorder
