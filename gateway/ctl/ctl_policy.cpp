// bastionctl role ..., target ...
#include <iostream>
#include <sstream>

#include "authn/known_hosts.h"
#include "authn/public_key.h"
#include "common/files.h"
#include "common/strings.h"
#include "gateway/ctl/ctl.h"
#include "policy/selector.h"

namespace bastion::gateway {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

nlohmann::json role_json(const policy::Role& r) {
  nlohmann::json j = {
      {"name", r.name},         {"targets", r.target_selector},
      {"logins", r.logins},     {"allow_port_forwarding", r.allow_port_forwarding},
      {"elevated", r.elevated}, {"step_up", r.elevated ? std::string("per-session") : policy::to_string(r.step_up)},
      {"console", r.console}};
  if (r.elevated) {
    j["max_duration"] = r.max_duration ? format_duration(r.max_duration) : "";
    j["internal_approvals"] = r.internal_approvals;
    j["approver_role"] = r.approver_role;
  }
  return j;
}

nlohmann::json target_json(const policy::Target& t) {
  return {{"name", t.name},     {"host", t.host},           {"port", t.port},         {"host_key", t.host_key},
          {"labels", t.labels}, {"recording", t.recording}, {"customer", t.customer}, {"principals", t.principals}};
}

struct RoleAddArgs {
  policy::Role r;
  std::string logins, max_duration, step_up = "12h";
};

// Parses --step-up and --max-duration into the role.
Status check_role_add(RoleAddArgs& a) {
  auto rule = policy::parse_step_up(a.step_up);
  if (!rule) return rule.error().prefixed("--step-up: ");
  a.r.step_up = *rule;
  if (!a.max_duration.empty()) {
    auto d = parse_duration(a.max_duration);
    if (!d) return d.error().prefixed("--max-duration: ");
    a.r.max_duration = *d;
  }
  return {};
}

Status add_role(Services& s, const RoleAddArgs& a) {
  policy::Role r = a.r;
  if (!a.logins.empty()) r.logins = split(a.logins, ',');
  if (auto st = s.policy().add_role(r); !st) return st;
  ctl_audit(s, "role.add", "", role_json(r));
  std::cout << "added role " << r.name << "\n";
  return {};
}

// "elevated (grant needed, max 4h, +1 approval(s) from security)" or "standing".
std::string role_access(const policy::Role& x) {
  std::string console = x.console.empty() ? "" : "console " + x.console;
  if (x.logins.empty()) return console;
  if (!x.elevated) return "standing" + (console.empty() ? "" : ", " + console);
  std::string access = "elevated (grant needed";
  if (x.max_duration) access += ", max " + format_duration(x.max_duration);
  if (x.internal_approvals) {
    access += ", +" + std::to_string(x.internal_approvals) + " approval(s) from " + x.approver_role;
  }
  return access + ")" + (console.empty() ? "" : ", " + console);
}

void print_roles(const std::vector<policy::Role>& roles) {
  std::printf("%-16s %-24s %-24s %-6s %-12s %s\n", "NAME", "TARGETS", "LOGINS", "FWD", "STEP-UP", "ACCESS");
  for (const auto& x : roles) {
    std::string l = join(x.logins, ",");
    std::string step = x.elevated ? "per-session" : policy::to_string(x.step_up);
    std::printf("%-16s %-24s %-24s %-6s %-12s %s\n", x.name.c_str(), x.target_selector.c_str(), l.c_str(),
                x.allow_port_forwarding ? "yes" : "no", step.c_str(), role_access(x).c_str());
  }
}

Status list_roles(Services& s, const JsonFlag& a) {
  return ctl_print_rows(s.policy().list_roles(), a.json, role_json, print_roles);
}

void register_role(CLI::App& app, CtlGlobals& g) {
  auto* role = app.add_subcommand("role", "roles: which logins on which targets");
  role->require_subcommand(1);
  auto* add = role->add_subcommand("add", "define a role");
  auto a = std::make_shared<RoleAddArgs>();
  add->add_option("NAME", a->r.name)->required();
  add->add_option("--targets", a->r.target_selector,
                  "a glob on target names ('prod*') or label=value (required unless the role is console-only)");
  add->add_option("--logins", a->logins,
                  "comma-separated accounts on the targets (root,deploy) (required unless the role is console-only)");
  add->add_flag("--allow-port-forwarding", a->r.allow_port_forwarding,
                "allow local port forwarding (ssh -L) to these targets");
  add->add_flag("--elevated", a->r.elevated,
                "holders may only *request* these logins; access needs a grant with the customer's consent");
  add->add_option("--max-duration", a->max_duration, "elevated: longest grant under this role (e.g. 4h)");
  add->add_option("--internal-approvals", a->r.internal_approvals,
                  "elevated: approvals also needed from holders of --approver-role (four eyes)");
  add->add_option("--approver-role", a->r.approver_role, "elevated: the role whose holders give internal approvals");
  add->add_option("--step-up", a->step_up,
                  "standing roles: how recent the holder's WebAuthn step-up (touch + PIN) must be: none, per-session "
                  "or a duration (default 12h); grants of elevated roles always need one per session");
  add->add_option("--console", a->r.console,
                  "what holders get in the web console: auditor (every recording, the audit log) or admin "
                  "(everyone's live sessions, ending any); alone, without --targets and --logins, the role opens "
                  "nothing over SSH")
      ->check(CLI::IsMember({"auditor", "admin"}));
  ctl_command(add, g, a, add_role, check_role_add);
  auto* list = role->add_subcommand("list", "list roles");
  ctl_command(list, g, add_json_flag(list), list_roles);
}

struct TargetAddArgs {
  policy::Target t;
  std::string address, key_file;
  std::vector<std::string> labels;
};

Status add_target(Services& s, const TargetAddArgs& a) {
  policy::Target t = a.t;
  if (auto st = parse_host_port(a.address, t.host, t.port); !st) return st.error().prefixed("--address: ");
  auto key = authn::read_public_key_file(a.key_file);
  if (!key) return key.error().prefixed(a.key_file + ": ");
  if (authn::is_security_key(key->type)) return make_error(a.key_file + ": a host key cannot be a security key");
  authn::PublicKey stored = *key;
  stored.comment.clear();
  t.host_key = authn::to_line(stored);
  for (const auto& l : a.labels) {
    auto eq = l.find('=');
    if (eq == std::string::npos || eq == 0) return make_error("--label must be KEY=VALUE, got '" + l + "'");
    t.labels[l.substr(0, eq)] = l.substr(eq + 1);
  }
  if (auto st = s.policy().add_target(t); !st) return st;
  nlohmann::json j = target_json(t);
  j["host_key_fingerprint"] = authn::fingerprint_sha256(key->blob);
  ctl_audit(s, "target.add", "", j, t.name);
  std::cout << "added target " << t.name << " (" << t.host << ":" << t.port << ", host key "
            << authn::fingerprint_sha256(key->blob) << ")\n";
  return {};
}

void print_targets(const std::vector<policy::Target>& targets) {
  std::printf("%-20s %-28s %-14s %s\n", "NAME", "ADDRESS", "CUSTOMER", "LABELS");
  for (const auto& t : targets) {
    std::vector<std::string> pairs;
    for (const auto& [k, v] : t.labels) pairs.push_back(k + "=" + v);
    std::string labels = join(pairs, ",");
    std::string addr = t.host + ":" + std::to_string(t.port);
    std::printf("%-20s %-28s %-14s %s\n", t.name.c_str(), addr.c_str(), t.customer.empty() ? "-" : t.customer.c_str(),
                labels.c_str());
  }
}

Status list_targets(Services& s, const JsonFlag& a) {
  return ctl_print_rows(s.policy().list_targets(), a.json, target_json, print_targets);
}

struct TargetRekeyArgs {
  std::string name, key_file, known_hosts, key_type;
};

Status check_target_rekey(TargetRekeyArgs& a) {
  if (a.key_file.empty() == a.known_hosts.empty()) {
    return make_error("give the new host key with one of --host-key FILE or --from-known-hosts FILE");
  }
  if (!a.key_type.empty() && a.known_hosts.empty()) return make_error("--key-type goes with --from-known-hosts");
  return {};
}

// The key --from-known-hosts names for `t`: the one the file lists for its
// address, or the one of --key-type among several.
Result<authn::PublicKey> key_from_known_hosts(const policy::Target& t, const TargetRekeyArgs& a) {
  auto text = read_file(a.known_hosts, 16 << 20);
  if (!text) return text.error().prefixed(a.known_hosts + ": ");
  auto found = authn::known_host_keys(*text, t.host, t.port);
  if (!found) return found.error().prefixed(a.known_hosts + ": ");
  std::string addr = t.host + ":" + std::to_string(t.port);
  std::vector<authn::KnownHostKey> keys;
  for (auto& k : *found) {
    if (a.key_type.empty() || k.key.type == a.key_type) keys.push_back(std::move(k));
  }
  if (keys.empty()) {
    return make_error(a.known_hosts + " lists no " + (a.key_type.empty() ? "" : a.key_type + " ") + "host key for " +
                      addr +
                      (found->empty() ? "" : " (it lists " + std::to_string(found->size()) + " of other types)"));
  }
  if (keys.size() > 1) {
    std::vector<std::string> types;
    types.reserve(keys.size());
    for (const auto& k : keys) types.push_back(k.key.type + " (line " + std::to_string(k.line) + ")");
    return make_error(a.known_hosts + " lists " + std::to_string(keys.size()) + " host keys for " + addr + ": " +
                      join(types, ", ") + "; choose one with --key-type");
  }
  return keys.front().key;
}

// Pins a new host key for a target (the target rotated its key, or was
// rebuilt). The change and its audit record commit together.
Status rekey_target(Services& s, const TargetRekeyArgs& a) {
  auto found = s.policy().find_target(a.name);
  if (!found) return found.error();
  if (!*found) return make_error("no such target: " + a.name);
  const policy::Target& t = **found;
  auto key = a.key_file.empty() ? key_from_known_hosts(t, a) : authn::read_public_key_file(a.key_file);
  if (!key) return a.key_file.empty() ? key.error() : key.error().prefixed(a.key_file + ": ");
  if (authn::is_security_key(key->type)) return make_error("a host key cannot be a security key");
  key->comment.clear();
  auto old = authn::parse_public_key_line(t.host_key);
  std::string old_fp = old ? authn::fingerprint_sha256(old->blob) : "(unreadable: " + old.error().message + ")";
  std::string new_fp = authn::fingerprint_sha256(key->blob);
  if (old && old->blob == key->blob)
    return make_error("target " + t.name + " already pins " + new_fp + "; nothing changed");
  nlohmann::json j = {{"old_host_key_fingerprint", old_fp},
                      {"old_host_key_type", old ? old->type : ""},
                      {"host_key_fingerprint", new_fp},
                      {"host_key_type", key->type},
                      {"from", a.key_file.empty() ? "known_hosts:" + a.known_hosts : a.key_file}};
  recorder::AuditEvent e;
  e.actor = ctl_actor();
  e.action = "target.rekey";
  e.target = t.name;
  e.details = j;
  Status done = s.audit().atomically([&]() -> Status {
    if (auto st = s.policy().set_target_host_key(t.name, authn::to_line(*key)); !st) return st;
    auto r = s.audit().append(e);
    if (!r) return r.error().prefixed("not changed: cannot audit the change: ");
    return {};
  });
  if (!done) return done;
  std::cout << "target " << t.name << " (" << t.host << ":" << t.port << "): host key " << old_fp << " replaced by "
            << new_fp << " (" << key->type << ")\n";
  return {};
}

void register_target(CLI::App& app, CtlGlobals& g) {
  auto* target = app.add_subcommand("target", "targets: hosts reached through the gateway");
  target->require_subcommand(1);
  auto* add = target->add_subcommand("add", "add a target with its pinned host key");
  auto a = std::make_shared<TargetAddArgs>();
  add->add_option("NAME", a->t.name)->required();
  add->add_option("--address", a->address, "HOST[:PORT] of the target's sshd")->required();
  add->add_option("--host-key", a->key_file, "the target's host public key file (pinned)")->required();
  add->add_option("--label", a->labels, "KEY=VALUE label (repeatable), for role selectors");
  add->add_option("--customer", a->t.customer,
                  "the customer that owns this target (selectable as customer=NAME; elevation needs its consent)");
  add->add_option("--recording", a->t.recording,
                  "strict: refuse sessions that cannot be recorded; best-effort: run them and audit; "
                  "off: do not record (audited at every session)")
      ->check(CLI::IsMember({"strict", "best-effort", "off"}))
      ->capture_default_str();
  add->add_option("--principals", a->t.principals,
                  "the principal in the gateway's certificates: login (the account, e.g. root) or login@target "
                  "(e.g. root@"
                  "NAME; the target's sshd lists it in AuthorizedPrincipalsFile, so a certificate "
                  "for one target does not open another; see contrib/sshd/)")
      ->check(CLI::IsMember({"login", "login@target"}))
      ->capture_default_str();
  ctl_command(add, g, a, add_target);
  auto* list = target->add_subcommand("list", "list targets");
  ctl_command(list, g, add_json_flag(list), list_targets);
  auto* rekey = target->add_subcommand(
      "rekey",
      "pin a new host key for a target (it rotated its key or was rebuilt); the old and new keys' "
      "fingerprints are printed and audited");
  auto r = std::make_shared<TargetRekeyArgs>();
  rekey->add_option("NAME", r->name)->required();
  auto* file = rekey->add_option("--host-key", r->key_file, "the target's new host public key file");
  auto* kh = rekey->add_option("--from-known-hosts", r->known_hosts,
                               "take the key an OpenSSH known_hosts file lists for the target's address "
                               "(hashed names, [host]:port and wildcards are understood)");
  file->excludes(kh);
  rekey->add_option("--key-type", r->key_type,
                    "with --from-known-hosts: the key type to take when the file lists several (e.g. ssh-ed25519)");
  ctl_command(rekey, g, r, rekey_target, check_target_rekey);
}

}  // namespace

void register_policy_commands(CLI::App& app, CtlGlobals& g) {
  register_role(app, g);
  register_target(app, g);
}

}  // namespace bastion::gateway
