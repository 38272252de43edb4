// A whole deployment on loopback: bastionctl init, a real sshd target that
// trusts the gateway's user CA, bastiond, and people with software security
// keys. One per test suite (setup costs a second or two).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "harness.h"

namespace bastion::e2e {

struct SshKeyFiles {
  std::string priv;  // private key file (for -i)
  std::string pub;
};

class Deployment {
 public:
  // `bastiond`: the daemon to run (tests/e2e/hostile's for the monitor tests), with `env`.
  explicit Deployment(std::string bastiond = BASTIOND_PATH, Env env = {});
  // An embedded SQLite deployment even in a postgres/ test (bastionctl migrate).
  struct Sqlite {};
  explicit Deployment(Sqlite);
  // On the PostgreSQL database at `url` (a server of the test's own).
  struct OnDatabase {
    std::string url;
  };
  explicit Deployment(const OnDatabase& on);
  ~Deployment();

  // The deployment's database: its SQLite file, or (when the test runs as a
  // postgres/ test) a URL to its own schema on the test PostgreSQL server.
  const std::string& database() const { return database_; }
  // Behind the gateway's back (tampering, counting): runs `sql` on the
  // database; the first column of the first row (-1 when there is none or
  // the query fails).
  void sql_exec(const std::string& sql) const;
  int64_t sql_int64(const std::string& sql) const;

  // Another gateway node of this deployment (a postgres/ test): a copy of
  // the state directory (the same keys and database), its own SSH and web
  // ports, node name ([gateway] node_name), control socket and bastiond.
  // Returns its SSH port; ssh_argv_to(port, ...) logs in through it.
  // `shared`: it uses this deployment's HR spool and recordings folder (a
  // shared file system), not its own.
  int add_node(const std::string& name, bool shared = false);
  std::string node_log(const std::string& name) const { return dir_ + "/" + name + ".log"; }
  // SIGKILLs node `name`'s bastiond (its connection processes die with it).
  void kill_node(const std::string& name);
  std::string node_config(const std::string& name) const { return dir_ + "/" + name + "/bastion.toml"; }
  ProcResult node_ctl(const std::string& name, const std::vector<std::string>& args);
  std::vector<std::string> ssh_argv_to(int port, const SshKeyFiles& key, const std::string& user_spec) const;

  // bastionctl --config CFG args...
  ProcResult ctl(const std::vector<std::string>& args);
  // Must succeed; returns stdout.
  std::string ctl_ok(const std::vector<std::string>& args);

  // A software security key (ed25519-sk unless `type` says otherwise).
  SshKeyFiles make_sk_key(const std::string& name, const std::string& type = "ed25519-sk");
  SshKeyFiles make_plain_key(const std::string& name);
  // user add + an attested key (enroll_sk_key); returns the key.
  SshKeyFiles add_person(const std::string& name, const std::vector<std::string>& roles);
  // A software security key made the way a person makes one for bastion:
  // key challenge, ssh-keygen -O challenge= -O write-attestation= with the
  // softkey's packed attestation (chained to the deployment's test CA), key add --attestation.
  SshKeyFiles enroll_sk_key(const std::string& name, const std::string& type = "ed25519-sk");
  // Environment that makes the softkey attest (test CA leaf, AAGUID kSoftkeyAaguid).
  Env attesting_softkey_env() const;
  static constexpr const char* kSoftkeyAaguid = "b0a57e11-5e1f-4b0a-9a11-000000000001";

