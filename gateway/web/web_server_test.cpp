#include "gateway/web/web_server.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <future>
#include <thread>

#include "common/unique_fd.h"
#include "gateway/web/web_assets.h"
#include "gateway/web/web_listener.h"
#include "tests/support/web_test_support.h"

namespace bastion::gateway {
namespace {

using testing::FakeWebBackend;
using testing::TestCert;

std::string temp_dir(const std::string& tag) {
  auto dir = std::filesystem::temp_directory_path() / ("web-test-" + std::to_string(getpid()) + "-" + tag + "-" +
                                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

void expect_security_headers(const httplib::Response& r) {
  EXPECT_EQ(r.get_header_value("Content-Security-Policy"), "default-src 'self'; frame-ancestors 'none'");
  EXPECT_EQ(r.get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(r.get_header_value("Referrer-Policy"), "no-referrer");
  EXPECT_EQ(r.get_header_value("Cache-Control"), "no-store");
  EXPECT_EQ(r.get_header_value("Strict-Transport-Security").rfind("max-age=", 0), 0U);
}

class WebServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = temp_dir("srv");
    cert = testing::make_self_signed_cert(dir);
    WebServerOptions opt{cert.cert_path, cert.key_path, "127.0.0.1", 0, 1024, 2, {}};
    opt.max_watches = 1;
    opt.log = [this](const std::string& line) {
      std::lock_guard lock(log_mu);
      log_lines.push_back(line);
    };
    server = std::make_unique<WebServer>(backend, opt);
    Status s = server->start();
    ASSERT_TRUE(s) << s.message();
    ASSERT_GT(server->port(), 0);
    runner = std::thread([this] { server->run(); });
  }
  void TearDown() override {
    if (server) server->stop();
    if (runner.joinable()) runner.join();
    std::filesystem::remove_all(dir);
  }

  std::unique_ptr<httplib::SSLClient> client() {
    auto c = std::make_unique<httplib::SSLClient>("127.0.0.1", server->port());
    c->enable_server_certificate_verification(false);
    c->set_connection_timeout(5);
    c->set_read_timeout(10);
    return c;
  }
  httplib::Result get(const std::string& path) { return client()->Get(path); }
  httplib::Result post(const std::string& path, const std::string& body, const std::string& type = "application/json",
                       const httplib::Headers& headers = {}) {
    return client()->Post(path, headers, body, type);
  }
  static nlohmann::json json_of(const httplib::Result& r) { return nlohmann::json::parse(r->body, nullptr, false); }

  FakeWebBackend backend;
  std::string dir;
  TestCert cert;
  std::unique_ptr<WebServer> server;
  std::thread runner;
  std::mutex log_mu;
  std::vector<std::string> log_lines;
};

TEST_F(WebServerTest, InvitePageIsPlainAccessibleHtmlWithSecurityHeaders) {
  auto r = get("/invite/Tok-123-abc");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  expect_security_headers(*r);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/html; charset=utf-8");
  const std::string& b = r->body;
  EXPECT_NE(b.find("<h1>"), std::string::npos);
  EXPECT_NE(b.find("id=\"register\""), std::string::npos);
  EXPECT_NE(b.find("id=\"status\""), std::string::npos);
  EXPECT_NE(b.find("aria-live=\"polite\""), std::string::npos);
  EXPECT_NE(b.find("data-flow=\"invite\" data-token=\"Tok-123-abc\""), std::string::npos);
  EXPECT_NE(b.find("<script src=\"/static/app.js\" defer></script>"), std::string::npos);
  EXPECT_EQ(b.find("<script>"), std::string::npos) << "no inline script (CSP)";
  EXPECT_EQ(b.find("style=\""), std::string::npos) << "no inline style (CSP)";
  // The backend's text is escaped.
  EXPECT_NE(b.find("Alice &lt;Example&gt; &amp; &quot;Co&quot;"), std::string::npos);
  EXPECT_EQ(b.find("<Example>"), std::string::npos);
  // Whom the link is for, who sent it, until when; and how to confirm (hidden until registered).
  EXPECT_NE(b.find("(<code>alice</code>)"), std::string::npos);
  EXPECT_NE(b.find("Invitation from <code>admin:root</code>, valid until 2026-12-02T10:00:00Z"), std::string::npos)
      << b;
  EXPECT_NE(b.find("<section id=\"confirm\" hidden>"), std::string::npos);
}

TEST_F(WebServerTest, StepUpPageShowsPurposeAndCode) {
  auto r = get("/mfa/K7Q2-9XHD");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  expect_security_headers(*r);
  EXPECT_NE(r->body.find("id=\"approve\""), std::string::npos);
  EXPECT_NE(r->body.find("data-flow=\"mfa\" data-token=\"K7Q2-9XHD\""), std::string::npos);
  EXPECT_NE(r->body.find("SSH login to root@db-1 from 10.0.0.5 &lt;b&gt;"), std::string::npos);
  EXPECT_NE(r->body.find("<code>K7Q2-9XHD</code>"), std::string::npos);
}

TEST_F(WebServerTest, StepUpPageSaysWhenTheKeyIsNotYetConfirmed) {
  auto plain = get("/mfa/K7Q2-9XHD");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->body.find("class=\"notice\""), std::string::npos);
  backend.stepup_notice = "registered but not yet confirmed: run <ssh ... confirm-key CODE>";
  auto r = get("/mfa/K7Q2-9XHD");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("<p class=\"notice\"><strong>Note:</strong> registered but not yet confirmed: run "
                         "&lt;ssh ... confirm-key CODE&gt;</p>"),
            std::string::npos)
      << r->body;
}

TEST_F(WebServerTest, StaticFilesAndHealth) {
  auto js = get("/static/app.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->status, 200);
  expect_security_headers(*js);
  EXPECT_EQ(js->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_NE(js->body.find("navigator.credentials.create"), std::string::npos);
  auto shared = get("/static/webauthn.js");
  ASSERT_TRUE(shared);
  EXPECT_EQ(shared->status, 200);
  EXPECT_NE(shared->body.find("navigator.credentials.get"), std::string::npos);
  auto css = get("/static/style.css");
  ASSERT_TRUE(css);
  EXPECT_EQ(css->status, 200);
  EXPECT_EQ(css->get_header_value("Content-Type"), "text/css; charset=utf-8");
  expect_security_headers(*css);
  auto h = get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(h->body, "ok\n");
  expect_security_headers(*h);
  EXPECT_EQ(backend.calls.load(), 0);
}

TEST_F(WebServerTest, BadTokenSyntaxIs404WithoutAskingTheBackend) {
  for (const std::string& path :
       std::vector<std::string>{"/invite/ab_c", "/invite/" + std::string(65, 'a'), "/mfa/a%2Fb", "/mfa/%2e%2e",
                                "/invite/a%0Ab", "/invite/", "/mfa/a.b", "/nope"}) {
    auto r = get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 404) << path;
    expect_security_headers(*r);
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/html; charset=utf-8") << path;
  }
  auto api = post("/api/mfa/bad!x/options", "{}");
  ASSERT_TRUE(api);
  EXPECT_EQ(api->status, 404);
  EXPECT_TRUE(json_of(api).contains("error"));
  EXPECT_EQ(backend.calls.load(), 0);
  // The longest valid token is served.
  auto longest = get("/invite/" + std::string(64, 'Z'));
  ASSERT_TRUE(longest);
  EXPECT_EQ(longest->status, 200);
  EXPECT_EQ(backend.calls.load(), 1);
}

TEST_F(WebServerTest, NonJsonPostIs400) {
  struct Case {
    std::string body, type;
  };
  std::string deep = std::string(100, '[');
  for (const Case& c :
       {Case{"{}", "text/plain"}, Case{"{}", "application/x-www-form-urlencoded"}, Case{"not json", "application/json"},
        Case{"[1]", "application/json"}, Case{"", "application/json"}, Case{"{\"a\":" + deep, "application/json"},
        Case{"{\"a\":\"\xff\"}", "application/json"}}) {
    auto r = post("/api/invite/tok/register", c.body, c.type);
    ASSERT_TRUE(r) << c.body;
    EXPECT_EQ(r->status, 400) << c.type << " " << c.body;
    expect_security_headers(*r);
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
    EXPECT_TRUE(json_of(r).value("error", "").size() > 0) << r->body;
  }
  EXPECT_EQ(backend.calls.load(), 0);
  // Parameters after the media type are fine.
  auto ok = post("/api/invite/tok/options", "{}", "application/json; charset=utf-8");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(WebServerTest, OversizedBodyIs413) {
  std::string big = "{\"pad\":\"" + std::string(2000, 'x') + "\"}";
  auto r = post("/api/mfa/K7Q2-9XHD/assert", big);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  expect_security_headers(*r);
  EXPECT_NE(json_of(r).value("error", "").find("too large"), std::string::npos) << r->body;
  EXPECT_EQ(backend.calls.load(), 0);
}

TEST_F(WebServerTest, BackendRepliesAndErrorsArePropagated) {
  auto opts = post("/api/invite/tok/options", "{}");
  ASSERT_TRUE(opts);
  EXPECT_EQ(opts->status, 200);
  EXPECT_EQ(json_of(opts)["publicKey"]["challenge"], testing::b64url(backend.create_challenge));

  auto gone = post("/api/invite/gone/options", "{}");
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 410);
  EXPECT_EQ(json_of(gone), nlohmann::json({{"error", "this link has expired"}}));
  expect_security_headers(*gone);

  auto refused = post("/api/mfa/K7Q2/assert", R"({"response":{"authenticatorData":"AAAA"}})");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 400);
  EXPECT_EQ(json_of(refused)["error"], "malformed authenticatorData");

  auto page = get("/invite/gone");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 410);
  EXPECT_NE(page->body.find("data-state=\"failed\""), std::string::npos);
  EXPECT_NE(page->body.find("Failed: this link has expired"), std::string::npos);
  EXPECT_EQ(page->body.find("id=\"register\""), std::string::npos);
  auto missing = get("/mfa/missing");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);

  // A backend that throws answers 500 and the server carries on.
  auto boom = post("/api/mfa/boom/options", "{}");
  ASSERT_TRUE(boom);
  EXPECT_EQ(boom->status, 500);
  EXPECT_EQ(json_of(boom)["error"], "internal error");
  expect_security_headers(*boom);
  auto after = get("/healthz");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
}

