// End-to-end: audit records reach a stream syslog collector (tcp://, tls://)
// at least once and in order, across collector outages and daemon restarts.
// The collector is written here (a thread); TLS material comes from the
// openssl command line.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/openssl_handles.h"
#include "fixture.h"
#include "tests/support/test_database.h"

namespace bastion::e2e {
namespace {

struct Frame {
  int connection;  // 1, 2, ... in accept order
  std::string message;
};

// An RFC 6587/5425 collector on 127.0.0.1:port (0 = any). With `tls`, a TLS
// server (the context decides whether a client certificate is required).
class Collector {
 public:
  explicit Collector(int port = 0, SSL_CTX* tls = nullptr) : tls_(tls) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 8) != 0) {
      throw std::runtime_error("collector: cannot listen on port " + std::to_string(port));
    }
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~Collector() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  std::vector<Frame> frames() {
    std::lock_guard l(mu_);
    return frames_;
  }
  std::string problems() {
    std::lock_guard l(mu_);
    return problems_;
  }
  int connections() const { return connections_; }

 private:
  void run() {
    int conn = -1;
    SSL* ssl = nullptr;
    std::string buf;
    auto drop = [&] {
      if (ssl) SSL_free(ssl);
      ssl = nullptr;
      if (conn >= 0) ::close(conn);
      conn = -1;
      buf.clear();
    };
    while (!stop_) {
      pollfd p[2] = {{fd_, POLLIN, 0}, {conn, POLLIN, 0}};
      if (::poll(p, 2, 50) <= 0 && !(ssl && SSL_pending(ssl) > 0)) continue;
      if (p[0].revents & POLLIN) {  // a new connection replaces the old one
        drop();
        conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (conn < 0) continue;
        ++connections_;
        timeval tv{5, 0};
        setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (tls_) {
          ssl = SSL_new(tls_);
          SSL_set_fd(ssl, conn);
          if (SSL_accept(ssl) != 1) {
            note("TLS handshake failed on connection " + std::to_string(connections_.load()));
            drop();
          }
        }
        continue;
      }
      if (conn < 0) continue;
      char tmp[16384];
      int n = ssl ? SSL_read(ssl, tmp, sizeof tmp) : static_cast<int>(::read(conn, tmp, sizeof tmp));
      if (n <= 0) {
        drop();
        continue;
      }
      buf.append(tmp, static_cast<size_t>(n));
      split(buf);
    }
    drop();
  }
  // "LEN SP MSG" frames; anything else is noted as a problem.
  void split(std::string& buf) {
    for (;;) {
      auto sp = buf.find(' ');
      if (sp == std::string::npos) return;
      if (sp == 0 || sp > 9 || buf.find_first_not_of("0123456789") < sp) {
        note("not octet-counted: " + buf.substr(0, 40));
        buf.clear();
        return;
      }
      size_t len = std::stoul(buf.substr(0, sp));
      if (buf.size() < sp + 1 + len) return;
      std::lock_guard l(mu_);
      frames_.push_back({connections_, buf.substr(sp + 1, len)});
      buf.erase(0, sp + 1 + len);
    }
  }
  void note(const std::string& p) {
    std::lock_guard l(mu_);
    problems_ += p + "\n";
  }

  SSL_CTX* tls_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
  std::mutex mu_;
  std::vector<Frame> frames_;
  std::string problems_;
};

int64_t seq_of(const std::string& m) {
  static const std::regex re("\\[bastion@32473 seq=\"([0-9]+)\"");
  std::smatch sm;
  return std::regex_search(m, sm, re) ? std::stoll(sm[1]) : -1;
}

// Every seq of the audit log's records in the collector's frames.
std::set<int64_t> seqs(const std::vector<Frame>& frames) {
  std::set<int64_t> out;
  for (const auto& f : frames) {
    if (int64_t s = seq_of(f.message); s > 0) out.insert(s);
  }
  return out;
}

