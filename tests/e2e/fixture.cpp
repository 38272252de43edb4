#include "fixture.h"

#include "common/database_sql.h"
#include "tests/support/test_database.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace bastion::e2e {
namespace {

std::string must(const ProcResult& r, const std::string& what) {
  if (r.exit_code != 0) throw std::runtime_error(what + " failed (" + std::to_string(r.exit_code) + "): " + r.err);
  return r.out;
}

}  // namespace

Deployment::Deployment(std::string bastiond, Env env) : Deployment(std::move(bastiond), std::move(env), "") {}

Deployment::Deployment(Sqlite) : Deployment(BASTIOND_PATH, {}, "sqlite") {}

Deployment::Deployment(const OnDatabase& on) : Deployment(BASTIOND_PATH, {}, on.url) {}

Deployment::Deployment(std::string bastiond, Env env, const std::string& database)
    : bastiond_path_(std::move(bastiond)), bastiond_env_(std::move(env)) {
  char tmpl[] = "/tmp/bastion-e2e-XXXXXX";
  dir_ = mkdtemp(tmpl);
  chmod(dir_.c_str(), 0755);
  state_ = dir_ + "/state";
  const passwd* pw = getpwuid(getuid());
  login_ = pw ? pw->pw_name : "root";
  gw_port_ = free_port();
  web_port_ = free_port();
  database_ = database == "sqlite" ? state_ + "/bastion.db"
              : database.empty()   ? test_support::test_database(state_ + "/bastion.db")
                                   : database;
  std::vector<std::string> init = {BASTIONCTL_PATH, "init",      "--state-dir",
                                   state_,          "--listen",  "127.0.0.1:" + std::to_string(gw_port_),
                                   "--public-url",  public_url()};
  if (database_ != state_ + "/bastion.db") {
    init.push_back("--database");
    init.push_back(database_);
  }
  must(run(init), "bastionctl init");
  make_attestation_ca();
  write_text(dir_ + "/ca.pub", ctl_ok({"ca", "show"}));
  must(run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir_ + "/target_host_key"}), "ssh-keygen");
  target_port_ = free_port();
  start_sshd("target", target_port_, sshd_);
  write_text(dir_ + "/known_hosts",
             "[127.0.0.1]:" + std::to_string(gw_port_) + " " + read_text(state_ + "/ssh_host_ed25519_key.pub"));
  ctl_ok({"target", "add", "prod-db-1", "--address", "127.0.0.1:" + std::to_string(target_port_), "--host-key",
          target_host_pub(), "--label", "env=prod"});
  // Step-ups have their own tests (StepUp.*); the standing role here needs none.
  ctl_ok({"role", "add", "ops", "--targets", "env=prod", "--logins", login_ + ",deploy", "--step-up", "none"});
  // Tests make many failed logins on purpose from one address; the back-off
  // has its own test (PreAuthLimits.BackOff...), which turns it on.
  std::string cfg = read_text(config());
  cfg.replace(cfg.find("auth_backoff_after = 3"), 22, "auth_backoff_after = 0");
  write_text(config(), cfg, 0600);
  restart_bastiond();
}

Deployment::~Deployment() {
  nodes_.clear();
  bastiond_.stop();
  sshd_.stop();
  extra_.clear();
  if (getenv("BASTION_E2E_KEEP") == nullptr) std::filesystem::remove_all(dir_);
}

void Deployment::sql_exec(const std::string& sql) const {
  auto db = Database::open(database_, Database::Mode::kOpenExisting);
  if (!db) throw std::runtime_error(db.error().message);
  exec(*db, sql);
}

int64_t Deployment::sql_int64(const std::string& sql) const {
  auto db = Database::open(database_, Database::Mode::kOpenExisting);
  if (!db) return -1;
  auto n = guarded([&]() -> Result<int64_t> { return query_int64(*db, sql); });
  return n ? *n : -1;
}

