// bastionctl init, ca show.
#include <filesystem>
#include <iostream>

#include "authn/user_ca.h"
#include "common/database.h"
#include "common/files.h"
#include "gateway/app/default_trust.h"
#include "gateway/app/web_origin.h"
#include "gateway/app/web_tls.h"
#include "gateway/ctl/ctl.h"
#include "recorder/audit_chain.h"

namespace bastion::gateway {
namespace {

struct InitArgs {
  std::string dir, listen = "127.0.0.1:2200", public_url, database;
  bool listen_given = false;  // --listen was on the command line (not just its default)
};

// What `init` creates.
struct InitPaths {
  std::string dir, cfg, ca_key, db, audit_key, web_cert, web_key;
  std::vector<std::string> host_keys;
  std::string web_host = "localhost";  // the self-signed web certificate's name
  bool write_config = true;            // false: the configuration exists and names these paths
};

// With --state-dir: a new directory holding everything, its config included.
Result<InitPaths> paths_for_new_dir(const InitArgs& a) {
  std::string host;
  uint16_t port = 0;
  if (auto st = parse_host_port(a.listen, host, port); !st) return st.error().prefixed("--listen: ");
  std::error_code ec;
  InitPaths p;
  p.dir = std::filesystem::absolute(a.dir, ec).lexically_normal().string();
  p.cfg = p.dir + "/bastion.toml";
  p.host_keys = {p.dir + "/ssh_host_ed25519_key"};
  p.ca_key = p.dir + "/user_ca_key";
  p.db = a.database.empty() ? p.dir + "/bastion.db" : a.database;
  if (!a.database.empty() && !Database::is_postgres(a.database)) {
    return make_error("--database: expected a postgresql:// URL (without it, the SQLite database is " + p.dir +
                      "/bastion.db)");
  }
  p.audit_key = p.dir + "/audit_signing_key";
  p.web_cert = p.dir + "/web_cert.pem";
  p.web_key = p.dir + "/web_key.pem";
  if (!a.public_url.empty()) {
    auto origin = parse_public_url(a.public_url);
    if (!origin) return origin.error().prefixed("--public-url: ");
    p.web_host = origin->rp_id;
  }
  return p;
}

// Without --state-dir: the state an existing configuration names (a package's
// /etc/bastion/bastion.toml), which is kept as it is.
Result<InitPaths> paths_from_config(const InitArgs& a, const std::string& config_flag) {
  if (a.listen_given || !a.public_url.empty() || !a.database.empty()) {
    return Error{
        "--listen, --public-url and --database go with --state-dir; without it, init creates what the "
        "configuration names (edit the configuration instead)",
        ErrorCode::kInvalid};
  }
  auto path = locate_config(config_flag);
  if (!path) {
    return Error{
        "init needs --state-dir DIR (a new directory with its own configuration), or a configuration "
        "(--config FILE, BASTION_CONFIG or /etc/bastion/bastion.toml) whose state it creates",
        ErrorCode::kInvalid};
  }
  auto cfg = load_config(*path);
  if (!cfg) return cfg.error();
  if (auto st = ctl_run_as_state_owner(*cfg); !st) return st.error();
  InitPaths p;
  p.dir = cfg->state_dir;
  p.cfg = cfg->config_path;
  p.write_config = false;
  p.host_keys = cfg->host_keys;
  p.ca_key = cfg->user_ca_key;
  p.db = cfg->database;
  p.audit_key = cfg->audit_signing_key;
  p.web_cert = cfg->tls_cert;
  p.web_key = cfg->tls_key;
  if (!cfg->public_url.empty()) {
    auto origin = parse_public_url(cfg->public_url);
    if (!origin) return origin.error();
    p.web_host = origin->rp_id;
  }
  return p;
}

// Checks everything before anything is changed; the paths to create.
Result<InitPaths> plan_init(const CtlTools& tools, const InitArgs& a, const std::string& config_flag) {
  if (!tools.generate_host_key) return make_error("this bastionctl cannot generate SSH host keys (built without them)");
  if (!a.dir.empty() && !config_flag.empty()) {
    return Error{
        "--config and --state-dir: give one (--state-dir writes a new configuration; --config names an "
        "existing one whose state init creates)",
        ErrorCode::kInvalid};
  }
  auto planned = a.dir.empty() ? paths_from_config(a, config_flag) : paths_for_new_dir(a);
  if (!planned) return planned.error();
  InitPaths& p = *planned;
  // SECURITY: the shipped roots must be the ones Yubico publishes.
  for (const auto& r : default_fido_roots()) {
    auto t = authn::parse_trust_cert(r.pem);
    if (!t || t->sha256 != r.sha256)
      return make_error("built-in FIDO root " + r.file + " does not match its fingerprint");
  }
  // SECURITY: never overwrite keys; check everything before changing anything.
  std::vector<std::string> created = p.host_keys;
  created.insert(created.end(), {p.ca_key, p.audit_key, p.web_cert, p.web_key});
  if (p.write_config) created.push_back(p.cfg);
  for (const auto& f : created) {
    if (file_exists(f)) return make_error("refusing to overwrite existing " + f);
  }
  if (!Database::is_postgres(p.db) && file_exists(p.db)) return make_error("refusing to overwrite existing " + p.db);
  if (Database::is_postgres(p.db)) {
    // SECURITY: a shared database that already holds a deployment has its own
    // keys and audit chain; a second node joins it with a copy of the first
    // node's state directory, never with new keys.
    auto existing = Database::open(p.db, Database::Mode::kReadOnly);
    if (existing) {
      return make_error("refusing to initialise " + Database::display_name(p.db) +
                        ": it already holds a bastion deployment (another gateway node joins it with a copy of the "
                        "first node's state directory; README, \"Several gateways\")");
    }
    if (existing.error().code != ErrorCode::kNotFound) return existing.error();
  }
  return p;
}

// Creates the directory, the keys, the database, the web certificate and the
// config; returns the user CA's public key line.
Result<std::string> create_state(const CtlTools& tools, const InitArgs& a, const InitPaths& p) {
  if (auto st = make_dirs(p.dir, 0700); !st) return st.error();
  for (const auto& k : p.host_keys) {
    if (auto st = tools.generate_host_key(k); !st) return st.error();
  }
  auto ca = authn::UserCa::create(p.ca_key);
  if (!ca) return ca.error();
  auto signer = Ed25519Key::create(p.audit_key);
  if (!signer) return signer.error();
  if (auto st = write_file_atomic(p.audit_key + ".pub", recorder::audit_public_key_line(signer->public_key()) + "\n",
                                  0644, false);
      !st) {
    return st.error();
  }
  auto database = Database::open(p.db, Database::Mode::kCreate);
  if (!database) return database.error();
  if (auto st = make_self_signed_tls(p.web_cert, p.web_key, p.web_host); !st) return st.error();
  if (!p.write_config) return ca->public_key_line();
  if (auto st = write_file_atomic(p.cfg, default_config_text(a.listen, a.public_url, a.database), 0600, false); !st) {
    return st.error();
  }
  return ca->public_key_line();
}

// Audits the initialisation and trusts the built-in FIDO roots and models.
Status seed_state(const InitArgs& a, const InitPaths& p) {
  auto cfg = load_config(p.cfg);
  if (!cfg) return cfg.error();
  auto s = Services::open(*cfg);
  if (!s) return {};
  ctl_audit(**s, "gateway.init", "", {{"state_dir", p.dir}, {"listen", a.listen}, {"public_url", a.public_url}});
  for (const auto& r : default_fido_roots()) {
    if (auto t = (*s)->mfa().add_trust_cert(r.pem, false); !t) return t.error();
  }
  for (const auto& x : default_fido_aaguids()) {
    if (auto added = (*s)->mfa().add_aaguid(x.aaguid, x.name); !added) return added.error();
  }
  return {};
}

void print_init(const InitPaths& p, const std::string& ca_line) {
  std::cout << "initialised " << p.dir << "\n"
            << "  config:        " << p.cfg << (p.write_config ? "" : " (kept as it is)") << "\n";
  for (const auto& k : p.host_keys) std::cout << "  host key:      " << k << ".pub\n";
  std::cout << "  user CA key:   " << p.ca_key << " (mode 0600)\n"
            << "  audit key:     " << p.audit_key << " (mode 0600; keep a copy of " << p.audit_key
            << ".pub elsewhere to verify the log)\n"
            << "  database:      " << Database::display_name(p.db) << "\n"
            << "  web TLS:       " << p.web_cert << " (self-signed for " << p.web_host << "; key mode 0600)\n"
            << "  FIDO trust:    " << default_fido_roots().size() << " Yubico roots, " << default_fido_aaguids().size()
            << " YubiKey 5 AAGUIDs (bastionctl fido roots|aaguids)\n\n"
            << "Targets must trust the user CA; put this line in the file named by sshd's "
               "TrustedUserCAKeys:\n  "
            << ca_line << "\n"
            << "Next: bastionctl --config " << p.cfg << " role add|target add|user add|key add, "
            << "then bastiond --config " << p.cfg << "\n";
}

// `init`: opens no store before it has made one.
Status init(const CtlTools& tools, const InitArgs& a, const std::string& config_flag) {
  auto p = plan_init(tools, a, config_flag);
  if (!p) return p.error();
  auto ca_line = create_state(tools, a, *p);
  if (!ca_line) return ca_line.error();
  if (auto st = seed_state(a, *p); !st) return st;
  print_init(*p, *ca_line);
  return {};
}

}  // namespace

void register_init_commands(CLI::App& app, CtlGlobals& g) {
  auto* init_cmd = app.add_subcommand(
      "init",
      "create a state directory: config, host key, user CA, database (or, without --state-dir, the keys and "
      "database an existing configuration names)");
  auto a = std::make_shared<InitArgs>();
  init_cmd->add_option("--state-dir", a->dir,
                       "directory to create (mode 0700), with a new bastion.toml in it; without it, init reads the "
                       "configuration (--config, BASTION_CONFIG or /etc/bastion/bastion.toml) and creates the state "
                       "it names");
  auto* listen = init_cmd->add_option("--listen", a->listen, "HOST:PORT for SSH clients")->capture_default_str();
  init_cmd->add_option("--public-url", a->public_url,
                       "https://HOST[:PORT] where browsers reach the gateway for WebAuthn (registration, step-up)");
  init_cmd->add_option("--database", a->database,
                       "postgresql://USER@HOST/DB: an existing, empty PostgreSQL database that several gateways "
                       "share (default: SQLite, bastion.db in the state directory)");
  init_cmd->callback([&g, a, listen] {
    a->listen_given = listen->count() > 0;
    ctl_run_offline(g, [&] { return init(g.tools, *a, g.config_flag); });
  });
}

}  // namespace bastion::gateway
