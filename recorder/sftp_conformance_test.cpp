// SFTP conformance: every request of draft-ietf-secsh-filexfer-02 (version 3,
// what OpenSSH speaks) and every extension on the auditor's allow-list, each
// answered the way OpenSSH's sftp-server answers it, with the audit record the
// auditor must produce (action, paths, mode/flags/details, outcome).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/ssh_wire.h"
#include "recorder/sftp_audit.h"
#include "recorder/sftp_wire.h"

namespace bastion::recorder {

using namespace sftp;  // NOLINT(google-build-using-namespace): the packet types, file-local

namespace {

constexpr uint32_t kFxOk = 0, kFxEof = 1, kFxNoSuchFile = 2, kFxPermissionDenied = 3;

// One packet body, built field by field: Body().u32(7).str("/etc").packet(kStat).
class Body {
 public:
  Body& u32(uint32_t v) {
    w_.u32(v);
    return *this;
  }
  Body& u64(uint64_t v) {
    w_.u64(v);
    return *this;
  }
  Body& str(std::string_view v) {
    w_.string(v);
    return *this;
  }
  Body& no_attrs() { return u32(0); }
  Body& mode(uint32_t m) { return u32(0x04).u32(m); }
  // One NAME entry: filename, longname, empty attributes.
  Body& entry(std::string_view n) { return str(n).str("-rw-r--r-- 1 " + std::string(n)).no_attrs(); }
  [[nodiscard]] std::string packet(uint8_t type) const {
    WireWriter out;
    std::vector<uint8_t> inner{type};
    inner.insert(inner.end(), w_.bytes().begin(), w_.bytes().end());
    out.string(std::span<const uint8_t>(inner));
    return {out.bytes().begin(), out.bytes().end()};
  }

 private:
  WireWriter w_;
};

std::string status(uint32_t id, uint32_t code, std::string_view message = "") {
  return Body().u32(id).u32(code).str(message).str("").packet(kStatus);
}
std::string handle(uint32_t id, std::string_view h) { return Body().u32(id).str(h).packet(kHandle); }
std::string attrs(uint32_t id) { return Body().u32(id).u32(0x04).u32(0100644).packet(kAttrs); }
std::string name(uint32_t id, std::string_view n) { return Body().u32(id).u32(1).entry(n).packet(kName); }
std::string extended_reply(uint32_t id) { return Body().u32(id).u64(1).u64(2).packet(kExtendedReply); }

// The record we expect; strings not set must be empty in the event.
class Want {
 public:
  explicit Want(std::string action) {
    e_.action = std::move(action);
    e_.status = "ok";
  }
  Want& path(std::string v) { return set(e_.path, std::move(v)); }
  Want& path2(std::string v) { return set(e_.path2, std::move(v)); }
  Want& mode(std::string v) { return set(e_.mode, std::move(v)); }
  Want& flags(std::string v) { return set(e_.flags, std::move(v)); }
  Want& detail(std::string v) { return set(e_.detail, std::move(v)); }
  Want& extension(std::string v) { return set(e_.extension, std::move(v)); }
  Want& failed(std::string status) {
    e_.ok = false;
    return set(e_.status, std::move(status));
  }
  [[nodiscard]] const FileEvent& event() const { return e_; }