// A live watch streams the recording the backend handed over as Server-Sent
// Events; each holds a worker of its own for its length, so with
// max_watches 1 one watch may stream and the next is told to try again
// (pages are still served).
TEST_F(WebServerTest, ALiveWatchStreamsEventsAndNoMoreThanMaxWatchesStreamAtOnce) {
  int fd = ::memfd_create("cast", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  const std::string cast = "{\"version\": 2, \"width\": 80, \"height\": 24}\n[0.5, \"o\", \"fay$ \"]\n";
  ASSERT_EQ(::write(fd, cast.data(), cast.size()), static_cast<ssize_t>(cast.size()));
  UniqueFd file(fd);
  std::atomic<int> watches{0};
  backend.on_console = [&](const std::string& op, const nlohmann::json& call) {
    if (op == "watch-check") return WebReply{200, {{"live", true}}};
    if (op != "watch" || call["args"]["id"] != "s-1") return WebReply{404, {{"error", "no such session"}}};
    ++watches;
    WebReply r{200, {{"kind", "terminal"}}};
    r.file = std::make_shared<UniqueFd>(::dup(file.get()));
    return r;
  };
  std::promise<std::string> first_data;
  std::atomic<bool> leave{false};
  std::thread watcher([&] {
    bool told = false;
    std::string got;
    auto r = client()->Get("/console/sessions/s-1/watch/events", [&](const char* data, size_t n) {
      got.append(data, n);
      if (!told && got.find("\n\n") != std::string::npos) {
        told = true;
        first_data.set_value(got);
      }
      while (!leave.load()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      return false;  // the watcher closes the page
    });
    if (!told) first_data.set_value("no data: " + (r ? std::to_string(r->status) : httplib::to_string(r.error())));
  });
  auto got = first_data.get_future();
  ASSERT_EQ(got.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  const std::string first = got.get();
  EXPECT_EQ(first.rfind("data: {", 0), 0u) << first;
  EXPECT_NE(first.find("\"init\":\"fay$ \""), std::string::npos) << first;
  // The second watch waits for a slot; the backend is not even asked.
  auto second = get("/console/sessions/s-1/watch/events");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 503);
  EXPECT_NE(second->body.find("try again when one ends"), std::string::npos);
  EXPECT_EQ(watches.load(), 1);
  leave = true;
  watcher.join();
  // Its slot comes back within seconds of the watcher leaving (noticed at
  // the next keep-alive write); a session the backend does not show is a 404.
  int status = 0;
  for (int i = 0; i < 200 && status != 404; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto again = get("/console/sessions/s-2/watch/events");
    status = again ? again->status : 0;
  }
  EXPECT_EQ(status, 404);
}

TEST_F(WebServerTest, CrossSitePostIsRefused) {
  auto r = post("/api/mfa/K7Q2/options", "{}", "application/json", {{"Sec-Fetch-Site", "cross-site"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(backend.calls.load(), 0);
  auto same = post("/api/mfa/K7Q2/options", "{}", "application/json", {{"Sec-Fetch-Site", "same-origin"}});
  ASSERT_TRUE(same);
  EXPECT_EQ(same->status, 200);
}

TEST_F(WebServerTest, RequestLogKeepsOnlyFourCharactersOfATokenAndNoControlCharacters) {
  ASSERT_TRUE(get("/invite/SECRETTOKEN123"));
  ASSERT_TRUE(post("/api/mfa/SECRETCODE99/options", "{}"));
  ASSERT_TRUE(get("/invite/ab%0Acd"));
  std::lock_guard lock(log_mu);
  ASSERT_GE(log_lines.size(), 3U);
  std::string all;
  for (const auto& l : log_lines) all += l + "|";
  EXPECT_EQ(all.find("SECRETTOKEN"), std::string::npos) << all;
  EXPECT_EQ(all.find("SECRETCODE"), std::string::npos) << all;
  EXPECT_EQ(all.find('\n'), std::string::npos) << all;
  EXPECT_NE(all.find("GET /invite/SECR... 200"), std::string::npos) << all;
  EXPECT_NE(all.find("POST /api/mfa/SECR.../options 200"), std::string::npos) << all;
}

TEST(WebServerPaths, TokenSyntaxAndRedaction) {
  EXPECT_TRUE(is_valid_web_token("K7Q2-9XHD"));
  EXPECT_TRUE(is_valid_web_token(std::string(64, 'a')));
  EXPECT_FALSE(is_valid_web_token(std::string(65, 'a')));
  EXPECT_FALSE(is_valid_web_token(""));
  EXPECT_FALSE(is_valid_web_token("a b"));
  EXPECT_FALSE(is_valid_web_token("a_b"));
  EXPECT_FALSE(is_valid_web_token("a/b"));
  EXPECT_EQ(redact_web_path("/mfa/K7Q2-9XHD"), "/mfa/K7Q2...");
  EXPECT_EQ(redact_web_path("/mfa/K7Q"), "/mfa/K7Q");
  EXPECT_EQ(redact_web_path("/api/invite/abcdefgh/register"), "/api/invite/abcd.../register");
  EXPECT_EQ(redact_web_path("/healthz"), "/healthz");
  EXPECT_EQ(redact_web_path("/invites/abcdefgh"), "/invites...");
  EXPECT_EQ(redact_web_path("/x\n"), "/x?");
}

TEST(WebServerStart, UnreadableOrMismatchedCertificateIsAClearError) {
  std::string dir = temp_dir("start");
  TestCert cert = testing::make_self_signed_cert(dir);
  FakeWebBackend backend;
  WebServer missing(backend, {dir + "/nope.pem", cert.key_path, "127.0.0.1", 0, 1024, 1, {}});
  Status s = missing.start();
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("nope.pem"), std::string::npos) << s.message();

  std::filesystem::create_directories(dir + "/other");
  TestCert other = testing::make_self_signed_cert(dir + "/other");
  WebServer mismatched(backend, {cert.cert_path, other.key_path, "127.0.0.1", 0, 1024, 1, {}});
  s = mismatched.start();
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("does not match"), std::string::npos) << s.message();

  WebServer garbage(backend, {cert.key_path, cert.key_path, "127.0.0.1", 0, 1024, 1, {}});
  s = garbage.start();
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("certificate"), std::string::npos) << s.message();
  std::filesystem::remove_all(dir);
}

TEST(WebServerStart, PortTakenIsAnErrorEvenForAnotherWebServer) {
  std::string dir = temp_dir("port");
  TestCert cert = testing::make_self_signed_cert(dir);
  FakeWebBackend backend;
  WebServer first(backend, {cert.cert_path, cert.key_path, "127.0.0.1", 0, 1024, 1, {}});
  ASSERT_TRUE(first.start());
  WebServer second(backend, {cert.cert_path, cert.key_path, "127.0.0.1", first.port(), 1024, 1, {}});
  Status s = second.start();
  ASSERT_FALSE(s) << "a second server must not share the port (SO_REUSEPORT)";
  EXPECT_NE(s.message().find("cannot listen on 127.0.0.1:" + std::to_string(first.port())), std::string::npos)
      << s.message();
  std::filesystem::remove_all(dir);
}

// run() returns once a stop was requested: before run(), and while running
// (the async-signal-safe path, noticed within kStopPollMillis).
TEST(WebServerStop, RequestStopEndsRunBeforeAndDuringRun) {
  std::string dir = temp_dir("stop");
  TestCert cert = testing::make_self_signed_cert(dir);
  FakeWebBackend backend;
  for (bool before : {true, false}) {
    WebServer server(backend, {cert.cert_path, cert.key_path, "127.0.0.1", 0, 1024, 1, {}});
    ASSERT_TRUE(server.start());
    if (before) server.request_stop();
    auto done = std::async(std::launch::async, [&] { server.run(); });
    if (!before) {
      httplib::SSLClient c("127.0.0.1", server.port());
      c.enable_server_certificate_verification(false);
      auto r = c.Get("/healthz");
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 200);
      server.request_stop();
    }
    if (done.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
      server.stop();
      ADD_FAILURE() << "run() did not return after request_stop(), before=" << before;
    }
  }
  // stop() before run(): run() returns at once and the port is free again.
  WebServer server(backend, {cert.cert_path, cert.key_path, "127.0.0.1", 0, 1024, 1, {}});
  ASSERT_TRUE(server.start());
  server.stop();
  auto start = std::chrono::steady_clock::now();
  server.run();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(WebServer::kStopPollMillis));
  WebServer again(backend, {cert.cert_path, cert.key_path, "127.0.0.1", server.port(), 1024, 1, {}});
  Status s = again.start();
  EXPECT_TRUE(s) << s.message();
  std::filesystem::remove_all(dir);
}

