// SIGHUP: the web endpoint serves a renewed TLS certificate without ending
// live SSH sessions; a bad pair changes nothing.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "fixture.h"

namespace bastion::e2e {
namespace {

namespace fs = std::filesystem;

// The SHA-256 fingerprint openssl prints for the certificate the web port
// serves ("" when nothing answers).
std::string served_fingerprint(int port) {
  auto r = run({"sh", "-c",
                "openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                    " </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"});
  return r.exit_code == 0 ? r.out : "";
}

std::string file_fingerprint(const std::string& pem) {
  return run({"openssl", "x509", "-in", pem, "-noout", "-fingerprint", "-sha256"}).out;
}

// A new self-signed pair for localhost in dir/NAME.{pem,key}.
void make_tls_pair(const std::string& dir, const std::string& name) {
  auto r = run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                dir + "/" + name + ".key", "-out", dir + "/" + name + ".pem", "-days", "30", "-subj",
                "/CN=renewed-" + name, "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

// Puts `from` in place of `to` with one rename (mode `mode`), as an ACME client does.
void install(const std::string& from, const std::string& to, fs::perms mode) {
  fs::copy_file(from, to + ".new", fs::copy_options::overwrite_existing);
  fs::permissions(to + ".new", mode);
  fs::rename(to + ".new", to);
}

TEST(TlsReload, SighupServesTheRenewedCertificateAndLiveSessionsCarryOn) {
  Deployment d;
  SshKeyFiles alice = d.add_person("alice", {"ops"});
  const std::string state = fs::path(d.config()).parent_path().string();
  const std::string cert = state + "/web_cert.pem", key = state + "/web_key.pem";
  ASSERT_EQ(served_fingerprint(d.web_port()), file_fingerprint(cert));

  auto argv = d.ssh_argv(alice, d.login() + "@prod-db-1");
  argv.push_back("echo up; sleep 60");
  Process live(argv, d.dir() + "/live.log");
  ASSERT_TRUE(wait_for([&] { return read_text(d.dir() + "/live.log").find("up") != std::string::npos; }, 15000));

  make_tls_pair(d.dir(), "renewed");
  install(d.dir() + "/renewed.pem", cert,
          fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  install(d.dir() + "/renewed.key", key, fs::perms::owner_read | fs::perms::owner_write);
  const std::string renewed = file_fingerprint(cert);
  ASSERT_EQ(::kill(d.bastiond().pid(), SIGHUP), 0);
  EXPECT_TRUE(wait_for([&] { return served_fingerprint(d.web_port()) == renewed; }, 20000)) << d.gateway_log();
  EXPECT_TRUE(live.running()) << "a reload must not end SSH sessions";
  EXPECT_NE(d.gateway_log().find("[SIGHUP] serving the TLS certificate SHA256:"), std::string::npos) << d.gateway_log();
  auto reloads = nlohmann::json::parse(d.ctl_ok({"audit", "list", "--action", "web.tls_reload", "--json"}));
  ASSERT_EQ(reloads.size(), 1u);
  EXPECT_NE(reloads[0]["reason"].get<std::string>().find("CN=renewed-renewed"), std::string::npos) << reloads.dump();

  // A key that is not the certificate's: refused, the renewed pair stays served.
  make_tls_pair(d.dir(), "other");
  install(d.dir() + "/other.key", key, fs::perms::owner_read | fs::perms::owner_write);
  ASSERT_EQ(::kill(d.bastiond().pid(), SIGHUP), 0);
  EXPECT_TRUE(
      wait_for([&] { return d.gateway_log().find("is not the key of the certificate") != std::string::npos; }, 10000))
      << d.gateway_log();
  EXPECT_EQ(served_fingerprint(d.web_port()), renewed);
  auto refused = nlohmann::json::parse(d.ctl_ok({"audit", "list", "--action", "web.tls_reload_refused", "--json"}));
  EXPECT_EQ(refused.size(), 1u);
  EXPECT_TRUE(live.running());
  EXPECT_EQ(d.ssh(alice, d.login() + "@prod-db-1", {"true"}).exit_code, 0);
}

}  // namespace
}  // namespace bastion::e2e
