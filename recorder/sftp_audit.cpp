#include "recorder/sftp_audit.h"

#include <cstdio>
#include <utility>

#include "common/encoding.h"
#include "common/ssh_wire.h"
#include "recorder/sftp_wire.h"

namespace bastion::recorder {

using namespace sftp;  // NOLINT(google-build-using-namespace): the packet types, file-local

namespace {

constexpr uint32_t kFxfRead = 0x01, kFxfWrite = 0x02, kFxfAppend = 0x04, kFxfCreat = 0x08, kFxfTrunc = 0x10,
                   kFxfExcl = 0x20;
constexpr uint32_t kAttrSize = 0x01, kAttrUidGid = 0x02, kAttrPermissions = 0x04, kAttrTimes = 0x08,
                   kAttrExtended = 0x80000000;
// SECURITY: bounds what one channel can make the auditor hold. OpenSSH's
// sftp keeps at most 64 requests in flight; a path or argument is kept to
// 4 KiB (PATH_MAX) in the record and a handle is at most 256 bytes (draft-02
// section 3.2), so pending requests stay under ~16 MiB even for a hostile client.
constexpr size_t kMaxPending = 1024, kMaxOpen = 1024, kMaxPathKept = 4096, kMaxHandle = 256;

std::string kept(std::string_view text) {
  if (text.size() <= kMaxPathKept) return std::string(text);
  return std::string(text.substr(0, kMaxPathKept)) + "...(" + std::to_string(text.size()) + " bytes)";
}

// A handle longer than draft-02 allows names no open file; kept as "" (unknown).
std::string handle_kept(std::string_view handle) {
  return handle.size() <= kMaxHandle ? std::string(handle) : std::string();
}

Error malformed(const std::string& what) { return make_error("malformed SFTP packet: " + what); }
Error violation(const std::string& what) { return make_error("SFTP protocol violation: " + what); }

std::span<const uint8_t> bytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

void add_word(std::string& out, const std::string& word) {
  if (!out.empty()) out += ' ';
  out += word;
}

std::string octal(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0%o", v);
  return buf;
}

// "READ|CREAT|TRUNC", with any bit version 3 does not define in hex.
std::string open_flags(uint32_t pflags) {
  static constexpr std::pair<uint32_t, const char*> kNames[] = {{kFxfRead, "READ"},     {kFxfWrite, "WRITE"},
                                                                {kFxfAppend, "APPEND"}, {kFxfCreat, "CREAT"},
                                                                {kFxfTrunc, "TRUNC"},   {kFxfExcl, "EXCL"}};
  std::string out;
  for (auto [bit, name] : kNames) {
    if ((pflags & bit) == 0) continue;
    out += out.empty() ? "" : "|";
    out += name;
    pflags &= ~bit;
  }
  if (pflags != 0) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%x", pflags);
    out += out.empty() ? hex : std::string("|") + hex;
  }
  return out;
}

// SECURITY: CREAT, TRUNC and APPEND change the file even without WRITE
// (OpenSSH opens READ|CREAT|TRUNC as O_RDONLY|O_CREAT|O_TRUNC, which empties
// it); recording such an open as a read would hide the change.
std::string open_mode(uint32_t pflags) {
  bool rd = pflags & kFxfRead;
  bool wr = pflags & (kFxfWrite | kFxfAppend | kFxfCreat | kFxfTrunc);
  return rd && wr ? "read+write" : wr ? "write" : "read";
}

// The attributes a request sets (draft-02 section 5), e.g. "uid=0 gid=0 mode=04755".
Status read_attrs(WireReader& r, std::string& out) {
  auto flags = r.u32();
  if (!flags) return malformed("attributes");
  if (*flags & kAttrSize) {
    auto size = r.u64();
    if (!size) return malformed("attributes");
    add_word(out, "size=" + std::to_string(*size));
  }
  if (*flags & kAttrUidGid) {
    auto uid = r.u32();
    auto gid = r.u32();
    if (!uid || !gid) return malformed("attributes");
    add_word(out, "uid=" + std::to_string(*uid) + " gid=" + std::to_string(*gid));
  }
  if (*flags & kAttrPermissions) {
    auto mode = r.u32();
    if (!mode) return malformed("attributes");
    add_word(out, "mode=" + octal(*mode));
  }
  if (*flags & kAttrTimes) {
    auto atime = r.u32();
    auto mtime = r.u32();
    if (!atime || !mtime) return malformed("attributes");
    add_word(out, "atime=" + std::to_string(*atime) + " mtime=" + std::to_string(*mtime));
  }
  if (*flags & kAttrExtended) {
    auto count = r.u32();
    if (!count) return malformed("attributes");
    for (uint32_t i = 0; i < *count; ++i) {
      auto name = r.text();
      auto data = r.string();
      if (!name || !data) return malformed("attributes");
      add_word(out, "ext=" + kept(*name));
    }
  }
  out = kept(out);
  return {};
}

// users-groups-by-id@openssh.com: a string of packed uint32 ids.
Result<std::string> id_list(WireReader& r) {
  auto packed = r.string();
  if (!packed || packed->size() % 4 != 0) return malformed("users-groups-by-id");
  std::string out;
  for (size_t i = 0; i < packed->size() && out.size() <= kMaxPathKept; i += 4) {
    const uint8_t* p = packed->data() + i;
    uint32_t id = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
    out += (out.empty() ? "" : ",") + std::to_string(id);
  }
  return out;
}

}  // namespace

