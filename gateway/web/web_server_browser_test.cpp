// WebServerBrowser.*: the real pages and script in headless Chromium with a
// DevTools virtual authenticator, driven by tests/browser/webauthn.mjs, in
// front of a fake backend that records what the browser posted.
//
// Skipped (GTEST_SKIP) only when /usr/bin/chromium is not executable or
// tests/browser/node_modules/playwright-core is missing (run
// tests/browser/install.sh); everything else that goes wrong fails.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "gateway/web/web_server.h"
#include "tests/support/web_test_support.h"

namespace bastion::gateway {
namespace {

using testing::FakeWebBackend;

const std::string kSourceDir = BASTION_SOURCE_DIR;
const std::string kChromium = "/usr/bin/chromium";

struct DriverRun {
  int exit_code = -1;
  std::string out;  // stdout: one line "done: ..." or "failed: ..."
  std::string err;  // stderr: page console output on failure
};

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

nlohmann::json decode_json(const std::string& b64) {
  auto bytes = base64url_decode(b64);
  if (!bytes) return nullptr;
  return nlohmann::json::parse(bytes->begin(), bytes->end(), nullptr, false);
}

std::vector<uint8_t> decode(const std::string& b64) {
  auto bytes = base64url_decode(b64);
  return bytes ? *bytes : std::vector<uint8_t>{};
}

uint32_t sign_count_of(const std::vector<uint8_t>& auth_data) {
  if (auth_data.size() < 37) return 0;
  return (uint32_t{auth_data[33]} << 24) | (uint32_t{auth_data[34]} << 16) | (uint32_t{auth_data[35]} << 8) |
         uint32_t{auth_data[36]};
}

class WebServerBrowser : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kChromium.c_str(), X_OK) != 0 ||
        !std::filesystem::is_directory(kSourceDir + "/tests/browser/node_modules/playwright-core")) {
      GTEST_SKIP() << "needs " << kChromium << " and tests/browser/node_modules (tests/browser/install.sh)";
    }
    dir = (std::filesystem::temp_directory_path() / ("web-browser-" + std::to_string(getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name()))
              .string();
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    cert = testing::make_self_signed_cert(dir);
    server = std::make_unique<WebServer>(
        backend, WebServerOptions{cert.cert_path, cert.key_path, "127.0.0.1", 0, 64 * 1024, 2, {}});
    Status s = server->start();
    ASSERT_TRUE(s) << s.message();
    runner = std::thread([this] { server->run(); });
    origin = "https://localhost:" + std::to_string(server->port());
    state = dir + "/authenticator.json";
  }
  void TearDown() override {
    if (server) server->stop();
    if (runner.joinable()) runner.join();
    if (!dir.empty()) std::filesystem::remove_all(dir);
  }

  // `trust`: how Chromium accepts the self-signed certificate; by default
  // the SPKI pin of the server's key.
  DriverRun drive(const std::string& mode, const std::string& path, const std::string& extra = "",
                  std::string trust = "") {
    if (trust.empty()) trust = "--spki-hash " + quote(cert.spki_sha256_base64);
    std::string err_path = dir + "/driver.err";
    std::string cmd = "timeout 90 node " + quote(kSourceDir + "/tests/browser/webauthn.mjs") + " " + mode + " --url " +
                      quote(origin + path) + " --state " + quote(state) + " " + trust + " --timeout-ms 30000 " + extra +
                      " 2>" + quote(err_path);
    DriverRun run;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return run;
    char buf[4096];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) run.out.append(buf, n);
    int status = ::pclose(p);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    run.err = slurp(err_path);
    return run;
  }

  void expect_client_data(const nlohmann::json& credential, const std::string& type,
                          const std::vector<uint8_t>& challenge) {
    nlohmann::json cd = decode_json(credential.value("/response/clientDataJSON"_json_pointer, ""));
    ASSERT_TRUE(cd.is_object()) << credential.dump();
    EXPECT_EQ(cd.value("type", ""), type);
    EXPECT_EQ(cd.value("challenge", ""), testing::b64url(challenge));
    EXPECT_EQ(cd.value("origin", ""), origin);
    EXPECT_EQ(credential.value("type", ""), "public-key");
    EXPECT_EQ(credential.value("id", ""), credential.value("rawId", "x"));
  }

  nlohmann::json last(const std::vector<nlohmann::json>& v) {
    std::lock_guard lock(backend.mu);
    return v.empty() ? nlohmann::json() : v.back();
  }
  size_t count(const std::vector<nlohmann::json>& v) {
    std::lock_guard lock(backend.mu);
    return v.size();
  }

  void register_key() {
    std::string text_path = dir + "/page.txt";
    DriverRun r = drive("register", "/invite/Tok-1", "--page-text " + quote(text_path));
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(r.out, "done: security key registered for alice.\n");
    ASSERT_EQ(count(backend.registered), 1U);
    // The SSH instructions from the backend are now visible on the page.
    std::string text = slurp(text_path);
    EXPECT_NE(text.find("Next: your SSH key"), std::string::npos) << text;
    EXPECT_NE(text.find("ssh-keygen -t ed25519-sk\nbastionctl key add alice"), std::string::npos) << text;
    EXPECT_NE(text.find("Done: security key registered for alice."), std::string::npos) << text;
    // ... and how to confirm the key: the command with the code, and the administrator's way.
    EXPECT_NE(text.find("Now confirm it"), std::string::npos) << text;
    EXPECT_NE(text.find("ssh -p 2200 alice@gw confirm-key K7Q2-9XHD"), std::string::npos) << text;
    EXPECT_NE(text.find("bastionctl user confirm-key alice Y3JlZA"), std::string::npos) << text;
  }

  FakeWebBackend backend;
  std::string dir, origin, state;
  testing::TestCert cert;
  std::unique_ptr<WebServer> server;
  std::thread runner;
};