class SyslogDelivery : public DeploymentTest<SyslogDelivery> {
 protected:
  static constexpr const char* kMarker = "# syslog = \"udp://127.0.0.1:514\"";
  // Replaces the [audit] syslog lines (restarts bastiond); "" puts the default back.
  static void set_syslog(const std::string& lines) {
    std::string from = current_.empty() ? kMarker : current_;
    current_ = lines;  // before the restart, which throws if bastiond refuses the configuration
    d->edit_config(from, lines.empty() ? kMarker : lines);
  }
  void TearDown() override {
    if (!current_.empty()) set_syslog("");
  }
  static int64_t newest_seq() { return d->sql_int64("SELECT MAX(seq) FROM audit_log"); }
  // Waits until every seq from `from` to the newest has arrived.
  static bool all_arrived(Collector& c, int64_t from, int timeout_ms = 30000) {
    return wait_for(
        [&] {
          auto got = seqs(c.frames());
          int64_t newest = newest_seq();
          for (int64_t s = from; s <= newest; ++s) {
            if (!got.count(s)) return false;
          }
          return true;
        },
        timeout_ms);
  }
  static std::string cursor_file() { return d->dir() + "/state/syslog.cursor"; }
  // Up to where the collector has the log by the delivery cursor (its file
  // on SQLite, the database's on PostgreSQL): -1 if there is none.
  static int64_t cursor_seq() {
    auto status = nlohmann::json::parse(d->ctl_ok({"audit", "syslog-status", "--json"}));
    return status["cursor_seq"].is_number() ? status["cursor_seq"].get<int64_t>() : -1;
  }
  static inline std::string current_;
};

// Within each connection, records arrive in order and without a gap.
void expect_in_order_per_connection(const std::vector<Frame>& frames) {
  std::map<int, int64_t> last;
  for (const auto& f : frames) {
    int64_t s = seq_of(f.message);
    if (s < 0) continue;  // a checkpoint line
    auto it = last.find(f.connection);
    if (it != last.end()) {
      EXPECT_EQ(s, it->second + 1) << "connection " << f.connection;
    }
    last[f.connection] = s;
  }
}

