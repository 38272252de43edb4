#include <gtest/gtest.h>

#include "common/ssh_wire.h"
#include "recorder/sftp_audit.h"

namespace bastion::recorder {
namespace {

std::string packet(uint8_t type, const std::function<void(WireWriter&)>& body) {
  WireWriter inner;
  inner.u8(type);
  body(inner);
  WireWriter outer;
  outer.string(inner.bytes());
  return std::string(outer.bytes().begin(), outer.bytes().end());
}

std::string s(const std::string& v) { return v; }

std::string ok_status(uint32_t id) {
  return packet(101, [&](WireWriter& w) {
    w.u32(id);
    w.u32(0);
    w.string(s(""));
    w.string(s(""));
  });
}

TEST(SftpAuditor, UploadOpenWriteCloseWithByteCounts) {
  SftpAuditor a;
  ASSERT_TRUE(a.client_data(packet(1, [](WireWriter& w) { w.u32(3); })));
  ASSERT_TRUE(a.client_data(packet(3, [](WireWriter& w) {
    w.u32(7);
    w.string(s("/tmp/dump.sql"));
    w.u32(0x02 | 0x08 | 0x10);
    w.u32(0);
  })));
  ASSERT_TRUE(a.server_data(packet(102, [](WireWriter& w) {
    w.u32(7);
    w.string(s("H1"));
  })));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(a.client_data(packet(6, [&](WireWriter& w) {
      w.u32(8 + i);
      w.string(s("H1"));
      w.u64(static_cast<uint64_t>(i) * 1000);
      w.string(std::string(1000, 'x'));
    })));
  }
  ASSERT_TRUE(a.client_data(packet(4, [](WireWriter& w) {
    w.u32(20);
    w.string(s("H1"));
  })));
  for (uint32_t id : {8u, 9u, 10u, 20u}) ASSERT_TRUE(a.server_data(ok_status(id)));
  auto ev = a.take_events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].action, "open");
  EXPECT_EQ(ev[0].path, "/tmp/dump.sql");
  EXPECT_EQ(ev[0].mode, "write");
  EXPECT_EQ(ev[1].action, "close");
  EXPECT_EQ(ev[1].bytes_written, 3000u);
  EXPECT_EQ(ev[1].bytes_read, 0u);
}

TEST(SftpAuditor, DownloadCountsDataAndSurvivesByteByByteDelivery) {
  SftpAuditor a;
  std::string c = packet(3, [](WireWriter& w) {
    w.u32(1);
    w.string(s("/etc/hosts"));
    w.u32(0x01);
    w.u32(0);
  });
  std::string sv = packet(102, [](WireWriter& w) {
    w.u32(1);
    w.string(s("HH"));
  });
  c += packet(5, [](WireWriter& w) {
    w.u32(2);
    w.string(s("HH"));
    w.u64(0);
    w.u32(4096);
  });
  sv += packet(103, [](WireWriter& w) {
    w.u32(2);
    w.string(std::string(1234, 'd'));
  });
  std::string close = packet(4, [](WireWriter& w) {
    w.u32(3);
    w.string(s("HH"));
  });
  // Requests, then responses, then CLOSE, as on the wire, one byte at a time.
  for (char ch : c) ASSERT_TRUE(a.client_data(std::string(1, ch)));
  for (char ch : sv) ASSERT_TRUE(a.server_data(std::string(1, ch)));
  for (char ch : close) ASSERT_TRUE(a.client_data(std::string(1, ch)));
  ASSERT_TRUE(a.server_data(ok_status(3)));
  auto ev = a.take_events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].action, "close");
  EXPECT_EQ(ev[1].bytes_read, 1234u);
  EXPECT_EQ(ev[1].path, "/etc/hosts");
}

