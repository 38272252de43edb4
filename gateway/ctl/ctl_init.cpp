// bastionctl init, ca show.
#include <filesystem>
#include <iostream>

#include "authn/user_ca.h"
#include "common/files.h"
#include "gateway/app/default_trust.h"
#include "gateway/app/web_origin.h"
#include "gateway/app/web_tls.h"
#include "gateway/ctl/ctl.h"
#include "recorder/audit_chain.h"

namespace bastion::gateway {
namespace {

int run_init(const CtlTools& tools, const std::string& dir_arg, const std::string& listen, const std::string& public_url) {
  if (!tools.generate_host_key) return ctl_fail("this bastionctl cannot generate SSH host keys (built without them)");
  std::string host;
  uint16_t port = 0;
  if (auto st = parse_host_port(listen, host, port); !st) return ctl_fail("--listen: " + st.message());
  std::error_code ec;
  std::string dir = std::filesystem::absolute(dir_arg, ec).lexically_normal().string();
  std::string cfg_path = dir + "/bastion.toml";
  std::string host_key = dir + "/ssh_host_ed25519_key";
  std::string ca_key = dir + "/user_ca_key";
  std::string db = dir + "/bastion.db";
  std::string audit_key = dir + "/audit_signing_key";
  std::string web_cert = dir + "/web_cert.pem", web_key = dir + "/web_key.pem";
  std::string web_host = "localhost";
  if (!public_url.empty()) {
    auto origin = parse_public_url(public_url);
    if (!origin) return ctl_fail("--public-url: " + origin.error().message);
    web_host = origin->rp_id;
  }
  // SECURITY: the shipped roots must be the ones Yubico publishes.
  for (const auto& r : default_fido_roots()) {
    auto t = authn::parse_trust_cert(r.pem);
    if (!t || t->sha256 != r.sha256) return ctl_fail("built-in FIDO root " + r.file + " does not match its fingerprint");
  }
  // SECURITY: never overwrite keys; check everything before changing anything.
  for (const auto& f : {host_key, ca_key, audit_key, cfg_path, db, web_cert, web_key}) {
    if (file_exists(f)) return ctl_fail("refusing to overwrite existing " + f);
  }
  if (auto st = make_dirs(dir, 0700); !st) return ctl_fail(st.message());
  if (auto st = tools.generate_host_key(host_key); !st) return ctl_fail(st.message());
  auto ca = authn::UserCa::create(ca_key);
  if (!ca) return ctl_fail(ca.error().message);
  auto signer = Ed25519Key::create(audit_key);
  if (!signer) return ctl_fail(signer.error().message);
  if (auto st = write_file_atomic(audit_key + ".pub", recorder::audit_public_key_line(signer->public_key()) + "\n",
                                  0644, false);
      !st) {
    return ctl_fail(st.message());
  }
  auto database = Database::open(db, Database::Mode::kCreate);
  if (!database) return ctl_fail(database.error().message);
  if (auto st = make_self_signed_tls(web_cert, web_key, web_host); !st) return ctl_fail(st.message());
  if (auto st = write_file_atomic(cfg_path, default_config_text(listen, public_url), 0600, false); !st) {
    return ctl_fail(st.message());
  }
  auto cfg = load_config(cfg_path);
  if (!cfg) return ctl_fail(cfg.error().message);
  if (auto s = Services::open(*cfg); s) {
    ctl_audit(**s, "gateway.init", "", {{"state_dir", dir}, {"listen", listen}, {"public_url", public_url}});
    for (const auto& r : default_fido_roots()) {
      if (auto t = (*s)->mfa().add_trust_cert(r.pem, false); !t) return ctl_fail(t.error().message);
    }
    for (const auto& a : default_fido_aaguids()) {
      if (auto x = (*s)->mfa().add_aaguid(a.aaguid, a.name); !x) return ctl_fail(x.error().message);
    }
  }
  std::cout << "initialised " << dir << "\n"
            << "  config:        " << cfg_path << "\n"
            << "  host key:      " << host_key << ".pub\n"
            << "  user CA key:   " << ca_key << " (mode 0600)\n"
            << "  audit key:     " << audit_key << " (mode 0600; keep a copy of " << audit_key
            << ".pub elsewhere to verify the log)\n"
            << "  database:      " << db << "\n"
            << "  web TLS:       " << web_cert << " (self-signed for " << web_host << "; key mode 0600)\n"
            << "  FIDO trust:    " << default_fido_roots().size() << " Yubico roots, " << default_fido_aaguids().size()
            << " YubiKey 5 AAGUIDs (bastionctl fido roots|aaguids)\n\n"
            << "Targets must trust the user CA; put this line in the file named by sshd's "
               "TrustedUserCAKeys:\n  "
            << ca->public_key_line() << "\n"
            << "Next: bastionctl --config " << cfg_path << " role add|target add|user add|key add, "
            << "then bastiond --config " << cfg_path << "\n";
  return kExitOk;
}

}  // namespace

void register_init_commands(CLI::App& app, CtlGlobals& g) {
  auto* init = app.add_subcommand("init", "create a state directory: config, host key, user CA, database");
  auto dir = std::make_shared<std::string>();
  auto listen = std::make_shared<std::string>("127.0.0.1:2200");
  init->add_option("--state-dir", *dir, "directory to create (mode 0700)")->required();
  init->add_option("--listen", *listen, "HOST:PORT for SSH clients")->capture_default_str();
  auto public_url = std::make_shared<std::string>();
  init->add_option("--public-url", *public_url,
                   "https://HOST[:PORT] where browsers reach the gateway for WebAuthn (registration, step-up)");
  init->callback([&g, dir, listen, public_url] { g.exit_code = run_init(g.tools, *dir, *listen, *public_url); });

  auto* ca = app.add_subcommand("ca", "the user certificate authority targets trust");
  ca->require_subcommand(1);
  auto* show = ca->add_subcommand("show", "print the user-CA public key line for sshd's TrustedUserCAKeys");
  show->callback([&g] {
    auto s = ctl_open(g);
    if (!s) return;
    auto ca_key = authn::UserCa::load(s->config().user_ca_key);
    if (!ca_key) {
      g.exit_code = ctl_fail(ca_key.error().message);
      return;
    }
    std::cout << ca_key->public_key_line() << "\n";
  });
}

}  // namespace bastion::gateway