TEST_F(SyslogDelivery, TcpDeliversEveryRecordAcrossCollectorOutagesAndRestarts) {
  std::remove(cursor_file().c_str());
  auto collector = std::make_unique<Collector>();
  int port = collector->port();
  std::string target = "tcp://127.0.0.1:" + std::to_string(port);
  set_syslog("syslog = \"" + target + "\"");
  // (1) No cursor yet: the whole retained log, from seq 1, framed, in order.
  ASSERT_TRUE(all_arrived(*collector, 1)) << collector->problems();
  auto frames = collector->frames();
  EXPECT_EQ(collector->problems(), "");
  EXPECT_EQ(seq_of(frames.front().message), 1);
  EXPECT_EQ(frames.front().message.rfind("<", 0), 0u);
  EXPECT_NE(frames.front().message.find(">1 "), std::string::npos) << "RFC 5424 version 1";
  EXPECT_NE(frames.front().message.find(" bastiond "), std::string::npos);
  expect_in_order_per_connection(frames);

  // (2) The collector goes away; records written meanwhile arrive when it is back.
  int64_t before_outage = newest_seq();
  size_t log_before = d->gateway_log().size();
  std::set<int64_t> all = seqs(collector->frames());
  collector.reset();
  ASSERT_TRUE(wait_for(
      [&] {
        return d->gateway_log().find("syslog: delivery to " + target + " failing", log_before) != std::string::npos;
      },
      15000))
      << d->gateway_log().substr(log_before);
  for (std::string who : {"syslog-a", "syslog-b", "syslog-c"}) d->ctl_ok({"user", "add", who, "--role", "ops"});
  ASSERT_GE(newest_seq(), before_outage + 3);
  collector = std::make_unique<Collector>(port);
  ASSERT_TRUE(all_arrived(*collector, before_outage + 1)) << d->gateway_log().substr(log_before);
  EXPECT_TRUE(wait_for(
      [&] {
        return d->gateway_log().find("syslog: delivering to " + target + " again", log_before) != std::string::npos;
      },
      5000))
      << d->gateway_log().substr(log_before);
  expect_in_order_per_connection(collector->frames());
  EXPECT_TRUE(wait_for([&] { return cursor_seq() == newest_seq(); }, 5000)) << cursor_seq();

  auto status = nlohmann::json::parse(d->ctl_ok({"audit", "syslog-status", "--json"}));
  EXPECT_EQ(status["target"], target);
  EXPECT_EQ(status["cursor_seq"], newest_seq()) << status.dump();
  EXPECT_EQ(status["behind"], 0) << status.dump();

  // (3) bastiond stops, records are written while it is down, it starts
  // again: it resumes from the cursor; no gap, nothing from before again.
  int64_t before_restart = newest_seq();
  ASSERT_TRUE(wait_for([&] { return cursor_seq() == before_restart; }, 5000)) << cursor_seq();
  for (int64_t x : seqs(collector->frames())) all.insert(x);
  collector.reset();
  collector = std::make_unique<Collector>(port);
  pid_t old_pid = d->bastiond().pid();
  EXPECT_EQ(d->bastiond().stop(), 0) << "SIGTERM is handled (the delivery thread does not take it)";
  EXPECT_NE(d->gateway_log().find("bastiond[" + std::to_string(old_pid) + "]: stopped\n"), std::string::npos);
  d->ctl_ok({"user", "add", "syslog-d", "--role", "ops"});
  d->ctl_ok({"user", "add", "syslog-e", "--role", "ops"});
  ASSERT_GE(newest_seq(), before_restart + 2);
  d->restart_bastiond();
  d->ctl_ok({"user", "add", "syslog-f", "--role", "ops"});
  ASSERT_TRUE(all_arrived(*collector, before_restart + 1)) << d->gateway_log().substr(log_before);
  auto after = collector->frames();
  expect_in_order_per_connection(after);
  EXPECT_EQ(*seqs(after).begin(), before_restart + 1) << "resumed after the cursor, nothing older sent again";
  // Over the three collectors: every record, from the first to the newest.
  for (int64_t x : seqs(after)) all.insert(x);
  for (int64_t x = 1; x <= newest_seq(); ++x) EXPECT_TRUE(all.count(x)) << "seq " << x << " never arrived";
  collector.reset();
}