TEST(SftpAuditor, RenameRemoveAndFailuresCarryTheServerAnswer) {
  SftpAuditor a;
  ASSERT_TRUE(a.client_data(packet(18, [](WireWriter& w) {
    w.u32(5);
    w.string(s("/a"));
    w.string(s("/b"));
  })));
  ASSERT_TRUE(a.client_data(packet(13, [](WireWriter& w) {
    w.u32(6);
    w.string(s("/c"));
  })));
  ASSERT_TRUE(a.server_data(packet(101, [](WireWriter& w) {
    w.u32(5);
    w.u32(0);
    w.string(s(""));
    w.string(s(""));
  })));
  ASSERT_TRUE(a.server_data(packet(101, [](WireWriter& w) {
    w.u32(6);
    w.u32(3);
    w.string(s("Permission denied"));
    w.string(s(""));
  })));
  auto ev = a.take_events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].action, "rename");
  EXPECT_EQ(ev[0].path2, "/b");
  EXPECT_TRUE(ev[0].ok);
  EXPECT_EQ(ev[1].action, "remove");
  EXPECT_FALSE(ev[1].ok);
  EXPECT_EQ(ev[1].status, "Permission denied");
}

TEST(SftpAuditor, MalformedInputIsAnErrorNotACrash) {
  {
    SftpAuditor a;
    EXPECT_FALSE(a.client_data(std::string("\xff\xff\xff\xff", 4)));  // absurd length
  }
  {
    SftpAuditor a;
    EXPECT_FALSE(a.client_data(packet(3, [](WireWriter& w) {
      w.u32(1);
      w.u32(1000);  // string length past the end
    })));
  }
  {
    SftpAuditor a;
    EXPECT_FALSE(a.client_data(packet(6, [](WireWriter& w) { w.u32(1); })));
  }
  {
    SftpAuditor a;  // a type version 3 does not define is refused, and recorded
    EXPECT_FALSE(a.client_data(packet(99, [](WireWriter& w) { w.u32(1); })));
    auto ev = a.take_events();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].action, "request");
    EXPECT_TRUE(ev[0].refused);
    EXPECT_EQ(ev[0].detail, "type=99");
  }
}

TEST(SftpAuditor, FilesLeftOpenAreReportedAtTheEnd) {
  SftpAuditor a;
  ASSERT_TRUE(a.client_data(packet(3, [](WireWriter& w) {
    w.u32(1);
    w.string(s("/x"));
    w.u32(0x02);
    w.u32(0);
  })));
  ASSERT_TRUE(a.server_data(packet(102, [](WireWriter& w) {
    w.u32(1);
    w.string(s("h"));
  })));
  a.take_events();
  auto ev = a.close_all("channel ended");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_FALSE(ev[0].ok);
  EXPECT_EQ(ev[0].status, "channel ended");
}

// Issue 13: OPEN id=7 then READ id=7 before the HANDLE reply made the reply
// match the READ, so the open was never recorded and its reads were lost.
TEST(SftpAuditor, ReusedOutstandingRequestIdEndsTheChannel) {
  SftpAuditor a;
  ASSERT_TRUE(a.client_data(packet(3, [](WireWriter& w) {
    w.u32(7);
    w.string(s("/etc/shadow"));
    w.u32(0x01);
    w.u32(0);
  })));
  Status st = a.client_data(packet(5, [](WireWriter& w) {
    w.u32(7);
    w.string(s("bogus"));
    w.u64(0);
    w.u32(4096);
  }));
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("request id 7"), std::string::npos) << st.message();
  // What the channel had done is still reported when it ends.
  auto ev = a.close_all("channel ended: " + st.message());
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].action, "open");
  EXPECT_EQ(ev[0].path, "/etc/shadow");
  EXPECT_FALSE(ev[0].ok);
  EXPECT_EQ(ev[0].status.rfind("no answer: ", 0), 0u) << ev[0].status;
}