// What each request carries (its arguments) and which reply answers it
// besides STATUS. A request that is not here is refused.
struct SftpAuditor::Rule {
  enum class Args {
    kNone,
    kPath,
    kPathAttrs,
    kOpen,
    kTwoPaths,
    kSymlink,
    kUser,
    kIdLists,
    kHandle,
    kHandleAttrs,
    kRead,
    kWrite,
    kCopyData
  };
  uint8_t type;
  std::string_view extension;  // for kExtended
  const char* action;
  Args args;
  uint8_t reply;
};

namespace {

using Args = SftpAuditor::Rule::Args;
// SECURITY: the extension allow-list. Every extension here is parsed and
// audited with its arguments; any other is refused, because its effect on the
// target (a chmod, a copy, a chown...) would otherwise go unrecorded.
constexpr SftpAuditor::Rule kRules[] = {
    {kOpen, "", "open", Args::kOpen, kHandle},
    {kClose, "", "close", Args::kHandle, 0},
    {kRead, "", "read", Args::kRead, kData},
    {kWrite, "", "write", Args::kWrite, 0},
    {kLstat, "", "lstat", Args::kPath, kAttrs},
    {kFstat, "", "fstat", Args::kHandle, kAttrs},
    {kSetstat, "", "setstat", Args::kPathAttrs, 0},
    {kFsetstat, "", "fsetstat", Args::kHandleAttrs, 0},
    {kOpendir, "", "opendir", Args::kPath, kHandle},
    {kReaddir, "", "readdir", Args::kHandle, kName},
    {kRemove, "", "remove", Args::kPath, 0},
    {kMkdir, "", "mkdir", Args::kPathAttrs, 0},
    {kRmdir, "", "rmdir", Args::kPath, 0},
    {kRealpath, "", "realpath", Args::kPath, kName},
    {kStat, "", "stat", Args::kPath, kAttrs},
    {kRename, "", "rename", Args::kTwoPaths, 0},
    {kReadlink, "", "readlink", Args::kPath, kName},
    {kSymlink, "", "symlink", Args::kSymlink, 0},
    {kExtended, "posix-rename@openssh.com", "rename", Args::kTwoPaths, 0},
    {kExtended, "hardlink@openssh.com", "hardlink", Args::kTwoPaths, 0},
    {kExtended, "fsync@openssh.com", "fsync", Args::kHandle, 0},
    {kExtended, "statvfs@openssh.com", "statvfs", Args::kPath, kExtendedReply},
    {kExtended, "fstatvfs@openssh.com", "fstatvfs", Args::kHandle, kExtendedReply},
    {kExtended, "lsetstat@openssh.com", "lsetstat", Args::kPathAttrs, 0},
    {kExtended, "limits@openssh.com", "limits", Args::kNone, kExtendedReply},
    {kExtended, "expand-path@openssh.com", "expand-path", Args::kPath, kName},
    {kExtended, "copy-data", "copy-data", Args::kCopyData, 0},
    {kExtended, "home-directory", "home-directory", Args::kUser, kName},
    {kExtended, "users-groups-by-id@openssh.com", "users-groups-by-id", Args::kIdLists, kExtendedReply},
};

const SftpAuditor::Rule* find_rule(uint8_t type, std::string_view extension) {
  for (const auto& rule : kRules) {
    if (rule.type == type && rule.extension == extension) return &rule;
  }
  return nullptr;
}

}  // namespace

