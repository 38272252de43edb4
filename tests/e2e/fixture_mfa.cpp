// The deployment's FIDO side: a test attestation CA the softkey's attestations
// chain to, attested key enrollment, and WebAuthn through a real browser.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "fixture.h"

namespace bastion::e2e {

bool browser_available() {
  return access("/usr/bin/chromium", X_OK) == 0 &&
         std::filesystem::is_directory(std::string(BASTION_SOURCE_DIR) + "/tests/browser/node_modules/playwright-core");
}
namespace {

std::string must_ok(const ProcResult& r, const std::string& what) {
  if (r.exit_code != 0) throw std::runtime_error(what + " failed: " + r.err + r.out);
  return r.out;
}

std::string hex_of_aaguid(std::string uuid) {
  std::string out;
  for (char c : uuid) {
    if (c != '-') out += c;
  }
  return out;
}

}  // namespace

void Deployment::make_attestation_ca() {
  const std::string ca_key = dir_ + "/att_ca.key", ca = dir_ + "/att_ca.pem";
  const std::string leaf_key = dir_ + "/att_leaf.key", csr = dir_ + "/att_leaf.csr", leaf = dir_ + "/att_leaf.pem";
  must_ok(run({"openssl",
               "req",
               "-x509",
               "-newkey",
               "ec",
               "-pkeyopt",
               "ec_paramgen_curve:P-256",
               "-nodes",
               "-keyout",
               ca_key,
               "-out",
               ca,
               "-days",
               "30",
               "-subj",
               "/CN=bastion e2e attestation CA",
               "-addext",
               "basicConstraints=critical,CA:TRUE",
               "-addext",
               "keyUsage=critical,keyCertSign"}),
          "openssl req (CA)");
  must_ok(run({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", leaf_key,
               "-out", csr, "-subj", "/C=DE/O=bastion tests/OU=Authenticator Attestation/CN=softkey"}),
          "openssl req (leaf)");
  write_text(dir_ + "/att_leaf.ext",
             "basicConstraints=critical,CA:FALSE\n1.3.6.1.4.1.45724.1.1.4=ASN1:FORMAT:HEX,OCTETSTRING:" +
                 hex_of_aaguid(kSoftkeyAaguid) + "\n");
  must_ok(run({"openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", leaf,
               "-days", "30", "-extfile", dir_ + "/att_leaf.ext"}),
          "openssl x509 (leaf)");
  ctl_ok({"fido", "roots", "add", ca});
  ctl_ok({"fido", "aaguids", "add", kSoftkeyAaguid, "--name", "bastion softkey (tests)"});
  // The DevTools virtual authenticator attests with a fixed, self-signed
  // "Batch Certificate" (O=Chromium) and AAGUID 01020304-...: trusted here,
  // in tests only, the way an operator trusts a vendor's root.
  ctl_ok({"fido", "roots", "add",
          std::string(BASTION_SOURCE_DIR) + "/tests/browser/chromium-virtual-authenticator-attestation.pem"});
  ctl_ok(
      {"fido", "aaguids", "add", "01020304-0506-0708-0102-030405060708", "--name", "Chromium virtual authenticator"});
}

Env Deployment::attesting_softkey_env() const {
  return {{"BASTION_SOFTKEY_ATTEST_KEY", dir_ + "/att_leaf.key"},
          {"BASTION_SOFTKEY_ATTEST_CERT", dir_ + "/att_leaf.pem"},
          {"BASTION_SOFTKEY_AAGUID", kSoftkeyAaguid}};
}

SshKeyFiles Deployment::enroll_sk_key(const std::string& name, const std::string& type) {
  std::string path = dir_ + "/key_" + name;
  std::string challenge = path + ".challenge", att = path + ".att";
  ctl_ok({"key", "challenge", name, "--out", challenge});
  must_ok(run({"ssh-keygen", "-q", "-t", type, "-w", BASTION_SOFTKEY_PATH, "-N", "", "-C", name, "-O",
               "challenge=" + challenge, "-O", "write-attestation=" + att, "-f", path},
              attesting_softkey_env()),
          "ssh-keygen -t " + type + " with attestation");
  ctl_ok({"key", "add", name, path + ".pub", "--attestation", att});
  return {path, path + ".pub"};
}

ProcResult Deployment::browser(const std::string& verb, const std::string& url, const std::string& state, bool uv) {
  std::vector<std::string> argv = {"node",
                                   std::string(BASTION_SOURCE_DIR) + "/tests/browser/webauthn.mjs",
                                   verb,
                                   "--url",
                                   url,
                                   "--state",
                                   state,
                                   "--cert",
                                   state_ + "/web_cert.pem",
                                   "--timeout-ms",
                                   "30000"};
  if (!uv) {
    argv.push_back("--uv");
    argv.push_back("off");
  }
  return run(argv, {}, "", 60000);
}

Deployment::PendingKey Deployment::register_webauthn_pending(const std::string& name, const std::string& state_file) {
  std::string url = ctl_ok({"user", "invite", name});
  while (!url.empty() && (url.back() == '\n' || url.back() == '\r')) url.pop_back();
  PendingKey k;
  k.state = state_file.empty() ? dir_ + "/webauthn_" + name + ".json" : state_file;
  std::string text_path = k.state + ".page.txt";
  auto r =
      run({"node", std::string(BASTION_SOURCE_DIR) + "/tests/browser/webauthn.mjs", "register", "--url", url, "--state",
           k.state, "--cert", state_ + "/web_cert.pem", "--timeout-ms", "30000", "--page-text", text_path},
          {}, "", 60000);
  if (r.exit_code != 0) throw std::runtime_error("browser register failed: " + r.out + r.err);
  k.page_text = read_text(text_path);
  // "... confirm-key CODE" and "bastionctl user confirm-key NAME ID" on the page.
  auto word_after = [&](const std::string& marker) {
    auto at = k.page_text.find(marker);
    if (at == std::string::npos) throw std::runtime_error("the page does not say '" + marker + "': " + k.page_text);
    at += marker.size();
    return k.page_text.substr(at, k.page_text.find_first_of(" \r\n", at) - at);
  };
  k.code = word_after("ssh -p " + std::to_string(gw_port_) + " " + name + "@127.0.0.1 confirm-key ");
  // An id that starts with '-' comes after "--" (bastionctl would read it as an option).
  bool dashed = k.page_text.find("bastionctl user confirm-key -- " + name + " ") != std::string::npos;
  k.credential_id = word_after("bastionctl user confirm-key " + std::string(dashed ? "-- " : "") + name + " ");
  if (dashed != (k.credential_id.rfind('-', 0) == 0)) throw std::runtime_error("-- misplaced: " + k.page_text);
  return k;
}

std::string Deployment::register_webauthn(const std::string& name) {
  PendingKey k = register_webauthn_pending(name);
  ctl_ok({"user", "confirm-key", "--", name, k.credential_id});
  return k.state;
}

Process Deployment::start_session_with_step_up(const SshKeyFiles& key, const std::string& user_spec,
                                               const std::string& state, const std::string& log) {
  auto argv = step_up_argv(key, user_spec);
  argv.push_back("echo session-up; sleep 60");
  Process p(argv, log);
  std::string url;
  EXPECT_TRUE(wait_for(
      [&] {
        std::string text = read_text(log);
        auto at = text.find(public_url() + "/mfa/");
        if (at == std::string::npos) return false;
        auto end = text.find_first_of(" \r\n", at);
        if (end == std::string::npos) return false;
        url = text.substr(at, end - at);
        return true;
      },
      15000))
      << read_text(log);
  auto b = browser("approve", url, state);
  EXPECT_EQ(b.exit_code, 0) << b.out << b.err;
  EXPECT_TRUE(wait_for([&] { return read_text(log).find("session-up") != std::string::npos; }, 15000))
      << read_text(log);
  return p;
}

std::vector<std::string> Deployment::step_up_argv(const SshKeyFiles& key, const std::string& user_spec) const {
  // BatchMode=yes turns keyboard-interactive off in OpenSSH, and the step-up
  // rides on it: a person's ssh has it on; so does this one.
  std::vector<std::string> argv = ssh_argv(key, user_spec);
  for (auto& a : argv) {
    if (a == "BatchMode=yes") a = "BatchMode=no";
  }
  return argv;
}

ProcResult Deployment::ssh_with_step_up(const SshKeyFiles& key, const std::string& user_spec,
                                        const std::vector<std::string>& command, const std::string& state, bool approve,
                                        bool uv, std::string* url_out, const Env& env) {
  static int n = 0;
  std::string log = dir_ + "/ssh_step_up_" + std::to_string(++n) + ".log";
  std::vector<std::string> argv = step_up_argv(key, user_spec);
  argv.insert(argv.end(), command.begin(), command.end());
  Process ssh(argv, log, env);
  std::string url;
  wait_for(
      [&] {
        std::string text = read_text(log);
        auto at = text.find(public_url() + "/mfa/");
        if (at == std::string::npos) return !ssh.running();
        auto end = text.find_first_of(" \r\n", at);
        url = text.substr(at, end == std::string::npos ? std::string::npos : end - at);
        return end != std::string::npos;
      },
      20000);
  if (url_out != nullptr) *url_out = url;
  ProcResult browser_result;
  if (approve && !url.empty()) browser_result = browser("approve", url, state, uv);
  ProcResult r;
  r.exit_code = ssh.wait(approve ? 60000 : 200000);
  r.out = read_text(log);
  r.err = browser_result.out + browser_result.err;
  return r;
}

}  // namespace bastion::e2e
