#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>

#include "common/files.h"
#include "recorder/audit_log.h"
#include "recorder/syslog_cursor.h"
#include "recorder/syslog_forwarder.h"
#include "recorder/syslog_transport.h"
#include "tests/support/test_database.h"

namespace bastion::recorder {
namespace {

TEST(SyslogFraming, OctetCountingCountsBytesNotCharacters) {
  EXPECT_EQ(frame_octet_counted("<86>1 - x"), "9 <86>1 - x");
  EXPECT_EQ(frame_octet_counted("\xc3\xa9"), "2 \xc3\xa9");  // "é": two octets
  EXPECT_EQ(frame_octet_counted(""), "0 ");
}

TEST(SyslogTarget, ParsesEachTransport) {
  auto t = parse_syslog_target("tls://logs.example:6514");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->kind, SyslogTarget::Kind::kTls);
  EXPECT_EQ(t->host, "logs.example");
  EXPECT_EQ(t->port, "6514");
  EXPECT_TRUE(t->is_stream());
  t = parse_syslog_target("tcp://[::1]:601");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "::1");
  EXPECT_EQ(t->port, "601");
  t = parse_syslog_target("unix:/dev/log");
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->is_stream());
  EXPECT_EQ(t->path, "/dev/log");
  EXPECT_FALSE(parse_syslog_target("tcp://nohost"));
  EXPECT_FALSE(parse_syslog_target("tcp://host:port"));
  EXPECT_FALSE(parse_syslog_target("http://host:80"));
}

// A loopback socket that listens but never accepts (the kernel's backlog
// completes TCP connects); `rcvbuf` (if > 0) is inherited by accepted sockets.
// Returns the socket; `port` gets its port.
int mute_listener(int& port, int rcvbuf = 0) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 4) != 0) {
    ::close(fd);
    return -1;
  }
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

class SyslogDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() / ("syslog-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::string path(const std::string& name) const { return (dir / name).string(); }
  // This test's database with an audit log of `records` records (details {"i": N}).
  void open_log(int records) {
    auto opened = Database::open(bastion::test_support::test_database(path("db")), Database::Mode::kCreate);
    ASSERT_TRUE(opened) << opened.error().message;
    db.emplace(std::move(*opened));
    audit.emplace(*db, clock);
    for (int i = 0; i < records; ++i) {
      ASSERT_TRUE(audit->append({"alice", "auth", Outcome::kAllow, "", "t", "root", "", "", {{"i", i}}}));
    }
  }
  // Forwarding to `target` from this test's database, with its cursor file here.
  SyslogOptions options(const std::string& target) const {
    SyslogOptions o;
    o.target = target;
    o.database = bastion::test_support::test_database(path("db"));
    o.cursor_file = path("syslog.cursor");
    return o;
  }
  // Whether the database's cursor for `target` is at `seq`, recorded by `node`.
  bool cursor_is(const std::string& target, int64_t seq, const std::string& node) {
    auto row = audit->syslog_cursor(target);
    return row && *row && (*row)->seq == seq && (*row)->node == node;
  }
  std::filesystem::path dir;
  FakeClock clock{1'800'000'000'000'000};
  std::optional<Database> db;
  std::optional<AuditLog> audit;
};

TEST_F(SyslogDir, CursorRoundTrips) {
  auto none = load_syslog_cursor(path("c"));
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(save_syslog_cursor(path("c"), {"tcp://127.0.0.1:601", 42}));
  auto c = load_syslog_cursor(path("c"));
  ASSERT_TRUE(c && c->has_value());
  EXPECT_EQ((*c)->target, "tcp://127.0.0.1:601");
  EXPECT_EQ((*c)->seq, 42);
  ASSERT_TRUE(save_syslog_cursor(path("c"), {"tcp://127.0.0.1:601", 43}));
  EXPECT_EQ((*load_syslog_cursor(path("c")))->seq, 43);
  // Only the cursor is left: the temporary file was renamed over it.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()), 1);
}

TEST_F(SyslogDir, CorruptCursorIsAnErrorNotAReset) {
  for (std::string bad :
       {std::string(""), std::string("bastion syslog cursor 1\ntarget tcp://h:1\nseq 12x\n"),
        std::string("bastion syslog cursor 1\ntarget tcp://h:1\nseq -3\n"),
        std::string("bastion syslog cursor 1\ntarget tcp://h:1\n"),
        std::string("bastion syslog cursor 1\ntarget tcp://h:1\nseq 5"), std::string("something else\n")}) {
    ASSERT_TRUE(write_file_atomic(path("c"), bad, 0600, true));
    auto c = load_syslog_cursor(path("c"));
    ASSERT_FALSE(c) << "accepted: " << bad;
    EXPECT_NE(c.error().message.find(path("c") + " is corrupt"), std::string::npos) << c.error().message;
    EXPECT_NE(c.error().message.find("remove it"), std::string::npos) << c.error().message;
  }
  // The forwarder refuses to start on it rather than starting over.
  SyslogOptions o;
  o.target = "tcp://127.0.0.1:9";
  o.database = path("db");
  o.cursor_file = path("c");
  auto f = SyslogForwarder::open(o);
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message.find("is corrupt"), std::string::npos) << f.error().message;
}

