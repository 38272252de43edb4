#include "recorder/sftp_audit.h"

#include "common/ssh_wire.h"

namespace bastion::recorder {
namespace {

enum : uint8_t {
  kInit = 1, kVersion = 2, kOpen = 3, kClose = 4, kRead = 5, kWrite = 6, kSetstat = 9, kFsetstat = 10,
  kRemove = 13, kMkdir = 14, kRmdir = 15, kRename = 18, kSymlink = 20, kExtended = 200,
  kStatus = 101, kHandle = 102, kData = 103,
};
constexpr uint32_t kReadFlag = 0x01, kWriteFlag = 0x02;
// SECURITY: bounds what one channel can make the auditor hold. OpenSSH's
// sftp keeps at most 64 requests in flight; a path is kept to 4 KiB (PATH_MAX)
// in the record; so pending requests stay under ~8 MiB even for a hostile client.
constexpr size_t kMaxPending = 1024, kMaxOpen = 1024, kMaxPathKept = 4096;

std::string kept_path(std::string_view path) {
  if (path.size() <= kMaxPathKept) return std::string(path);
  return std::string(path.substr(0, kMaxPathKept)) + "...(" + std::to_string(path.size()) + " bytes)";
}

Error malformed(const char* what) { return make_error(std::string("malformed SFTP packet: ") + what); }

std::span<const uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

Status SftpAuditor::client_data(std::string_view b) { return feed(client_buf_, b, true); }
Status SftpAuditor::server_data(std::string_view b) { return feed(server_buf_, b, false); }

std::vector<FileEvent> SftpAuditor::take_events() { return std::exchange(events_, {}); }

std::vector<FileEvent> SftpAuditor::close_all(const std::string& why) {
  for (auto& [handle, f] : open_) {
    events_.push_back({"close", f.path, "", f.mode, f.read, f.written, false, why});
  }
  open_.clear();
  return take_events();
}

Status SftpAuditor::feed(std::string& buf, std::string_view in, bool from_client) {
  buf.append(in);
  size_t pos = 0;
  while (buf.size() - pos >= 4) {
    auto* p = reinterpret_cast<const uint8_t*>(buf.data() + pos);
    uint32_t len = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
    if (len == 0 || len > kMaxPacket) return malformed("bad length");
    if (buf.size() - pos - 4 < len) break;
    std::string_view packet(buf.data() + pos + 4, len);
    auto type = static_cast<uint8_t>(packet[0]);
    Status st = from_client ? on_request(type, packet.substr(1)) : on_response(type, packet.substr(1));
    if (!st) return st;
    pos += 4 + len;
  }
  buf.erase(0, pos);
  if (buf.size() > kMaxPacket + 4) return malformed("packet too large");
  return {};
}

Status SftpAuditor::on_request(uint8_t type, std::string_view body) {
  if (type == kInit) return {};
  WireReader r(bytes(body));
  auto id = r.u32();
  if (!id) return malformed("missing request id");
  Pending p{type, "", "", "", ""};
  switch (type) {
    case kOpen: {
      auto path = r.text();
      auto flags = r.u32();
      if (!path || !flags) return malformed("OPEN");
      p.path = kept_path(*path);
      bool rd = *flags & kReadFlag, wr = *flags & kWriteFlag;
      p.mode = rd && wr ? "read+write" : wr ? "write" : "read";
      break;
    }
    case kClose: {
      auto h = r.text();
      if (!h) return malformed("CLOSE");
      if (auto it = open_.find(*h); it != open_.end()) {
        events_.push_back({"close", it->second.path, "", it->second.mode, it->second.read, it->second.written, true, "ok"});
        open_.erase(it);
      }
      return {};
    }
    case kRead: {
      auto h = r.text();
      if (!h) return malformed("READ");
      p.handle = *h;
      break;
    }
    case kWrite: {
      auto h = r.text();
      auto off = r.u64();
      auto data = r.string();
      if (!h || !off || !data) return malformed("WRITE");
      if (auto it = open_.find(*h); it != open_.end()) it->second.written += data->size();
      return {};
    }
    case kRemove: case kRmdir: case kMkdir: case kSetstat: {
      auto path = r.text();
      if (!path) return malformed("path request");
      p.path = kept_path(*path);
      break;
    }
    case kFsetstat: {
      auto h = r.text();
      if (!h) return malformed("FSETSTAT");
      if (auto it = open_.find(*h); it != open_.end()) p.path = it->second.path;
      break;
    }
    case kRename: case kSymlink: {
      auto a = r.text();
      auto b = r.text();
      if (!a || !b) return malformed("two-path request");
      p.path = kept_path(*a);
      p.path2 = kept_path(*b);
      break;
    }
    case kExtended: {
      auto name = r.text();
      if (!name) return malformed("EXTENDED");
      if (*name == "posix-rename@openssh.com" || *name == "hardlink@openssh.com") {
        auto a = r.text();
        auto b = r.text();
        if (!a || !b) return malformed("EXTENDED rename");
        p.type = kRename;
        p.path = kept_path(*a);
        p.path2 = kept_path(*b);
        break;
      }
      return {};
    }
    default:
      return {};  // stat, opendir, readdir, realpath...: not file operations we record
  }
  if (pending_.size() >= kMaxPending) return malformed("too many outstanding requests");
  pending_[*id] = std::move(p);
  return {};
}

Status SftpAuditor::on_response(uint8_t type, std::string_view body) {
  if (type == kVersion) return {};
  WireReader r(bytes(body));
  auto id = r.u32();
  if (!id) return malformed("missing response id");
  auto it = pending_.find(*id);
  if (it == pending_.end()) return {};
  Pending p = std::move(it->second);
  pending_.erase(it);
  if (type == kHandle && p.type == kOpen) {
    auto h = r.text();
    if (!h) return malformed("HANDLE");
    if (open_.size() >= kMaxOpen) return malformed("too many open files");
    open_[*h] = OpenFile{p.path, p.mode, 0, 0};
    events_.push_back({"open", p.path, "", p.mode, 0, 0, true, "ok"});
    return {};
  }
  if (type == kData && p.type == kRead) {
    auto data = r.string();
    if (!data) return malformed("DATA");
    if (auto f = open_.find(p.handle); f != open_.end()) f->second.read += data->size();
    return {};
  }
  if (type != kStatus || p.type == kRead) return {};
  auto code = r.u32();
  auto msg = r.text();
  if (!code) return malformed("STATUS");
  static const std::map<uint8_t, const char*> names = {
      {kOpen, "open"}, {kRemove, "remove"}, {kRmdir, "rmdir"}, {kMkdir, "mkdir"}, {kSetstat, "setstat"},
      {kFsetstat, "setstat"}, {kRename, "rename"}, {kSymlink, "symlink"}};
  auto n = names.find(p.type);
  if (n == names.end()) return {};
  bool ok = *code == 0;
  std::string status = ok ? "ok" : (msg && !msg->empty() ? *msg : "failure " + std::to_string(*code));
  events_.push_back({n->second, p.path, p.path2, p.mode, 0, 0, ok, status});
  return {};
}

}  // namespace bastion::recorder