// --- Connection limits and deadlines (issue 13) ---

using Clock = std::chrono::steady_clock;

// A plain TCP connection from `source` (any 127.0.0.0/8 address) that sends
// nothing unless told to.
UniqueFd connect_from(const std::string& source, int port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in local{};
  local.sin_family = AF_INET;
  ::inet_pton(AF_INET, source.c_str(), &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      ::connect(fd.get(), reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0) {
    ADD_FAILURE() << "cannot connect from " << source << ": " << std::strerror(errno);
    return {};
  }
  return fd;
}

// Whether the server closes `fd` before `deadline`, or already has (bytes it
// sends, such as a TLS alert, are read and ignored).
bool closed_before(int fd, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<long long>(left, 0))) <= 0) {
      if (left <= 0) return false;
      continue;
    }
    std::array<char, 512> buf{};
    ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return true;
  }
}

// A TLS client from `source` that completes the handshake, sends `first`,
// then `more` every 200 ms, forever: by default a request line and one
// header line at a time, never ending the header (a slowloris). Records when
// the server closed the connection.
class SlowlorisClient {
 public:
  SlowlorisClient(const std::string& source, int port, std::string first = "GET /healthz HTTP/1.1\r\n",
                  std::string more = "X-Slow: 1\r\n")
      : fd_(connect_from(source, port)), first_(std::move(first)), more_(std::move(more)) {
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    ssl_.reset(SSL_new(ctx_.get()));
    SSL_set_fd(ssl_.get(), fd_.get());
    handshake_done_ = SSL_connect(ssl_.get()) == 1;
    if (handshake_done_) thread_ = std::thread([this] { dribble(); });
  }
  ~SlowlorisClient() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  SlowlorisClient(const SlowlorisClient&) = delete;
  SlowlorisClient& operator=(const SlowlorisClient&) = delete;