int Deployment::add_node(const std::string& name, bool shared) {
  std::string node_dir = dir_ + "/" + name;
  // The keys, certificates and configuration; its own spool, recordings and
  // control socket are made in its own folder.
  std::filesystem::create_directories(node_dir);
  for (const auto& e : std::filesystem::directory_iterator(state_)) {
    if (e.is_regular_file()) std::filesystem::copy(e.path(), node_dir + "/" + e.path().filename().string());
  }
  int port = free_port();
  int web = free_port();
  std::string text = read_text(node_dir + "/bastion.toml");
  auto swap = [&](const std::string& from, const std::string& to) {
    auto at = text.find(from);
    if (at == std::string::npos) throw std::runtime_error("node config has no '" + from + "'");
    text.replace(at, from.size(), to);
  };
  swap("listen = \"127.0.0.1:" + std::to_string(gw_port_) + "\"",
       "listen = \"127.0.0.1:" + std::to_string(port) + "\"");
  swap("listen = \"127.0.0.1:" + std::to_string(web_port_) + "\"",
       "listen = \"127.0.0.1:" + std::to_string(web) + "\"");
  swap("[gateway]\n", "[gateway]\nnode_name = \"" + name + "\"\n");
  // Its own metrics port, if the deployment serves metrics.
  if (auto m = text.find("metrics_listen = \"127.0.0.1:"); m != std::string::npos) {
    size_t from = m + 28, to = text.find('"', from);
    text.replace(from, to - from, std::to_string(free_port()));
  }
  if (shared) {
    swap("spool = \"hr\"", "spool = \"" + state_ + "/hr\"");
    swap("dir = \"recordings\"", "dir = \"" + state_ + "/recordings\"");
  }
  write_text(node_dir + "/bastion.toml", text, 0600);
  // The same host key on every node: one known_hosts line per port.
  write_text(dir_ + "/known_hosts", read_text(dir_ + "/known_hosts") + "[127.0.0.1]:" + std::to_string(port) + " " +
                                        read_text(state_ + "/ssh_host_ed25519_key.pub"));
  nodes_.emplace_back(
      name, std::make_unique<Process>(std::vector<std::string>{bastiond_path_, "--config", node_dir + "/bastion.toml"},
                                      dir_ + "/" + name + ".log", bastiond_env_));
  Process& p = *nodes_.back().second;
  if (!wait_for([&] { return port_open(port) || !p.running(); }, 10000) || !p.running()) {
    throw std::runtime_error("node " + name + " did not start: " + read_text(dir_ + "/" + name + ".log"));
  }
  return port;
}

void Deployment::kill_node(const std::string& name) {
  for (auto& [n, p] : nodes_) {
    if (n == name && p->pid() > 0) {
      ::kill(p->pid(), SIGKILL);
      p->wait(5000);
    }
  }
}