 private:
  Want& set(std::string& field, std::string v) {
    field = std::move(v);
    return *this;
  }
  FileEvent e_;
};

void expect_event(const FileEvent& e, const Want& want) {
  const FileEvent& w = want.event();
  SCOPED_TRACE("event " + e.action + " " + e.path);
  EXPECT_EQ(e.action, w.action);
  EXPECT_EQ(e.path, w.path);
  EXPECT_EQ(e.path2, w.path2);
  EXPECT_EQ(e.mode, w.mode);
  EXPECT_EQ(e.flags, w.flags);
  EXPECT_EQ(e.detail, w.detail);
  EXPECT_EQ(e.extension, w.extension);
  EXPECT_EQ(e.ok, w.ok);
  EXPECT_FALSE(e.refused);
  EXPECT_EQ(e.status, w.status);
}

class SftpConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(a.client_data(Body().u32(3).packet(kInit)));
    Body version;
    version.u32(3);
    for (const char* ext :
         {"posix-rename@openssh.com", "statvfs@openssh.com", "fstatvfs@openssh.com", "hardlink@openssh.com",
          "fsync@openssh.com", "lsetstat@openssh.com", "limits@openssh.com", "expand-path@openssh.com", "copy-data",
          "home-directory", "users-groups-by-id@openssh.com"}) {
      version.str(ext).str("1");
    }
    ASSERT_TRUE(a.server_data(version.packet(kVersion)));
    ASSERT_TRUE(a.take_events().empty());
  }

  // A request and its reply; returns the records they produced.
  std::vector<FileEvent> exchange(const std::string& request, const std::string& reply) {
    Status st = a.client_data(request);
    EXPECT_TRUE(st) << st.message();
    st = a.server_data(reply);
    EXPECT_TRUE(st) << st.message();
    return a.take_events();
  }

  void expect_one(const std::string& request, const std::string& reply, const Want& w) {
    auto ev = exchange(request, reply);
    ASSERT_EQ(ev.size(), 1u);
    expect_event(ev[0], w);
  }

  // Opens a file (pflags) and takes its "open" record.
  void open_file(uint32_t id, std::string_view path, uint32_t pflags, std::string_view h) {
    auto ev = exchange(Body().u32(id).str(path).u32(pflags).no_attrs().packet(kOpen), handle(id, h));
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].action, "open");
  }

  SftpAuditor a;
};

TEST_F(SftpConformance, VersionOtherThan3EndsTheChannel) {
  SftpAuditor b;
  ASSERT_TRUE(b.client_data(Body().u32(6).packet(kInit)));
  Status st = b.server_data(Body().u32(6).packet(kVersion));
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("version 6"), std::string::npos) << st.message();
}

TEST_F(SftpConformance, OpenAnsweredByHandleOrStatus) {
  expect_one(Body().u32(1).str("/srv/new").u32(0x02 | 0x08 | 0x20).mode(0640).packet(kOpen), handle(1, "h1"),
             Want("open").path("/srv/new").mode("write").flags("WRITE|CREAT|EXCL").detail("mode=0640"));
  expect_one(Body().u32(2).str("/etc/shadow").u32(0x01).no_attrs().packet(kOpen),
             status(2, kFxPermissionDenied, "Permission denied"),
             Want("open").path("/etc/shadow").mode("read").flags("READ").failed("Permission denied"));
}

TEST_F(SftpConformance, ReadWriteCloseAreSummedIntoTheClose) {
  open_file(1, "/srv/db.sql", 0x01 | 0x02, "h");
  EXPECT_TRUE(
      exchange(Body().u32(2).str("h").u64(0).str(std::string(100, 'w')).packet(kWrite), status(2, kFxOk)).empty());
  EXPECT_TRUE(
      exchange(Body().u32(3).str("h").u64(100).str(std::string(20, 'w')).packet(kWrite), status(3, kFxOk)).empty());
  EXPECT_TRUE(exchange(Body().u32(4).str("h").u64(0).u32(4096).packet(kRead),
                       Body().u32(4).str(std::string(120, 'r')).packet(kData))
                  .empty());
  EXPECT_TRUE(exchange(Body().u32(5).str("h").u64(120).u32(4096).packet(kRead), status(5, kFxEof, "EOF")).empty());
  auto ev = exchange(Body().u32(6).str("h").packet(kClose), status(6, kFxOk));
  ASSERT_EQ(ev.size(), 1u);
  expect_event(ev[0], Want("close").path("/srv/db.sql").mode("read+write").flags("READ|WRITE"));
  EXPECT_EQ(ev[0].bytes_written, 120u);
  EXPECT_EQ(ev[0].bytes_read, 120u);
  EXPECT_TRUE(a.close_all("end").empty()) << "the close freed the handle";
}