TEST_F(SyslogDir, BadTlsFilesStopTheStart) {
  SyslogOptions o;
  o.target = "tls://127.0.0.1:6514";
  o.database = path("db");
  o.cursor_file = path("c");
  o.ca_file = path("missing-ca.pem");
  auto f = SyslogForwarder::open(o);
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message.find("syslog_ca " + path("missing-ca.pem")), std::string::npos) << f.error().message;
  ASSERT_TRUE(write_file_atomic(path("junk.pem"), "not a certificate\n", 0600, true));
  o.ca_file = path("junk.pem");
  f = SyslogForwarder::open(o);
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message.find("no usable PEM certificate"), std::string::npos) << f.error().message;
  o.target = "tcp://127.0.0.1:601";
  f = SyslogForwarder::open(o);
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message.find("need a tls://"), std::string::npos) << f.error().message;
}

// A TCP collector on loopback that splits octet-counted frames.
class Collector {
 public:
  explicit Collector(int fixed_port = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(fixed_port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    EXPECT_EQ(::listen(fd_, 4), 0);
    thread_ = std::thread([this] { run(); });
  }
  ~Collector() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::vector<std::string> messages() {
    std::lock_guard l(mu_);
    return messages_;
  }
  int port = 0;

 private:
  void run() {
    int conn = -1;
    std::string buf;
    while (!stop_) {
      pollfd p{conn >= 0 ? conn : fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      if (conn < 0) {
        conn = ::accept(fd_, nullptr, nullptr);
        continue;
      }
      char tmp[4096];
      ssize_t n = ::read(conn, tmp, sizeof tmp);
      if (n <= 0) {
        ::close(conn);
        conn = -1;
        continue;
      }
      buf.append(tmp, static_cast<size_t>(n));
      for (;;) {
        auto sp = buf.find(' ');
        if (sp == std::string::npos) break;
        size_t len = std::stoul(buf.substr(0, sp));
        if (buf.size() < sp + 1 + len) break;
        std::lock_guard l(mu_);
        messages_.push_back(buf.substr(sp + 1, len));
        buf.erase(0, sp + 1 + len);
      }
    }
    if (conn >= 0) ::close(conn);
  }
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> messages_;
};

template <class Pred>
bool eventually(Pred p, int ms) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < end) {
    if (p()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return p();
}

TEST_F(SyslogDir, TcpDeliversEveryRecordInOrderAndAdvancesTheCursor) {
  ASSERT_NO_FATAL_FAILURE(open_log(5));
  Collector c;
  SyslogOptions o = options("tcp://127.0.0.1:" + std::to_string(c.port));
  {
    auto f = SyslogForwarder::open(o);
    ASSERT_TRUE(f) << f.error().message;
    ASSERT_TRUE(eventually([&] { return c.messages().size() >= 5; }, 10000));
    for (int i = 0; i < 3; ++i)
      ASSERT_TRUE(audit->append({"bob", "access", Outcome::kDeny, "no", "t", "", "", "", {}}));
    ASSERT_TRUE(f->forward_new(*audit));
    f->send_line("CHECKPOINT", 5, "checkpoint line");
    ASSERT_TRUE(eventually([&] { return c.messages().size() >= 9; }, 10000));
    ASSERT_TRUE(eventually([&] { return (*load_syslog_cursor(o.cursor_file))->seq == 8; }, 5000));
  }
  auto m = c.messages();
  ASSERT_EQ(m.size(), 9u);
  for (int i = 0; i < 8; ++i) {
    EXPECT_NE(m[static_cast<size_t>(i)].find("[bastion@32473 seq=\"" + std::to_string(i + 1) + "\""), std::string::npos)
        << m[static_cast<size_t>(i)];
  }
  EXPECT_NE(m[5].find("<84>1 "), std::string::npos) << "a deny is a warning: " << m[5];
  EXPECT_NE(m[8].find(" CHECKPOINT - checkpoint line"), std::string::npos) << m[8];
}

// The sequence numbers the collector received, in arrival order.
std::vector<int> received_seqs(const std::vector<std::string>& messages) {
  std::vector<int> out;
  for (const auto& m : messages) {
    auto at = m.find("seq=\"");
    if (at != std::string::npos) out.push_back(std::stoi(m.substr(at + 5)));
  }
  return out;
}

// Several gateway nodes on one database: only the active forwarder (the
// lead's) delivers, and the next one carries on from the cursor the
// database holds: every record once, none missed, no copy per node.
TEST_F(SyslogDir, ASharedCursorHasOneNodeDeliverAndTheNextCarryOnWithoutAGap) {
  ASSERT_NO_FATAL_FAILURE(open_log(5));
  Collector c;
  std::string target = "tcp://127.0.0.1:" + std::to_string(c.port);
  SyslogOptions a = options(target);
  a.shared_cursor = true;
  a.node = "node-a";
  a.cursor_file = path("a.cursor");
  SyslogOptions b = a;
  b.node = "node-b";
  b.cursor_file = path("b.cursor");
  auto fa = SyslogForwarder::open(a);
  ASSERT_TRUE(fa) << fa.error().message;
  auto fb = SyslogForwarder::open(b);
  ASSERT_TRUE(fb) << fb.error().message;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(c.messages().empty()) << "delivered before any node was told to";

  fa->set_active(true);
  ASSERT_TRUE(eventually([&] { return c.messages().size() >= 5; }, 10000));
  ASSERT_TRUE(eventually([&] { return cursor_is(target, 5, "node-a"); }, 5000));
  // The lead changes; records keep coming.
  fa->set_active(false);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(audit->append({"bob", "access", Outcome::kDeny, "no", "t", "", "", "", {}}));
  ASSERT_TRUE(fa->forward_new(*audit));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(c.messages().size(), 5u) << "an inactive forwarder delivered";
  fb->set_active(true);
  ASSERT_TRUE(eventually([&] { return c.messages().size() >= 8; }, 10000));
  ASSERT_TRUE(eventually([&] { return cursor_is(target, 8, "node-b"); }, 5000));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(received_seqs(c.messages()), (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8}));
  // The cursor is the database's: no file was written.
  EXPECT_FALSE(std::filesystem::exists(a.cursor_file));
  EXPECT_FALSE(std::filesystem::exists(b.cursor_file));
  // A cursor never moves back (two nodes both delivering for a moment).
  ASSERT_TRUE(audit->set_syslog_cursor(target, 3, "node-a"));
  EXPECT_EQ((*audit->syslog_cursor(target))->seq, 8);
}

// A single node's cursor file is where delivery resumes when the database
// has no cursor for the target yet (a deployment moved to PostgreSQL).
TEST_F(SyslogDir, ASharedCursorStartsFromThisNodesCursorFileWhenTheDatabaseHasNone) {
  ASSERT_NO_FATAL_FAILURE(open_log(6));
  Collector c;
  std::string target = "tcp://127.0.0.1:" + std::to_string(c.port);
  SyslogOptions o = options(target);
  o.shared_cursor = true;
  o.node = "node-a";
  ASSERT_TRUE(save_syslog_cursor(o.cursor_file, {target, 4}));
  auto f = SyslogForwarder::open(o);
  ASSERT_TRUE(f) << f.error().message;
  f->set_active(true);
  ASSERT_TRUE(eventually([&] { return c.messages().size() >= 2; }, 10000));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(received_seqs(c.messages()), (std::vector<int>{5, 6}));
  ASSERT_TRUE(eventually([&] { return cursor_is(target, 6, "node-a"); }, 5000));
}

TEST_F(SyslogDir, ABacklogOfManyBatchesArrivesInOrder) {
  constexpr int kRecords = 1234;  // a flood: several batches of 200
  ASSERT_NO_FATAL_FAILURE(open_log(kRecords));
  Collector c;
  SyslogOptions o = options("tcp://127.0.0.1:" + std::to_string(c.port));
  auto t0 = std::chrono::steady_clock::now();
  auto f = SyslogForwarder::open(o);
  ASSERT_TRUE(f) << f.error().message;
  ASSERT_TRUE(eventually([&] { return c.messages().size() >= kRecords; }, 30000)) << c.messages().size();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  RecordProperty("backlog_ms", static_cast<int>(ms));
  auto m = c.messages();
  for (size_t i = 0; i < m.size(); ++i) {
    ASSERT_NE(m[i].find("seq=\"" + std::to_string(i + 1) + "\""), std::string::npos) << i;
  }
  EXPECT_TRUE(eventually([&] { return (*load_syslog_cursor(o.cursor_file))->seq == kRecords; }, 5000));
}

// Written is not delivered: a collector that accepts but never reads (its
// receive window closes) leaves bytes in our send queue, and the cursor must
// not move until they are acknowledged.
TEST_F(SyslogDir, TheCursorWaitsForTheAcknowledgementNotTheWrite) {
  ASSERT_NO_FATAL_FAILURE(open_log(300));
  int port = 0;
  int mute = mute_listener(port, 2048);  // a small receive buffer: the batch cannot all be taken in
  ASSERT_GE(mute, 0);
  SyslogOptions o = options("tcp://127.0.0.1:" + std::to_string(port));
  auto f = SyslogForwarder::open(o);
  ASSERT_TRUE(f) << f.error().message;
  pollfd p{mute, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  int conn = ::accept(mute, nullptr, nullptr);
  ASSERT_GE(conn, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // plenty of time to write the batch
  EXPECT_EQ((*load_syslog_cursor(o.cursor_file))->seq, 0) << "advanced before the collector had the records";
  ::close(conn);  // unread data: the collector resets the connection
  ::close(mute);
  Collector c(port);
  ASSERT_TRUE(eventually([&] { return c.messages().size() >= 300; }, 15000)) << c.messages().size();
  EXPECT_NE(c.messages()[0].find("seq=\"1\""), std::string::npos) << "resent from the cursor";
  EXPECT_TRUE(eventually([&] { return (*load_syslog_cursor(o.cursor_file))->seq == 300; }, 5000));
}

TEST_F(SyslogDir, StopsPromptlyWhenTheCollectorIsDown) {
  ASSERT_TRUE(Database::open(bastion::test_support::test_database(path("db")), Database::Mode::kCreate));
  int probe = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(probe, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(probe);  // nothing listens on this port now
  SyslogOptions o = options("tcp://127.0.0.1:" + std::to_string(ntohs(a.sin_port)));
  o.start_from_oldest = false;
  std::vector<std::string> logged;
  std::mutex mu;
  o.log = [&](const std::string& s) {
    std::lock_guard l(mu);
    logged.push_back(s);
  };
  auto f = SyslogForwarder::open(o);
  ASSERT_TRUE(f) << f.error().message;
  ASSERT_TRUE(eventually(
      [&] {
        std::lock_guard l(mu);
        return !logged.empty();
      },
      5000));
  EXPECT_NE(logged[0].find("failing: cannot connect"), std::string::npos) << logged[0];
  auto t0 = std::chrono::steady_clock::now();
  f = make_error("closed");  // destroys the forwarder
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(ms, 1000);
}

TEST_F(SyslogDir, StopsPromptlyInAHandshakeThatNeverEnds) {
  ASSERT_TRUE(Database::open(bastion::test_support::test_database(path("db")), Database::Mode::kCreate));
  // Listens but never accepts: TCP connects (the kernel's backlog), TLS waits for a ServerHello.
  int port = 0;
  int mute = mute_listener(port);
  ASSERT_GE(mute, 0);
  SyslogOptions o = options("tls://127.0.0.1:" + std::to_string(port));
  auto f = SyslogForwarder::open(o);
  ASSERT_TRUE(f) << f.error().message;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let it get into the handshake
  auto t0 = std::chrono::steady_clock::now();
  f = make_error("closed");
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  RecordProperty("stop_ms", static_cast<int>(ms));
  EXPECT_LT(ms, 1000);
  ::close(mute);
}

}  // namespace
}  // namespace bastion::recorder