ProcResult Deployment::node_ctl(const std::string& name, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {BASTIONCTL_PATH, "--config", node_config(name)};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

std::vector<std::string> Deployment::ssh_argv_to(int port, const SshKeyFiles& key, const std::string& user_spec) const {
  std::vector<std::string> argv = ssh_argv(key, user_spec);
  argv[2] = std::to_string(port);
  return argv;
}

void Deployment::restart_bastiond() {
  bastiond_.stop();
  bastiond_ = Process({bastiond_path_, "--config", config()}, dir_ + "/bastiond.log", bastiond_env_);
  // Web pages only where public_url is set (a test may have commented it out).
  const bool pages = read_text(config()).find("\npublic_url = ") != std::string::npos;
  const auto started = std::chrono::steady_clock::now();
  // Ready when it serves: the web port open (the supervisor starts the web
  // process from its loop), then an SSH banner, not only an open port. The
  // web port is polled first, and alone: every probe of the SSH port costs
  // the gateway a connection process, and a probe every 20 ms made a burst
  // that, under a sanitizer on a loaded machine, kept the first real login
  // waiting past its 10 s connect timeout.
  if (!wait_for([&] { return !pages || port_open(web_port_) || !bastiond_.running(); }, 30000) ||
      !wait_for([&] { return ssh_banner(gw_port_, 30000) || !bastiond_.running(); }, 30000) || !bastiond_.running()) {
    throw std::runtime_error("bastiond did not start: " + gateway_log());
  }
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  if (took > 3000) {
    std::fprintf(stderr, "bastiond took %lld ms to serve after its start\n", static_cast<long long>(took));
  }
}

bool Deployment::wait_for_session_end(const std::string& id, int timeout_ms) {
  return wait_for(
      [&] {
        return !nlohmann::json::parse(ctl_ok({"audit", "list", "--json", "--session", id, "--action", "session.end"}))
                    .empty();
      },
      timeout_ms);
}

void Deployment::edit_config(const std::string& from, const std::string& to) {
  std::string text = read_text(config());
  auto pos = text.find(from);
  if (pos == std::string::npos) throw std::runtime_error("config has no '" + from + "'");
  text.replace(pos, from.size(), to);
  write_text(config(), text, 0600);
  restart_bastiond();
}

void Deployment::start_sshd(const std::string& name, int port, Process& into, const std::string& extra) {
  std::filesystem::create_directories("/run/sshd");
  std::string cfg = dir_ + "/sshd_" + name + ".conf";
  // Sessions on the targets get a HOME without a ~/.bashrc (the login's own
  // home stays their working directory). root's on these machines runs
  // pyenv's setup, whose `pyenv rehash` takes a lock that concurrent logins
  // wait up to 60 s for, and that a session ended mid-way leaves behind for
  // every later login: a stall no test here is about.
  std::string home = extra.find("SetEnv") == std::string::npos ? dir_ + "/home-" + name : "";
  if (!home.empty()) std::filesystem::create_directories(home);
  write_text(cfg, "Port " + std::to_string(port) +
                      "\nListenAddress 127.0.0.1\n"
                      "HostKey " +
                      dir_ +
                      "/target_host_key\n"
                      "PidFile " +
                      dir_ + "/sshd_" + name +
                      ".pid\n"
                      "TrustedUserCAKeys " +
                      dir_ +
                      "/ca.pub\n"
                      "AuthorizedKeysFile none\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
                      "KbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin prohibit-password\n"
                      "StrictModes no\nSubsystem sftp internal-sftp\nAcceptEnv LANG LC_*\n"
                      "AllowTcpForwarding yes\nX11Forwarding no\nLogLevel VERBOSE\n"
                      // The gateway opens one upstream connection per login; a burst
                      // of logins must not meet sshd's default MaxStartups (10:30:100).
                      "MaxStartups 1000\n" +
                      (home.empty() ? std::string() : "SetEnv HOME=" + home + "\n") + extra);
  into = Process({"/usr/sbin/sshd", "-D", "-e", "-f", cfg}, dir_ + "/sshd_" + name + ".log");
  if (!wait_for([&] { return port_open(port) || !into.running(); }, 10000) || !into.running()) {
    throw std::runtime_error("sshd did not start: " + read_text(dir_ + "/sshd_" + name + ".log"));
  }
}

int Deployment::start_extra_sshd(const std::string& name, const std::string& extra) {
  int port = free_port();
  extra_.push_back(std::make_unique<Process>());
  start_sshd(name, port, *extra_.back(), extra);
  return port;
}

ProcResult Deployment::ctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {BASTIONCTL_PATH, "--config", config()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

std::string Deployment::ctl_ok(const std::vector<std::string>& args) {
  std::string what = "bastionctl";
  for (const auto& a : args) what += " " + a;
  return must(ctl(args), what);
}

SshKeyFiles Deployment::make_sk_key(const std::string& name, const std::string& type) {
  std::string path = dir_ + "/key_" + name;
  must(run({"ssh-keygen", "-q", "-t", type, "-w", BASTION_SOFTKEY_PATH, "-N", "", "-C", name, "-f", path}),
       "ssh-keygen -t " + type);
  return {path, path + ".pub"};
}

SshKeyFiles Deployment::make_plain_key(const std::string& name) {
  std::string path = dir_ + "/key_" + name;
  must(run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path}), "ssh-keygen");
  return {path, path + ".pub"};
}

SshKeyFiles Deployment::add_person(const std::string& name, const std::vector<std::string>& roles) {
  std::vector<std::string> args = {"user", "add", name};
  for (const auto& r : roles) {
    args.push_back("--role");
    args.push_back(r);
  }
  ctl_ok(args);
  return enroll_sk_key(name);
}

std::vector<std::string> Deployment::client_options(const SshKeyFiles& key) const {
  return {"-F", "/dev/null",
          "-i", key.priv,
          "-o", "IdentitiesOnly=yes",
          "-o", "IdentityAgent=none",
          "-o", "BatchMode=yes",
          "-o", "UserKnownHostsFile=" + dir_ + "/known_hosts",
          "-o", "StrictHostKeyChecking=yes",
          "-o", std::string("SecurityKeyProvider=") + BASTION_SOFTKEY_PATH,
          "-o", "ConnectTimeout=10"};
}

std::vector<std::string> Deployment::ssh_argv(const SshKeyFiles& key, const std::string& user_spec,
                                              const std::vector<std::string>& extra) const {
  std::vector<std::string> argv = {"ssh", "-p", std::to_string(gw_port_)};
  auto opts = client_options(key);
  argv.insert(argv.end(), opts.begin(), opts.end());
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back("-l");
  argv.push_back(user_spec);
  argv.push_back("127.0.0.1");
  return argv;
}

ProcResult Deployment::ssh(const SshKeyFiles& key, const std::string& user_spec,
                           const std::vector<std::string>& command, const std::string& input, const Env& env,
                           int timeout_ms) {
  auto argv = ssh_argv(key, user_spec);
  argv.insert(argv.end(), command.begin(), command.end());
  return run(argv, env, input, timeout_ms);
}

}  // namespace bastion::e2e