TEST_F(SftpConformance, StatLstatFstatAnsweredByAttrs) {
  expect_one(Body().u32(1).str("/etc/passwd").packet(kStat), attrs(1), Want("stat").path("/etc/passwd"));
  expect_one(Body().u32(2).str("/etc/link").packet(kLstat), attrs(2), Want("lstat").path("/etc/link"));
  expect_one(Body().u32(3).str("/nope").packet(kStat), status(3, kFxNoSuchFile, "No such file"),
             Want("stat").path("/nope").failed("No such file"));
  open_file(4, "/etc/hosts", 0x01, "h");
  expect_one(Body().u32(5).str("h").packet(kFstat), attrs(5), Want("fstat").path("/etc/hosts"));
}

TEST_F(SftpConformance, SetstatAndFsetstatRecordTheAttributes) {
  expect_one(Body().u32(1).str("/bin/sh").u32(0x02 | 0x04).u32(0).u32(0).u32(04755).packet(kSetstat), status(1, kFxOk),
             Want("setstat").path("/bin/sh").detail("uid=0 gid=0 mode=04755"));
  open_file(2, "/var/log/auth.log", 0x02, "h");
  expect_one(Body().u32(3).str("h").u32(0x01 | 0x08).u64(0).u32(1).u32(2).packet(kFsetstat), status(3, kFxOk),
             Want("fsetstat").path("/var/log/auth.log").detail("size=0 atime=1 mtime=2"));
}

TEST_F(SftpConformance, OpendirReaddirCloseCountEntries) {
  auto ev = exchange(Body().u32(1).str("/root").packet(kOpendir), handle(1, "d"));
  ASSERT_EQ(ev.size(), 1u);
  expect_event(ev[0], Want("opendir").path("/root").mode("list"));
  EXPECT_TRUE(exchange(Body().u32(2).str("d").packet(kReaddir),
                       Body().u32(2).u32(3).entry(".").entry("..").entry(".bash_history").packet(kName))
                  .empty());
  EXPECT_TRUE(exchange(Body().u32(3).str("d").packet(kReaddir), Body().u32(3).u32(1).entry("x").packet(kName)).empty());
  EXPECT_TRUE(exchange(Body().u32(4).str("d").packet(kReaddir), status(4, kFxEof, "EOF")).empty());
  expect_one(Body().u32(5).str("d").packet(kClose), status(5, kFxOk),
             Want("close").path("/root").mode("list").detail("entries=4"));
}

TEST_F(SftpConformance, RemoveMkdirRmdir) {
  expect_one(Body().u32(1).str("/tmp/a").packet(kRemove), status(1, kFxOk), Want("remove").path("/tmp/a"));
  expect_one(Body().u32(2).str("/tmp/d").mode(0700).packet(kMkdir), status(2, 4, "Failure"),
             Want("mkdir").path("/tmp/d").detail("mode=0700").failed("Failure"));
  expect_one(Body().u32(3).str("/tmp/d").packet(kRmdir), status(3, kFxNoSuchFile, ""),
             Want("rmdir").path("/tmp/d").failed("failure 2"));
}

TEST_F(SftpConformance, RealpathAndReadlinkRecordTheAnswer) {
  expect_one(Body().u32(1).str(".").packet(kRealpath), name(1, "/home/alice"),
             Want("realpath").path(".").path2("/home/alice"));
  expect_one(Body().u32(2).str("/etc/alternatives/editor").packet(kReadlink), name(2, "/usr/bin/vim"),
             Want("readlink").path("/etc/alternatives/editor").path2("/usr/bin/vim"));
}

TEST_F(SftpConformance, RenameAndSymlink) {
  expect_one(Body().u32(1).str("/tmp/x").str("/tmp/y").packet(kRename), status(1, kFxOk),
             Want("rename").path("/tmp/x").path2("/tmp/y"));
  // OpenSSH's order: target first, then the link; the record names the link as path.
  expect_one(Body().u32(2).str("/etc/shadow").str("/tmp/l").packet(kSymlink), status(2, kFxOk),
             Want("symlink").path("/tmp/l").path2("/etc/shadow"));
}