TEST(SftpAuditor, ReadIdReusedAfterItsReplyIsFine) {
  SftpAuditor a;
  ASSERT_TRUE(a.client_data(packet(3, [](WireWriter& w) {
    w.u32(7);
    w.string(s("/etc/hosts"));
    w.u32(0x01);
    w.u32(0);
  })));
  ASSERT_TRUE(a.server_data(packet(102, [](WireWriter& w) {
    w.u32(7);
    w.string(s("H"));
  })));
  ASSERT_TRUE(a.client_data(packet(5, [](WireWriter& w) {
    w.u32(7);
    w.string(s("H"));
    w.u64(0);
    w.u32(4096);
  })));
  ASSERT_TRUE(a.server_data(packet(103, [](WireWriter& w) {
    w.u32(7);
    w.string(std::string(10, 'd'));
  })));
  auto ev = a.close_all("end");
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].action, "open");
  EXPECT_EQ(ev[1].bytes_read, 10u);
}

// Issue 13: READ|CREAT|TRUNC truncates the file; it was audited as mode=read.
TEST(SftpAuditor, CreatTruncAndAppendCountAsWrites) {
  struct Case {
    uint32_t pflags;
    const char* mode;
  };
  for (Case c : {Case{0x01 | 0x08 | 0x10, "read+write"}, Case{0x01 | 0x04, "read+write"}, Case{0x10, "write"},
                 Case{0x08, "write"}, Case{0x01, "read"}}) {
    SftpAuditor a;
    ASSERT_TRUE(a.client_data(packet(3, [&](WireWriter& w) {
      w.u32(1);
      w.string(s("/etc/passwd"));
      w.u32(c.pflags);
      w.u32(0);
    })));
    ASSERT_TRUE(a.server_data(packet(102, [](WireWriter& w) {
      w.u32(1);
      w.string(s("H"));
    })));
    auto ev = a.take_events();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].mode, c.mode) << "pflags " << c.pflags;
  }
  SftpAuditor a;
  ASSERT_TRUE(a.client_data(packet(3, [](WireWriter& w) {
    w.u32(1);
    w.string(s("/etc/shadow"));
    w.u32(0x01 | 0x08 | 0x10 | 0x40);
    w.u32(0x04);
    w.u32(0600);
  })));
  ASSERT_TRUE(a.server_data(packet(102, [](WireWriter& w) {
    w.u32(1);
    w.string(s("H"));
  })));
  auto ev = a.take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].flags, "READ|CREAT|TRUNC|0x40");
  EXPECT_EQ(ev[0].detail, "mode=0600");
}

// Issue 13: lsetstat@openssh.com (chmod 4755) succeeded without a record.
TEST(SftpAuditor, LsetstatIsAudited) {
  SftpAuditor a;
  ASSERT_TRUE(a.client_data(packet(200, [](WireWriter& w) {
    w.u32(3);
    w.string(s("lsetstat@openssh.com"));
    w.string(s("/usr/local/bin/sh"));
    w.u32(0x04);
    w.u32(04755);
  })));
  ASSERT_TRUE(a.server_data(packet(101, [](WireWriter& w) {
    w.u32(3);
    w.u32(0);
    w.string(s(""));
    w.string(s(""));
  })));
  auto ev = a.take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].action, "lsetstat");
  EXPECT_EQ(ev[0].path, "/usr/local/bin/sh");
  EXPECT_TRUE(ev[0].ok);
  EXPECT_EQ(ev[0].extension, "lsetstat@openssh.com");
  EXPECT_EQ(ev[0].detail, "mode=04755");
}

// Issue 13: an extension the auditor does not understand is refused (and
// recorded), never passed through unaudited.
TEST(SftpAuditor, ExtensionOffTheAllowListIsRefusedAndRecorded) {
  SftpAuditor a;
  Status st = a.client_data(packet(200, [](WireWriter& w) {
    w.u32(4);
    w.string(s("chown-everything@example.com"));
    w.string(s("/"));
  }));
  ASSERT_FALSE(st);
  auto ev = a.take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].action, "extension");
  EXPECT_FALSE(ev[0].ok);
  EXPECT_TRUE(ev[0].refused);
  EXPECT_EQ(ev[0].extension, "chown-everything@example.com");
  EXPECT_NE(st.message().find("allow-list"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace bastion::recorder