  // WebAuthn through a real browser (tests/browser/webauthn.mjs, headless
  // Chromium with a virtual authenticator). `state` keeps the authenticator's
  // credentials between runs.
  ProcResult browser(const std::string& verb, const std::string& url, const std::string& state, bool uv = true);
  // What the registration page showed: the key waits for confirmation.
  struct PendingKey {
    std::string state;          // the browser's authenticator state file
    std::string code;           // the confirmation code ("K7Q2-9XHD")
    std::string credential_id;  // as bastionctl user confirm-key takes it
    std::string page_text;      // the whole page, as the person saw it
  };
  // user invite NAME + register in the browser; the key stays pending.
  PendingKey register_webauthn_pending(const std::string& name, const std::string& state_file = "");
  // The same, then confirmed by an administrator (bastionctl user
  // confirm-key), so the key approves step-ups; returns the state file.
  std::string register_webauthn(const std::string& name);
  // ssh through the gateway where the login needs a step-up: waits for the
  // step-up URL in ssh's output, then (if `approve`) approves it in the
  // browser. out = ssh's stdout+stderr; `url` (if given) gets the step-up URL.
  ProcResult ssh_with_step_up(const SshKeyFiles& key, const std::string& user_spec,
                              const std::vector<std::string>& command, const std::string& state, bool approve = true,
                              bool uv = true, std::string* url = nullptr, const Env& env = {});
  // A long session (`echo session-up; sleep 60`) through the gateway as
  // `user_spec` whose login needs a step-up: approves it in the browser with
  // `state` and returns once the session runs (EXPECTs say why when not).
  // Output goes to `log`.
  Process start_session_with_step_up(const SshKeyFiles& key, const std::string& user_spec, const std::string& state,
                                     const std::string& log);
  // ssh_argv with keyboard-interactive allowed (BatchMode=no), for step-ups.
  std::vector<std::string> step_up_argv(const SshKeyFiles& key, const std::string& user_spec) const;
  std::string public_url() const { return "https://localhost:" + std::to_string(web_port_); }
  int web_port() const { return web_port_; }

  // ssh through the gateway as `user_spec` (e.g. "root@prod-db-1") with `key`.
  std::vector<std::string> ssh_argv(const SshKeyFiles& key, const std::string& user_spec,
                                    const std::vector<std::string>& extra = {}) const;
  ProcResult ssh(const SshKeyFiles& key, const std::string& user_spec, const std::vector<std::string>& command,
                 const std::string& input = "", const Env& env = {}, int timeout_ms = 60000);
  // Common -o options for ssh/scp/sftp (no port flag).
  std::vector<std::string> client_options(const SshKeyFiles& key) const;

  // Starts another sshd (for targets with other properties), with `extra`
  // sshd_config lines; returns its port.
  int start_extra_sshd(const std::string& name, const std::string& extra = "");
  std::string target_host_pub() const { return dir_ + "/target_host_key.pub"; }

  const std::string& dir() const { return dir_; }
  const std::string& login() const { return login_; }  // account on the target
  int gateway_port() const { return gw_port_; }
  int target_port() const { return target_port_; }
  std::string config() const { return state_ + "/bastion.toml"; }
  std::string gateway_log() const { return read_text(dir_ + "/bastiond.log"); }
  Process& bastiond() { return bastiond_; }
  void restart_bastiond();
  // Replaces `from` with `to` in bastion.toml and restarts bastiond.
  void edit_config(const std::string& from, const std::string& to);
  // Whether session `id`'s session.end record (written after its client
  // has gone) appears within `timeout_ms`.
  bool wait_for_session_end(const std::string& id, int timeout_ms = 15000);

 private:
  void start_sshd(const std::string& name, int port, Process& into, const std::string& extra = "");
  void make_attestation_ca();

  // `database`: "" for test_database(), "sqlite" for the state directory's file, or a URL.
  Deployment(std::string bastiond, Env env, const std::string& database);

  std::string bastiond_path_;
  Env bastiond_env_;
  std::string dir_, state_, login_, database_;
  int gw_port_ = 0, target_port_ = 0, web_port_ = 0;
  Process sshd_, bastiond_;
  std::vector<std::unique_ptr<Process>> extra_;
  std::vector<std::pair<std::string, std::unique_ptr<Process>>> nodes_;  // add_node's bastiond processes
};

}  // namespace bastion::e2e

#include <gtest/gtest.h>

namespace bastion::e2e {

// Whether headless Chromium and playwright-core (tests/browser/install.sh) are here.
bool browser_available();

// A test suite sharing one Deployment with one person, alice (role ops on
// prod-db-1). `Tag` keeps each suite's statics apart.
template <class Tag>
class DeploymentTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    d = new Deployment();
    alice = new SshKeyFiles(d->add_person("alice", {"ops"}));
  }
  static void TearDownTestSuite() {
    delete alice;
    delete d;
    alice = nullptr;
    d = nullptr;
  }
  static std::string dest() { return d->login() + "@prod-db-1"; }
  static inline Deployment* d = nullptr;
  static inline SshKeyFiles* alice = nullptr;
};

}  // namespace bastion::e2e