TEST_F(WebServerBrowser, RegisterThenApprovePostsBoundClientDataAndKeepsTheCounter) {
  ASSERT_NO_FATAL_FAILURE(register_key());
  nlohmann::json reg = last(backend.registered);
  expect_client_data(reg, "webauthn.create", backend.create_challenge);
  EXPECT_FALSE(decode(reg.value("/response/attestationObject"_json_pointer, "")).empty());
  nlohmann::json saved = nlohmann::json::parse(slurp(state), nullptr, false);
  ASSERT_TRUE(saved.is_object()) << "state file " << state;
  ASSERT_EQ(saved["credentials"].size(), 1U);
  EXPECT_EQ(saved["credentials"][0].value("rpId", ""), "localhost");

  uint32_t previous = 0;
  for (int round = 0; round < 2; ++round) {
    DriverRun r = drive("approve", "/mfa/K7Q2-9XHD", "--uv on");
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(r.out, "done: approved; your SSH login continues.\n");
    ASSERT_EQ(count(backend.asserted), static_cast<size_t>(round + 1));
    nlohmann::json a = last(backend.asserted);
    expect_client_data(a, "webauthn.get", backend.get_challenge);
    EXPECT_EQ(a.value("rawId", ""), reg.value("rawId", "x")) << "the registered credential signs";
    std::vector<uint8_t> auth_data = decode(a.value("/response/authenticatorData"_json_pointer, ""));
    ASSERT_GE(auth_data.size(), 37U);
    EXPECT_EQ(auth_data[32] & 0x05, 0x05) << "UP and UV set";
    EXPECT_GT(sign_count_of(auth_data), previous) << "the counter survives through the state file";
    previous = sign_count_of(auth_data);
  }
}

TEST_F(WebServerBrowser, ApproveWithoutUserVerificationFails) {
  ASSERT_NO_FATAL_FAILURE(register_key());
  // The backend asks for UV: the browser or the authenticator refuses, or the
  // backend does; either way the approval fails.
  DriverRun refused = drive("approve", "/mfa/K7Q2-9XHD", "--uv off");
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_EQ(refused.out.rfind("failed: ", 0), 0U) << refused.out;

  // With UV merely discouraged the browser signs without it, and only the
  // backend's flag check stands in the way: the driver reports its error.
  backend.user_verification = "discouraged";
  size_t before = count(backend.asserted);
  DriverRun r = drive("approve", "/mfa/K7Q2-9XHD", "--uv off");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.out, "failed: user verification (PIN) missing\n");
  ASSERT_EQ(count(backend.asserted), before + 1);
  std::vector<uint8_t> auth_data = decode(last(backend.asserted).value("/response/authenticatorData"_json_pointer, ""));
  ASSERT_GE(auth_data.size(), 37U);
  EXPECT_EQ(auth_data[32] & 0x01, 0x01) << "UP set";
  EXPECT_EQ(auth_data[32] & 0x04, 0x00) << "UV not set";
}

TEST_F(WebServerBrowser, ExpiredLinkFailsWithTheBackendsMessage) {
  ASSERT_NO_FATAL_FAILURE(register_key());
  DriverRun r = drive("approve", "/mfa/gone", "", "--cert " + quote(cert.cert_path));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.out, "failed: this link has expired\n");
}

// The SPKI pin trusts exactly the gateway's key, not every certificate.
TEST_F(WebServerBrowser, AnotherCertificateIsRefused) {
  std::filesystem::create_directories(dir + "/other");
  testing::TestCert other = testing::make_self_signed_cert(dir + "/other");
  cert.spki_sha256_base64 = other.spki_sha256_base64;
  DriverRun r = drive("register", "/invite/Tok-1");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("ERR_CERT"), std::string::npos) << r.out;
  EXPECT_EQ(count(backend.registered), 0U);
}

}  // namespace
}  // namespace bastion::gateway