  [[nodiscard]] bool handshake_done() const { return handshake_done_; }
  // Whether the server closed the connection before `deadline`.
  bool closed_before(Clock::time_point deadline) {
    std::unique_lock lock(mu_);
    return cv_.wait_until(lock, deadline, [this] { return closed_; });
  }

 private:
  void dribble() {
    std::string line = first_;
    while (!stop_) {
      if (SSL_write(ssl_.get(), line.data(), static_cast<int>(line.size())) <= 0) break;
      line = more_;
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, 200) > 0) {
        std::array<char, 256> buf{};
        if (SSL_read(ssl_.get(), buf.data(), static_cast<int>(buf.size())) <= 0) break;
      }
    }
    std::lock_guard lock(mu_);
    closed_ = !stop_;
    cv_.notify_all();
  }

  UniqueFd fd_;
  std::string first_;
  std::string more_;
  SslCtx ctx_;
  Ssl ssl_;
  bool handshake_done_ = false;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;
  std::thread thread_;
};

// GET `path` over TLS from `source`; the status, or -1.
int get_from(const std::string& source, int port, const std::string& path) {
  httplib::SSLClient c("127.0.0.1", port);
  c.enable_server_certificate_verification(false);
  c.set_connection_timeout(3);
  c.set_read_timeout(3);
  c.set_socket_options([source](int sock) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    ::inet_pton(AF_INET, source.c_str(), &local.sin_addr);
    ::bind(sock, reinterpret_cast<sockaddr*>(&local), sizeof local);
  });
  auto r = c.Get(path);
  return r ? r->status : -1;
}

