#include "gateway/ctl/ctl.h"
#include "gateway/ctl/ctl_fido.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <cstdio>
#include <iostream>

#include "common/ed25519_key.h"
#include "gateway/ctl/control_client.h"
#include "recorder/audit_chain.h"

namespace bastion::gateway {

namespace {

void print_error(const std::string& message) { std::fprintf(stderr, "bastionctl: %s\n", message.c_str()); }

// The exit code for a command's outcome; prints the failure's message, if it
// has one. A handler's kInvalid error is a usage error too (found only once
// the stores are open, e.g. an option that does not fit the recording's kind).
int exit_code_of(const Status& st, int failure_code) {
  if (st) return kExitOk;
  if (!st.message().empty()) print_error(st.message());
  return st.error().code == ErrorCode::kInvalid ? kExitUsage : failure_code;
}

}  // namespace

Status ctl_run_as_state_owner(const Config& cfg) {
  if (::geteuid() != 0) return {};
  struct stat st {};
  if (::stat(cfg.state_dir.c_str(), &st) != 0 || st.st_uid == 0) return {};
  (void)ctl_actor();  // fixed now, before the switch
  const passwd* pw = ::getpwuid(st.st_uid);
  const gid_t gid = pw != nullptr ? pw->pw_gid : st.st_gid;
  const int groups = pw != nullptr ? ::initgroups(pw->pw_name, gid) : ::setgroups(0, nullptr);
  if (groups != 0 || ::setresgid(gid, gid, gid) != 0 || ::setresuid(st.st_uid, st.st_uid, st.st_uid) != 0) {
    return make_error("cannot switch to the owner of " + cfg.state_dir + " (uid " + std::to_string(st.st_uid) +
                      "): " + std::strerror(errno) + "; run bastionctl as that user");
  }
  return {};
}

namespace {

// Loads the config and opens the stores, or prints why and sets the exit code.
std::unique_ptr<Services> open_services(CtlGlobals& g) {
  auto path = locate_config(g.config_flag);
  if (!path) {
    g.exit_code = exit_code_of(path.error(), kExitUsage);
    return nullptr;
  }
  auto cfg = load_config(*path);
  if (!cfg) {
    g.exit_code = exit_code_of(cfg.error(), kExitFailed);
    return nullptr;
  }
  if (auto st = ctl_run_as_state_owner(*cfg); !st) {
    g.exit_code = exit_code_of(st, kExitFailed);
    return nullptr;
  }
  auto s = Services::open(*cfg);
  if (!s) {
    g.exit_code = exit_code_of(s.error(), kExitFailed);
    return nullptr;
  }
  return std::move(*s);
}

}  // namespace

void ctl_warn(const std::string& message) { print_error("warning: " + message); }

Status ctl_explained() { return Error{}; }

void ctl_run(CtlGlobals& g, const std::function<Status()>& check, const std::function<Status(Services&)>& handler) {
  if (check) {
    g.exit_code = exit_code_of(check(), kExitUsage);
    if (g.exit_code != kExitOk) return;
  }
  auto s = open_services(g);
  if (s) g.exit_code = exit_code_of(handler(*s), kExitFailed);
}

void ctl_run_offline(CtlGlobals& g, const std::function<Status()>& handler) {
  g.exit_code = exit_code_of(handler(), kExitFailed);
}

void ctl_command(CLI::App* cmd, CtlGlobals& g, Status (*handler)(Services&)) {
  cmd->callback([&g, handler] { ctl_run(g, nullptr, handler); });
}

std::shared_ptr<JsonFlag> add_json_flag(CLI::App* cmd) {
  auto a = std::make_shared<JsonFlag>();
  cmd->add_flag("--json", a->json, "machine-readable output");
  return a;
}

std::string ctl_actor() {
  // The user bastionctl was started as, even after ctl_run_as_state_owner.
  static const std::string actor = [] {
    const passwd* pw = getpwuid(getuid());
    return std::string("admin:") + (pw ? pw->pw_name : std::to_string(getuid()));
  }();
  return actor;
}

namespace {
// A record bastionctl writes while bastiond is stopped would wait for its
// next start to be signed (and an evidence pack would show it signed late):
// bastionctl signs it then, as `audit checkpoint` does. While bastiond runs,
// it signs within [audit] checkpoint_interval.
void sign_when_alone(Services& s) {
  auto running = control_call(s.config().control_socket, {monitor::Control::kUserCa, "status", ""}, 2000);
  if (running) return;
  auto key = Ed25519Key::load(s.config().audit_signing_key);
  if (!key) return;  // not ours to read: bastiond signs at its start
  auto c = s.chain().write_checkpoint(*key, "ctl");
  if (!c && c.error().code == ErrorCode::kTampered) {
    ctl_warn(c.error().message + " (investigate with 'bastionctl audit verify')");
  }
}

void append_audit(Services& s, const std::string& action, recorder::Outcome outcome, const std::string& reason,
                  nlohmann::json details, const std::string& target) {
  recorder::AuditEvent e;
  e.actor = ctl_actor();
  e.action = action;
  e.outcome = outcome;
  e.reason = reason;
  e.target = target;
  e.details = std::move(details);
  if (auto r = s.audit().append(e); !r) {
    ctl_warn(r.error().message);
    return;
  }
  sign_when_alone(s);
}
}  // namespace

void ctl_audit(Services& s, const std::string& action, const std::string& reason, nlohmann::json details,
               const std::string& target) {
  append_audit(s, action, recorder::Outcome::kAllow, reason, std::move(details), target);
}

void ctl_audit_denied(Services& s, const std::string& action, const std::string& reason, nlohmann::json details) {
  append_audit(s, action, recorder::Outcome::kDeny, reason, std::move(details), "");
}

void print_json(const nlohmann::json& j) { std::cout << j.dump(2) << "\n"; }

Status ctl_parse_time(const std::string& text, std::optional<Micros>& out) {
  if (text.empty()) return {};
  auto t = parse_utc(text);
  if (!t) return t.error();
  out = *t;
  return {};
}

int ctl_main(int argc, char** argv, CtlTools tools) {
  CLI::App app{"bastionctl: administer the bastion SSH gateway"};
  app.name("bastionctl");
  app.set_version_flag("--version", std::string("bastionctl ") + BASTION_VERSION);
  CtlGlobals g;
  g.tools = std::move(tools);
  app.add_option("--config", g.config_flag,
                 "gateway config file (default: $BASTION_CONFIG, else /etc/bastion/bastion.toml)");
  app.require_subcommand(1);
  app.fallthrough();
  register_init_commands(app, g);
  register_ca_commands(app, g);
  register_people_commands(app, g);
  register_fido_commands(app, g);
  register_policy_commands(app, g);
  register_elevation_commands(app, g);
  register_hr_commands(app, g);
  register_scim_commands(app, g);
  register_notify_commands(app, g);
  register_access_review_commands(app, g);
  register_evidence_commands(app, g);
  register_session_commands(app, g);
  register_recording_commands(app, g);
  register_migrate_commands(app, g);
  register_backup_commands(app, g);
  register_drain_commands(app, g);
  register_web_commands(app, g);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "bastionctl: %s (see --help)\n", e.what());
    return kExitUsage;
  }
  return g.exit_code;
}

}  // namespace bastion::gateway
