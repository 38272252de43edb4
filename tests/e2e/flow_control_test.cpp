// Flow control and pre-auth limits, end to end.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>

#include <chrono>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "fixture.h"

namespace bastion::e2e {
namespace {

// A target that writes 256 MiB as fast as it can to a client that stops
// reading: the gateway must stop reading from the target (SSH windows), not
// buffer the stream. We assert on the connection process's peak memory.
TEST(FlowControl, StalledClientDoesNotMakeTheGatewayBuffer) {
  Deployment d;
  SshKeyFiles key = d.add_person("alice", {"ops"});
  auto argv = d.ssh_argv(key, d.login() + "@prod-db-1");
  argv.push_back("head -c 268435456 /dev/zero");
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(out[1]);
  char buf[1 << 16];
  ssize_t first = read(out[0], buf, sizeof buf);
  ASSERT_GT(first, 0);  // the stream has started
  // Our connection process is then the only child left (the fixture's port
  // probe, if still around, exits at once).
  pid_t conn = -1;
  ASSERT_TRUE(wait_for(
      [&] {
        auto kids = connection_pids(d.bastiond().pid());
        if (kids.size() == 1) conn = kids[0];
        return kids.size() == 1;
      },
      10000));
  wait_for([] { return false; }, 3000);  // stalled: nobody reads for 3 s
  long stalled_kib = proc_status_kib(conn, "VmHWM");
  uint64_t total = static_cast<uint64_t>(first);
  for (;;) {
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    total += static_cast<uint64_t>(n);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  close(out[0]);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(total, 268435456u) << "every byte arrives";
  ASSERT_GT(stalled_kib, 0);
  RecordProperty("connection_peak_kib", std::to_string(stalled_kib));
  std::printf("connection process peak with a stalled client: %ld KiB\n", stalled_kib);
  // The whole stream is 256 MiB; buffering it would show. Windows bound the
  // in-flight data to a few MiB per direction.
#ifdef BASTION_SANITIZED
  // ASan's shadow memory and quarantine inflate every process; still far
  // below the 256 MiB that buffering the stream would take.
  constexpr long kLimitKib = 160 * 1024;
#else
  constexpr long kLimitKib = 48 * 1024;
#endif
  EXPECT_LT(stalled_kib, kLimitKib) << "connection process peaked at " << stalled_kib << " KiB";
}

TEST(PreAuthLimits, CapsUnauthenticatedConnectionsPerSource) {
  Deployment d;
  SshKeyFiles key = d.add_person("alice", {"ops"});
  d.edit_config("max_unauthenticated_per_source = 512", "max_unauthenticated_per_source = 2");
  d.edit_config("max_queued_per_source = 512", "max_queued_per_source = 1");
  auto connect_idle = [&] {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(d.gateway_port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return fd;
  };
  auto banner_or_close = [](int fd) {
    char buf[256];
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) return std::string("timeout");
    ssize_t n = read(fd, buf, sizeof buf);
    return n <= 0 ? std::string("closed") : std::string(buf, static_cast<size_t>(n));
  };
  // The restart's port probe may still be queued; connections are accepted in
  // order, so once `a` has its banner the probe has been accepted, and we wait
  // until `a` is the only pre-auth connection left.
  auto conns = [&] { return connection_pids(d.bastiond().pid()).size(); };
  // The restart's port probes can still hold both slots and the queue (a
  // slow start leaves more of them): then `a` is refused; it tries again
  // once they are gone.
  int a = -1;
  std::string first;
  for (int attempt = 0; attempt < 20; ++attempt) {
    a = connect_idle();
    first = banner_or_close(a);
    if (first.rfind("SSH-2.0-", 0) == 0) break;
    close(a);
    wait_for([&] { return conns() == 0; }, 5000);
  }
  EXPECT_EQ(first.rfind("SSH-2.0-", 0), 0u) << first;
  ASSERT_TRUE(wait_for([&] { return conns() == 1; }, 10000));
  int b = connect_idle();
  EXPECT_EQ(banner_or_close(b).rfind("SSH-2.0-", 0), 0u);
  // Over the cap: the next one waits (accepted, no banner yet), the one after
  // that is over the queue's bound and is refused.
  int c = connect_idle();
  int e = connect_idle();
  EXPECT_EQ(banner_or_close(e), "closed");
  close(e);
  pollfd p{c, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 500), 0) << "a waiting connection gets no banner while the cap is reached";
  // A slot frees: the waiting one is served.
  close(a);
  EXPECT_EQ(banner_or_close(c).rfind("SSH-2.0-", 0), 0u);
  close(c);
  close(b);
  // Once the idle ones are gone, a real login goes through.
  EXPECT_TRUE(wait_for([&] { return d.ssh(key, d.login() + "@prod-db-1", {"true"}).exit_code == 0; }, 10000));
  EXPECT_NE(d.gateway_log().find("too many unauthenticated connections"), std::string::npos);
}

TEST(PreAuthLimits, BackOffAfterFailedLoginsPerSourceAndPerKey) {
  Deployment d;
  SshKeyFiles alice = d.add_person("alice", {"ops"});
  SshKeyFiles stranger = d.make_sk_key("stranger");  // never enrolled
  d.edit_config("auth_backoff_after = 0", "auth_backoff_after = 2");
  std::string dest = d.login() + "@prod-db-1";
  auto idle = [&] { return wait_for([&] { return connection_pids(d.bastiond().pid()).empty(); }, 10000); };
  // Per source: two connections that cannot authenticate, then the address waits 1 s.
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(d.ssh(stranger, dest, {"true"}).exit_code, 255);
    ASSERT_TRUE(idle());
  }
  auto refused = d.ssh(alice, dest, {"true"});
  EXPECT_EQ(refused.exit_code, 255);
  EXPECT_EQ(refused.err.find("Permission denied"), std::string::npos)
      << "refused before authentication: " << refused.err;
  EXPECT_NE(d.gateway_log().find("back-off after 2 failed logins"), std::string::npos) << d.gateway_log();
  EXPECT_TRUE(wait_for([&] { return d.ssh(alice, dest, {"true"}).exit_code == 0; }, 5000));
  // Per key: an enrolled key refused twice (a login no role allows) waits too, even for allowed logins.
  for (int i = 0; i < 2; ++i) EXPECT_EQ(d.ssh(alice, "nobody@prod-db-1", {"true"}).exit_code, 255);
  auto blocked = d.ssh(alice, dest, {"true"});
  EXPECT_EQ(blocked.exit_code, 255);
  EXPECT_NE(blocked.err.find("bastion: denied: too many failed logins with this key; try again in"), std::string::npos)
      << blocked.err;
  EXPECT_TRUE(wait_for([&] { return d.ssh(alice, dest, {"true"}).exit_code == 0; }, 5000));
  auto denied = nlohmann::json::parse(d.ctl_ok({"audit", "search", "too many failed logins", "--json"}));
  EXPECT_GE(denied.size(), 1u);
}

// One client offering many keys nobody enrolled: refused probes count
// towards max_auth_attempts (the connection ends after them, as with sshd),
// and only the first few are audited one by one, then one summary.
TEST(PreAuthLimits, ManyUnknownKeysEndTheConnectionAndAreSummarized) {
  Deployment d;
  SshKeyFiles alice = d.add_person("alice", {"ops"});
  std::vector<std::string> extra;
  for (int i = 0; i < 10; ++i) {
    SshKeyFiles k = d.make_plain_key("stranger" + std::to_string(i));
    extra.push_back("-i");
    extra.push_back(k.priv);
  }
  auto argv = d.ssh_argv(alice, d.login() + "@prod-db-1", extra);
  // alice's own key comes first in the argument list: move it last, so the strangers are offered first.
  argv.erase(argv.begin() + 5, argv.begin() + 7);
  argv.insert(argv.end() - 3, {"-i", alice.priv});
  argv.push_back("true");
  auto r = run(argv);
  EXPECT_EQ(r.exit_code, 255) << r.err;
  EXPECT_TRUE(wait_for([&] { return connection_pids(d.bastiond().pid()).empty(); }, 10000));
  auto records = [&](const std::string& text) {
    return nlohmann::json::parse(d.ctl_ok({"audit", "search", text, "--json"})).size();
  };
  EXPECT_TRUE(wait_for([&] { return records("too many authentication failures") == 1; }, 5000));
  EXPECT_EQ(records("key is not enrolled"), 3u);
  EXPECT_EQ(records("more refused keys offered"), 1u);
  // One key at a time still works.
  EXPECT_EQ(d.ssh(alice, d.login() + "@prod-db-1", {"true"}).exit_code, 0);
}

TEST(PreAuthLimits, HalfOpenFloodFromAnotherAddressDoesNotStopALogin) {
  Deployment d;
  SshKeyFiles alice = d.add_person("alice", {"ops"});
  d.edit_config("auth_backoff_after = 0", "auth_backoff_after = 3");
  d.edit_config("max_unauthenticated_per_source = 512", "max_unauthenticated_per_source = 16");
  std::vector<int> flood;
  for (int i = 0; i < 60; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(0x7f000002);  // 127.0.0.2
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src), 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(d.gateway_port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    flood.push_back(fd);
  }
  // The flooding address holds at most its per-source share of pre-auth slots.
  EXPECT_TRUE(wait_for([&] { return connection_pids(d.bastiond().pid()).size() <= 16; }, 5000));
  auto t0 = std::chrono::steady_clock::now();
  auto r = d.ssh(alice, d.login() + "@prod-db-1", {"echo", "through"});
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "through\n");
  std::printf("login during a 60-connection half-open flood: %lld ms\n", static_cast<long long>(ms));
  for (int fd : flood) close(fd);
}

}  // namespace
}  // namespace bastion::e2e