// Several gateway nodes on one PostgreSQL: only the lead delivers, so the
// collector gets each record once, not once per node; when the lead dies,
// the next lead carries on from the cursor in the database, without a gap
// and without resending what the collector already acknowledged.
TEST(SyslogCluster, OneNodeDeliversAndTheNextLeadCarriesOnWhenItDies) {
  if (!test_support::under_postgres()) GTEST_SKIP() << "several gateway nodes share PostgreSQL, not a SQLite file";
  Deployment d;
  Collector collector;
  std::string target = "tcp://127.0.0.1:" + std::to_string(collector.port());
  d.edit_config("# syslog = \"udp://127.0.0.1:514\"", "syslog = \"" + target + "\"");
  d.add_node("node-b");
  auto newest = [&] { return d.sql_int64("SELECT MAX(seq) FROM audit_log"); };
  auto arrived = [&](int64_t from) {
    auto got = seqs(collector.frames());
    for (int64_t s = from; s <= newest(); ++s) {
      if (!got.count(s)) return false;
    }
    return true;
  };
  auto status = [&](const std::string& node) {
    auto r = node.empty() ? d.ctl({"audit", "syslog-status", "--json"})
                          : d.node_ctl(node, {"audit", "syslog-status", "--json"});
    return nlohmann::json::parse(r.out.empty() ? "{}" : r.out);
  };
  for (std::string who : {"sc-a", "sc-b", "sc-c"}) d.ctl_ok({"user", "add", who, "--role", "ops"});
  ASSERT_TRUE(wait_for([&] { return arrived(1); }, 30000)) << collector.problems() << d.gateway_log();
  ASSERT_TRUE(wait_for([&] { return status("")["cursor_seq"] == newest(); }, 10000)) << status("").dump();
  int64_t acknowledged = newest();
  // Each record once: the other node sent nothing.
  std::map<int64_t, int> copies;
  for (const auto& f : collector.frames()) {
    if (int64_t s = seq_of(f.message); s > 0) ++copies[s];
  }
  for (const auto& [s, n] : copies) EXPECT_EQ(n, 1) << "seq " << s << " arrived " << n << " times";
  EXPECT_EQ(collector.connections(), 1);
  auto before = status("");
  EXPECT_EQ(before["cursor_in"], "database") << before.dump();
  size_t frames_before = collector.frames().size();

  // The lead (the first node) dies; records keep coming through node B.
  ASSERT_EQ(::kill(d.bastiond().pid(), SIGKILL), 0);
  d.bastiond().wait(5000);
  for (std::string who : {"sc-d", "sc-e"}) {
    auto r = d.node_ctl("node-b", {"user", "add", who, "--role", "ops"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // Node B leads once node A is declared down (10 s), and delivers.
  ASSERT_TRUE(wait_for([&] { return arrived(1); }, 40000)) << collector.problems();
  ASSERT_TRUE(wait_for([&] { return status("node-b")["cursor_node"] == "node-b"; }, 10000)) << status("node-b").dump();
  auto frames = collector.frames();
  int64_t first_after = -1;
  for (size_t i = frames_before; i < frames.size(); ++i) {
    int64_t s = seq_of(frames[i].message);
    if (s < 0) continue;  // a checkpoint line
    if (first_after < 0) first_after = s;
    EXPECT_GT(s, acknowledged) << "resent after the collector had acknowledged it";
  }
  EXPECT_EQ(first_after, acknowledged + 1);
}

// TLS material made with the openssl command line: two CAs, a server
// certificate for 127.0.0.1 from the first, a client certificate from the first.
struct TlsFiles {
  std::string dir;
  std::string ca, wrong_ca, server_cert, server_key, client_cert, client_key;
};

TlsFiles make_tls_files(const std::string& dir) {
  TlsFiles t{dir,
             dir + "/ca.pem",
             dir + "/wrong_ca.pem",
             dir + "/server.pem",
             dir + "/server.key",
             dir + "/client.pem",
             dir + "/client.key"};
  auto ok = [](const std::vector<std::string>& argv) {
    auto r = run(argv);
    if (r.exit_code != 0) throw std::runtime_error(argv[0] + " " + argv[1] + ": " + r.err);
  };
  auto ca = [&](const std::string& pem, const std::string& key, const std::string& cn) {
    ok({"openssl",
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=" + cn,
        "-keyout",
        key,
        "-out",
        pem,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign"});
  };
  ca(t.ca, dir + "/ca.key", "syslog test CA");
  ca(t.wrong_ca, dir + "/wrong_ca.key", "syslog test CA");  // same name, other key
  auto leaf = [&](const std::string& pem, const std::string& key, const std::string& cn, const std::string& ext) {
    write_text(dir + "/" + cn + ".ext", ext);
    ok({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj",
        "/CN=" + cn, "-keyout", key, "-out", dir + "/" + cn + ".csr"});
    ok({"openssl", "x509", "-req", "-in", dir + "/" + cn + ".csr", "-CA", t.ca, "-CAkey", dir + "/ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", dir + "/" + cn + ".ext", "-out", pem});
  };
  leaf(t.server_cert, t.server_key, "collector", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  leaf(t.client_cert, t.client_key, "gateway", "extendedKeyUsage=clientAuth\n");
  return t;
}

TEST_F(SyslogDelivery, TlsVerifiesTheCollectorAndPresentsAClientCertificate) {
  std::string dir = d->dir() + "/syslog-tls";
  std::filesystem::create_directories(dir);
  TlsFiles t = make_tls_files(dir);
  SslCtx server(SSL_CTX_new(TLS_server_method()));
  ASSERT_EQ(SSL_CTX_use_certificate_file(server.get(), t.server_cert.c_str(), SSL_FILETYPE_PEM), 1);
  ASSERT_EQ(SSL_CTX_use_PrivateKey_file(server.get(), t.server_key.c_str(), SSL_FILETYPE_PEM), 1);
  ASSERT_EQ(SSL_CTX_load_verify_locations(server.get(), t.ca.c_str(), nullptr), 1);
  SSL_CTX_set_verify(server.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  Collector collector(0, server.get());
  std::string target = "tls://127.0.0.1:" + std::to_string(collector.port());

  // (4) A collector whose certificate the configured CA did not sign gets nothing.
  size_t log_before = d->gateway_log().size();
  set_syslog("syslog = \"" + target + "\"\nsyslog_ca = \"" + t.wrong_ca + "\"\nsyslog_cert = \"" + t.client_cert +
             "\"\nsyslog_key = \"" + t.client_key + "\"");
  ASSERT_TRUE(wait_for(
      [&] { return d->gateway_log().find("certificate verification failed", log_before) != std::string::npos; }, 15000))
      << d->gateway_log().substr(log_before);
  EXPECT_NE(
      d->gateway_log().find("syslog: delivery to " + target + " failing: certificate verification failed", log_before),
      std::string::npos)
      << d->gateway_log().substr(log_before);
  EXPECT_TRUE(collector.frames().empty());
  EXPECT_GE(collector.connections(), 1) << "it connected, then refused the certificate";

  // The right CA, but the certificate does not name the host asked for
  // (it names IP 127.0.0.1 only): refused too.
  std::string by_name = "tls://localhost:" + std::to_string(collector.port());
  log_before = d->gateway_log().size();
  set_syslog("syslog = \"" + by_name + "\"\nsyslog_ca = \"" + t.ca + "\"\nsyslog_cert = \"" + t.client_cert +
             "\"\nsyslog_key = \"" + t.client_key + "\"");
  ASSERT_TRUE(wait_for(
      [&] {
        return d->gateway_log().find(
                   "syslog: delivery to " + by_name + " failing: certificate verification failed: hostname mismatch",
                   log_before) != std::string::npos;
      },
      15000))
      << d->gateway_log().substr(log_before);
  EXPECT_TRUE(collector.frames().empty());

  // The right CA: everything arrives, over TLS with the client certificate.
  set_syslog("syslog = \"" + target + "\"\nsyslog_ca = \"" + t.ca + "\"\nsyslog_cert = \"" + t.client_cert +
             "\"\nsyslog_key = \"" + t.client_key + "\"");
  ASSERT_TRUE(all_arrived(collector, 1)) << d->gateway_log().substr(log_before) << collector.problems();
  // Sessions (connection processes forked while the delivery thread runs) work, and are delivered.
  for (int i = 0; i < 3; ++i) ASSERT_EQ(d->ssh(*alice, dest(), {"true"}).exit_code, 0);
  // The session's end is recorded after the client has its exit status, so wait for
  // all three ends to be delivered rather than for what the database held a moment ago.
  auto ends = [&] {
    int n = 0;
    for (const auto& f : collector.frames()) n += f.message.find("\"action\":\"session.end\"") != std::string::npos;
    return n;
  };
  EXPECT_TRUE(wait_for([&] { return ends() >= 3; }, 30000)) << ends() << " session.end records arrived";
  ASSERT_TRUE(all_arrived(collector, 1)) << d->gateway_log().substr(log_before) << collector.problems();
  expect_in_order_per_connection(collector.frames());
  EXPECT_EQ(collector.problems().find("not octet-counted"), std::string::npos) << collector.problems();
  set_syslog("");
}

TEST_F(SyslogDelivery, BadTlsConfigurationStopsTheDaemonWithOneLine) {
  size_t log_before = d->gateway_log().size();
  std::string missing = d->dir() + "/no-such-ca.pem";
  EXPECT_THROW(set_syslog("syslog = \"tls://127.0.0.1:6514\"\nsyslog_ca = \"" + missing + "\""), std::runtime_error);
  std::string log = d->gateway_log().substr(log_before);
  EXPECT_NE(log.find("]: [audit] syslog_ca " + missing + ": No such file or directory\n"), std::string::npos) << log;
  set_syslog("");
  EXPECT_TRUE(d->bastiond().running());
}

}  // namespace
}  // namespace bastion::e2e