TEST(WebServerLimits, ConnectionLimitsCountPerSourceAndInTotal) {
  using Admission = ConnectionLimits::Admission;
  ConnectionLimits limits(3, 2);
  EXPECT_EQ(limits.admit("a"), Admission::kAdmitted);
  EXPECT_EQ(limits.admit("a"), Admission::kAdmitted);
  EXPECT_EQ(limits.admit("a"), Admission::kSourceFull);
  EXPECT_EQ(limits.admit("b"), Admission::kAdmitted);
  EXPECT_EQ(limits.admit("c"), Admission::kTotalFull);
  limits.release("a");
  EXPECT_EQ(limits.admit("c"), Admission::kAdmitted);
  EXPECT_EQ(limits.admit("a"), Admission::kTotalFull);
  limits.release("b");
  limits.release("c");
  EXPECT_EQ(limits.admit("a"), Admission::kAdmitted);
  EXPECT_EQ(limits.admit("a"), Admission::kSourceFull);
}

TEST(WebServerLimits, SlowClientsNeitherStarveOtherSourcesNorKeepTheirSlots) {
  std::string dir = temp_dir("limits");
  TestCert cert = testing::make_self_signed_cert(dir);
  FakeWebBackend backend;
  std::mutex log_mu;
  std::vector<std::string> log_lines;
  // Workers for three sources at their cap, and one more.
  WebServerOptions opt{cert.cert_path, cert.key_path, "127.0.0.1", 0, 1024, 10, {}};
  opt.log = [&](const std::string& line) {
    std::lock_guard lock(log_mu);
    log_lines.push_back(line);
  };
  opt.max_connections = 16;
  opt.max_connections_per_source = 3;
  opt.header_deadline = std::chrono::milliseconds(2500);
  opt.body_deadline = std::chrono::milliseconds(2500);
  WebServer server(backend, opt);
  ASSERT_TRUE(server.start());
  std::thread runner([&] { server.run(); });
  const int port = server.port();
  const auto deadline = std::chrono::milliseconds(2500);

  // 127.0.0.1: three slowloris clients fill its slots; 17 more connections
  // are over its cap. 127.0.0.3: three connections that never say hello.
  auto start = Clock::now();
  std::vector<std::unique_ptr<SlowlorisClient>> slow;
  for (int i = 0; i < 3; ++i) {
    slow.push_back(std::make_unique<SlowlorisClient>("127.0.0.1", port));
    EXPECT_TRUE(slow.back()->handshake_done());
  }
  // 127.0.0.4: headers at once, then the body one byte at a time.
  slow.push_back(std::make_unique<SlowlorisClient>(
      "127.0.0.4", port,
      "POST /api/mfa/K7Q2/assert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 1000\r\n\r\n",
      " "));
  EXPECT_TRUE(slow.back()->handshake_done());
  std::vector<UniqueFd> silent;
  for (int i = 0; i < 3; ++i) silent.push_back(connect_from("127.0.0.3", port));
  auto over_cap_at = Clock::now();
  std::vector<UniqueFd> over_cap;
  for (int i = 0; i < 17; ++i) over_cap.push_back(connect_from("127.0.0.1", port));

  // Another source is served at once: health and a step-up page.
  for (const std::string path : {"/healthz", "/mfa/K7Q2-9XHD"}) {
    auto t0 = Clock::now();
    EXPECT_EQ(get_from("127.0.0.2", port, path), 200) << path;
    EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(1000)) << path << " was slow under a slowloris";
  }
  // Over the cap: closed at once, long before any deadline.
  for (auto& fd : over_cap) EXPECT_TRUE(closed_before(fd.get(), over_cap_at + std::chrono::milliseconds(700)));
  // Admitted but slow: closed at the deadline, however often they send a
  // line or a byte of the body.
  for (auto& fd : silent) EXPECT_FALSE(closed_before(fd.get(), start + deadline - std::chrono::milliseconds(700)));
  for (auto& fd : silent) EXPECT_TRUE(closed_before(fd.get(), start + deadline + std::chrono::milliseconds(1500)));
  for (size_t i = 0; i < slow.size(); ++i) {
    EXPECT_TRUE(slow[i]->closed_before(start + deadline + std::chrono::milliseconds(1500))) << "slow client " << i;
  }
  // Their slots are free again.
  EXPECT_EQ(get_from("127.0.0.1", port, "/healthz"), 200);

  // Clients first: a server that failed to cut them off must not hang the test.
  slow.clear();
  silent.clear();
  over_cap.clear();
  server.stop();
  runner.join();
  std::lock_guard lock(log_mu);
  size_t cap_lines = 0;
  for (const auto& l : log_lines) {
    if (l.find("127.0.0.1") != std::string::npos && l.find("limit") != std::string::npos) ++cap_lines;
  }
  EXPECT_EQ(cap_lines, 1U) << "one rate-limited line for 17 refusals";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace bastion::gateway