Status SftpAuditor::client_data(std::string_view b) { return feed(client_buf_, b, true); }
Status SftpAuditor::server_data(std::string_view b) { return feed(server_buf_, b, false); }

std::vector<FileEvent> SftpAuditor::take_events() { return std::exchange(events_, {}); }

std::vector<FileEvent> SftpAuditor::close_all(const std::string& why) {
  // Requests the target may have carried out, but whose answer we never saw.
  for (auto& [id, p] : pending_) {
    resolve_handles(p);
    if (!p.recorded || p.type == kClose) continue;
    finish(p, false, "no answer: " + why);
  }
  pending_.clear();
  for (auto& [handle, f] : open_) {
    FileEvent e = f.opened;
    e.action = "close";
    e.bytes_read = f.read;
    e.bytes_written = f.written;
    if (f.opened.action == "opendir") e.detail = "entries=" + std::to_string(f.entries);
    e.ok = false;
    e.status = why;
    events_.push_back(std::move(e));
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
  // SECURITY: replies are matched to requests by id. A second request with an
  // outstanding id would take the first one's reply (an OPEN's HANDLE credited
  // to a READ, so the open went unrecorded): such a client ends the channel.
  if (pending_.count(*id) != 0) {
    return violation("request id " + std::to_string(*id) + " reused while still outstanding");
  }
  auto p = parse_request(type, r);
  if (!p) return p.error();
  if (pending_.size() >= kMaxPending) return malformed("too many outstanding requests");
  pending_.emplace(*id, std::move(*p));
  return {};
}

Result<SftpAuditor::Pending> SftpAuditor::parse_request(uint8_t type, WireReader& r) {
  std::string extension;
  if (type == kExtended) {
    auto name = r.text();
    if (!name) return malformed("EXTENDED");
    extension = *name;
  }
  const Rule* rule = find_rule(type, extension);
  if (rule == nullptr && type == kExtended) {
    FileEvent e;
    e.action = "extension";
    e.extension = kept(extension);
    // The reason reaches the client's terminal and reviewers' screens: printable only.
    return refuse(std::move(e), "SFTP extension \"" + printable_ascii(extension) + "\" is not on the allow-list");
  }
  if (rule == nullptr) {
    FileEvent e;
    e.action = "request";
    e.detail = "type=" + std::to_string(type);
    return refuse(std::move(e), "SFTP request type " + std::to_string(type) + " is not part of version 3");
  }
  Pending p;
  p.type = type;
  p.reply = rule->reply;
  p.event.action = rule->action;
  p.event.extension = kept(extension);
  p.recorded = type != kRead && type != kWrite && type != kReaddir;
  Status st = rule->args >= Args::kHandle ? parse_handle_args(*rule, r, p) : parse_path_args(*rule, r, p.event);
  if (!st) return st.error();
  return p;
}

Status SftpAuditor::parse_path_args(const Rule& rule, WireReader& r, FileEvent& e) {
  std::string what = rule.extension.empty() ? std::string(rule.action) : std::string(rule.extension);
  if (rule.args == Args::kNone) return {};
  if (rule.args == Args::kIdLists) {
    auto uids = id_list(r);
    if (!uids) return uids.error();
    auto gids = id_list(r);
    if (!gids) return gids.error();
    e.detail = kept("uids=" + *uids + " gids=" + *gids);
    return {};
  }
  auto first = r.text();
  if (!first) return malformed(what);
  e.path = kept(*first);
  switch (rule.args) {
    case Args::kPathAttrs: return read_attrs(r, e.detail);
    case Args::kOpen: {
      auto pflags = r.u32();
      if (!pflags) return malformed(what);
      e.mode = open_mode(*pflags);
      e.flags = open_flags(*pflags);
      return read_attrs(r, e.detail);
    }
    case Args::kTwoPaths:
    case Args::kSymlink: {
      auto second = r.text();
      if (!second) return malformed(what);
      e.path2 = kept(*second);
      // OpenSSH sends SYMLINK's arguments as (target, link), the reverse of
      // draft-02 (its PROTOCOL, section 4.1): path is the link created.
      if (rule.args == Args::kSymlink) std::swap(e.path, e.path2);
      return {};
    }
    case Args::kUser: e.path = "~" + e.path; return {};
    default: return {};
  }
}

// Handles are looked up when the answer arrives: the target carries out
// requests in order, so its handles then are the ones we have seen opened by
// the replies before (a client may send a READ before the HANDLE it guessed).
void SftpAuditor::resolve_handles(Pending& p) {
  if (!p.needs_handle) return;
  auto from = open_.find(p.handle);
  p.handle_known = !p.handle.empty() && from != open_.end();
  if (p.handle_known) p.event.path = from->second.opened.path;
  if (p.type == kWrite && p.handle_known) from->second.written += std::exchange(p.bytes, 0);
  if (p.event.action != "copy-data") return;
  auto to = p.handle2.empty() ? open_.end() : open_.find(p.handle2);
  p.handle_known = p.handle_known && to != open_.end();
  if (to != open_.end()) p.event.path2 = to->second.opened.path;
}

Status SftpAuditor::parse_handle_args(const Rule& rule, WireReader& r, Pending& p) {
  std::string what = rule.extension.empty() ? std::string(rule.action) : std::string(rule.extension);
  auto handle = r.text();
  if (!handle) return malformed(what);
  p.needs_handle = true;
  p.handle = handle_kept(*handle);
  switch (rule.args) {
    case Args::kHandleAttrs: return read_attrs(r, p.event.detail);
    case Args::kRead: {
      auto offset = r.u64();
      auto len = r.u32();
      if (!offset || !len) return malformed(what);
      return {};
    }
    case Args::kWrite: {
      auto offset = r.u64();
      auto data = r.string();
      if (!offset || !data) return malformed(what);
      p.bytes = data->size();
      return {};
    }
    case Args::kCopyData: {
      auto read_offset = r.u64();
      auto length = r.u64();
      auto to = r.text();
      auto write_offset = r.u64();
      if (!read_offset || !length || !to || !write_offset) return malformed(what);
      p.handle2 = handle_kept(*to);
      p.event.detail = "read_offset=" + std::to_string(*read_offset) + " length=" + std::to_string(*length) +
                       " write_offset=" + std::to_string(*write_offset);
      return {};
    }
    default: return {};
  }
}

Error SftpAuditor::refuse(FileEvent e, const std::string& why) {
  e.ok = false;
  e.refused = true;
  e.status = "refused: " + why;
  events_.push_back(std::move(e));
  return make_error("refused: " + why);
}

Status SftpAuditor::on_response(uint8_t type, std::string_view body) {
  WireReader r(bytes(body));
  if (type == kVersion) {
    auto version = r.u32();
    if (!version) return malformed("VERSION");
    // SECURITY: the packets parsed here are version 3's; another version's
    // OPEN, STAT or RENAME would be misread (and their effects misrecorded).
    if (*version != 3) return violation("target speaks version " + std::to_string(*version) + ", not 3");
    return {};
  }
  auto id = r.u32();
  if (!id) return malformed("missing response id");
  auto it = pending_.find(*id);
  if (it == pending_.end()) {
    return violation("reply to request id " + std::to_string(*id) + ", which is not outstanding");
  }
  Pending p = std::move(it->second);
  pending_.erase(it);
  resolve_handles(p);
  // SECURITY: the target succeeding on a handle we never saw opened means our
  // view of the channel is wrong; nothing after that could be trusted.
  WireReader peek = r;
  auto status_code = peek.u32();
  bool success = type != kStatus || (status_code && *status_code == 0);
  if (success && p.needs_handle && !p.handle_known) {
    return violation("success on a handle this channel never opened (request id " + std::to_string(*id) + ")");
  }
  if (type == kStatus) {
    auto code = r.u32();
    if (!code) return malformed("STATUS");
    auto message = r.text();  // absent in some older servers' answers
    std::string status = *code == 0                     ? "ok"
                         : message && !message->empty() ? kept(*message)
                                                        : "failure " + std::to_string(*code);
    finish(p, *code == 0, std::move(status));
    return {};
  }
  if (type != p.reply) {
    return violation("reply type " + std::to_string(type) + " to request type " + std::to_string(p.type));
  }
  return on_success_reply(p, type, r);
}

Status SftpAuditor::on_success_reply(Pending& p, uint8_t type, WireReader& r) {
  switch (type) {
    case kHandle: {
      auto handle = r.text();
      if (!handle) return malformed("HANDLE");
      if (handle->size() > kMaxHandle) return violation("handle longer than 256 bytes");
      if (open_.count(*handle) != 0) return violation("handle reused while still open");
      if (open_.size() >= kMaxOpen) return malformed("too many open files");
      if (p.type == kOpendir) p.event.mode = "list";
      open_[*handle] = OpenFile{p.event};
      finish(p, true, "ok");
      return {};
    }
    case kData: {
      auto data = r.string();
      if (!data) return malformed("DATA");
      if (auto it = open_.find(p.handle); it != open_.end()) it->second.read += data->size();
      return {};
    }
    case kName: {
      auto count = r.u32();
      if (!count) return malformed("NAME");
      if (p.type == kReaddir) {
        if (auto it = open_.find(p.handle); it != open_.end()) it->second.entries += *count;
        return {};
      }
      auto first = *count > 0 ? r.text() : Result<std::string>(std::string());
      if (!first) return malformed("NAME");
      p.event.path2 = kept(*first);
      finish(p, true, "ok");
      return {};
    }
    default:  // ATTRS, EXTENDED_REPLY: the answer itself is not recorded
      finish(p, true, "ok");
      return {};
  }
}

void SftpAuditor::finish(Pending& p, bool ok, std::string status) {
  if (!p.recorded) return;
  FileEvent& e = p.event;
  if (p.type == kClose) {
    // The target frees a handle even when close(2) fails.
    if (auto it = open_.find(p.handle); it != open_.end()) {
      const OpenFile& f = it->second;
      e.mode = f.opened.mode;
      e.flags = f.opened.flags;
      e.bytes_read = f.read;
      e.bytes_written = f.written;
      if (f.opened.action == "opendir") e.detail = "entries=" + std::to_string(f.entries);
      open_.erase(it);
    }
  }
  e.ok = ok;
  e.status = std::move(status);
  events_.push_back(std::move(e));
}

}  // namespace bastion::recorder