TEST_F(SftpConformance, PathExtensions) {
  auto ext = [](uint32_t id, const char* n) {
    Body b;
    b.u32(id).str(n);
    return b;
  };
  expect_one(ext(1, "posix-rename@openssh.com").str("/a").str("/b").packet(kExtended), status(1, kFxOk),
             Want("rename").path("/a").path2("/b").extension("posix-rename@openssh.com"));
  expect_one(ext(2, "hardlink@openssh.com").str("/etc/shadow").str("/tmp/s").packet(kExtended), status(2, kFxOk),
             Want("hardlink").path("/etc/shadow").path2("/tmp/s").extension("hardlink@openssh.com"));
  expect_one(ext(3, "statvfs@openssh.com").str("/").packet(kExtended), extended_reply(3),
             Want("statvfs").path("/").extension("statvfs@openssh.com"));
  expect_one(ext(4, "lsetstat@openssh.com").str("/tmp/l").u32(0x02).u32(0).u32(0).packet(kExtended),
             status(4, kFxPermissionDenied, "Permission denied"),
             Want("lsetstat")
                 .path("/tmp/l")
                 .detail("uid=0 gid=0")
                 .extension("lsetstat@openssh.com")
                 .failed("Permission denied"));
  expect_one(ext(5, "limits@openssh.com").packet(kExtended), extended_reply(5),
             Want("limits").extension("limits@openssh.com"));
  expect_one(ext(6, "expand-path@openssh.com").str("~/x").packet(kExtended), name(6, "/home/alice/x"),
             Want("expand-path").path("~/x").path2("/home/alice/x").extension("expand-path@openssh.com"));
  expect_one(ext(7, "home-directory").str("root").packet(kExtended), name(7, "/root"),
             Want("home-directory").path("~root").path2("/root").extension("home-directory"));
  Body ids = ext(8, "users-groups-by-id@openssh.com");
  ids.str(std::string("\0\0\0\0\0\0\x03\xe8", 8)).str(std::string("\0\0\0\x2a", 4));
  expect_one(ids.packet(kExtended), extended_reply(8),
             Want("users-groups-by-id").detail("uids=0,1000 gids=42").extension("users-groups-by-id@openssh.com"));
}

TEST_F(SftpConformance, HandleExtensions) {
  open_file(1, "/srv/src", 0x01, "r");
  open_file(2, "/srv/dst", 0x02 | 0x08, "w");
  expect_one(Body().u32(3).str("fsync@openssh.com").str("w").packet(kExtended), status(3, kFxOk),
             Want("fsync").path("/srv/dst").extension("fsync@openssh.com"));
  expect_one(Body().u32(4).str("fstatvfs@openssh.com").str("r").packet(kExtended), extended_reply(4),
             Want("fstatvfs").path("/srv/src").extension("fstatvfs@openssh.com"));
  expect_one(Body().u32(5).str("copy-data").str("r").u64(10).u64(0).str("w").u64(20).packet(kExtended),
             status(5, kFxOk),
             Want("copy-data")
                 .path("/srv/src")
                 .path2("/srv/dst")
                 .extension("copy-data")
                 .detail("read_offset=10 length=0 write_offset=20"));
}

TEST_F(SftpConformance, OnlyTheAllowListedExtensionNamesPass) {
  for (const char* near_miss : {"lsetstat@openssh.co", "copy-data@openssh.com", "POSIX-RENAME@openssh.com",
                                "check-file", "fsetstat@openssh.com"}) {
    SftpAuditor b;
    Status st = b.client_data(Body().u32(1).str(near_miss).str("/x").packet(kExtended));
    EXPECT_FALSE(st) << near_miss;
    auto ev = b.take_events();
    ASSERT_EQ(ev.size(), 1u) << near_miss;
    EXPECT_EQ(ev[0].action, "extension");
    EXPECT_EQ(ev[0].extension, near_miss);
    EXPECT_TRUE(ev[0].refused);
    EXPECT_FALSE(ev[0].ok);
  }
}

TEST_F(SftpConformance, RepliesMustAnswerAnOutstandingRequestWithTheRightType) {
  {
    SftpAuditor b;  // DATA answering a STAT
    ASSERT_TRUE(b.client_data(Body().u32(1).str("/etc").packet(kStat)));
    EXPECT_FALSE(b.server_data(Body().u32(1).str("x").packet(kData)));
  }
  {
    SftpAuditor b;  // HANDLE answering a REMOVE
    ASSERT_TRUE(b.client_data(Body().u32(1).str("/etc").packet(kRemove)));
    EXPECT_FALSE(b.server_data(handle(1, "h")));
  }
  {
    SftpAuditor b;  // an answer to nothing
    EXPECT_FALSE(b.server_data(status(9, kFxOk)));
  }
  {
    SftpAuditor b;  // an answer of a type version 3 does not define
    ASSERT_TRUE(b.client_data(Body().u32(1).str("/etc").packet(kStat)));
    EXPECT_FALSE(b.server_data(Body().u32(1).packet(99)));
  }
}

TEST_F(SftpConformance, SuccessOnAHandleNeverOpenedEndsTheChannel) {
  ASSERT_TRUE(a.client_data(Body().u32(1).str("bogus").u64(0).u32(10).packet(kRead)));
  Status st = a.server_data(Body().u32(1).str("secret").packet(kData));
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("never opened"), std::string::npos) << st.message();
  // The target refusing an unknown handle is ordinary.
  SftpAuditor b;
  ASSERT_TRUE(b.client_data(Body().u32(1).str("bogus").packet(kClose)));
  ASSERT_TRUE(b.server_data(status(1, 4, "Failure")));
}

TEST_F(SftpConformance, AReadSentBeforeItsHandleArrivedIsCounted) {
  ASSERT_TRUE(a.client_data(Body().u32(1).str("/etc/hosts").u32(0x01).no_attrs().packet(kOpen)));
  ASSERT_TRUE(a.client_data(Body().u32(2).str("0").u64(0).u32(100).packet(kRead)));  // a guessed handle
  ASSERT_TRUE(a.server_data(handle(1, "0")));
  ASSERT_TRUE(a.server_data(Body().u32(2).str(std::string(30, 'x')).packet(kData)));
  auto ev = a.close_all("end");
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].action, "close");
  EXPECT_EQ(ev[1].bytes_read, 30u);
}

TEST_F(SftpConformance, HandlesAreBoundedAndUnique) {
  open_file(1, "/a", 0x01, "h");
  ASSERT_TRUE(a.client_data(Body().u32(2).str("/b").u32(0x01).no_attrs().packet(kOpen)));
  EXPECT_FALSE(a.server_data(handle(2, "h"))) << "a handle handed out twice";
  SftpAuditor b;
  ASSERT_TRUE(b.client_data(Body().u32(1).str("/a").u32(0x01).no_attrs().packet(kOpen)));
  EXPECT_FALSE(b.server_data(handle(1, std::string(257, 'h'))));
}

TEST_F(SftpConformance, RequestsUnansweredWhenTheChannelEndsAreReported) {
  ASSERT_TRUE(a.client_data(Body().u32(1).str("/var/log/wtmp").packet(kRemove)));
  ASSERT_TRUE(a.client_data(Body().u32(2).str("/etc").packet(kStat)));
  auto ev = a.close_all("channel closed");
  ASSERT_EQ(ev.size(), 2u);
  expect_event(ev[0], Want("remove").path("/var/log/wtmp").failed("no answer: channel closed"));
  expect_event(ev[1], Want("stat").path("/etc").failed("no answer: channel closed"));
}

}  // namespace
}  // namespace bastion::recorder
