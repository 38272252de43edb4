// bastionctl user ..., key ...
#include <algorithm>
#include <iostream>

#include "authn/public_key.h"
#include "common/strings.h"
#include "gateway/app/mfa_web.h"
#include "gateway/ctl/control_client.h"
#include "gateway/ctl/ctl.h"
#include "gateway/ctl/ctl_fido.h"

namespace bastion::gateway {
namespace {

// "ops (hr), deploy": where each role comes from.
std::string roles_with_source(const policy::Person& p) {
  std::vector<std::string> named;
  for (const auto& r : p.roles) {
    bool hr = std::find(p.hr_roles.begin(), p.hr_roles.end(), r) != p.hr_roles.end();
    named.push_back(r + (hr ? " (hr)" : ""));
  }
  return named.empty() ? "(none)" : join(named, ", ");
}

nlohmann::json person_json(const policy::Person& p) {
  return {{"name", p.name},
          {"state", policy::to_string(p.state)},
          {"roles", p.roles},
          {"email", p.email},
          {"employee_id", p.employee_id},
          {"service_account", p.service_account},
          {"created_at", format_utc(p.created_at)}};
}

nlohmann::json key_json(const authn::KeyRecord& k) {
  nlohmann::json j = {{"fingerprint", k.fingerprint},
                      {"user", k.user},
                      {"type", k.type},
                      {"state", k.active ? "active" : "revoked"},
                      {"comment", k.comment},
                      {"created_at", format_utc(k.created_at)}};
  if (k.revoked_at) j["revoked_at"] = format_utc(*k.revoked_at);
  j["attested"] = !k.aaguid.empty() || !k.attestation.empty();
  if (!k.aaguid.empty()) j["aaguid"] = k.aaguid;
  if (!k.attestation.empty()) {
    auto a = nlohmann::json::parse(k.attestation, nullptr, false);
    if (a.is_object()) j["attestation_subject"] = a.value("subject", "");
  }
  return j;
}

nlohmann::json credential_json(const authn::StoredCredential& c) {
  nlohmann::json j = {{"id", c.id},
                      {"state", c.state},
                      {"aaguid", c.credential.attestation.aaguid},
                      {"attestation", c.credential.attestation.format},
                      {"alg", c.credential.cose_alg == -8   ? "EdDSA"
                              : c.credential.cose_alg == -7 ? "ES256"
                                                            : "?"},
                      {"sign_count", c.credential.sign_count},
                      {"created_at", format_utc(c.created_at)}};
  if (!c.state_reason.empty()) j["state_reason"] = c.state_reason;
  if (c.last_used_at) j["last_used_at"] = format_utc(*c.last_used_at);
  if (c.confirmed_at) {
    j["confirmed_at"] = format_utc(*c.confirmed_at);
    j["confirmed_by"] = c.confirmed_by;
  }
  if (c.state == "pending") j["confirm_code_expires_at"] = format_utc(c.confirm_code_expires_at);
  return j;
}

// Asks a running bastiond to end the live sessions a change has cut off.
void end_live_sessions(Services& s, const monitor::Control& request) {
  auto r = control_call(s.config().control_socket, request, 3000);
  if (!r) {
    std::fprintf(stderr, "bastionctl: note: bastiond not reachable (%s): no live sessions were ended\n",
                 r.error().message.c_str());
  } else if (!r->ok) {
    std::fprintf(stderr, "bastionctl: note: bastiond did not end live sessions: %s\n", r->error.c_str());
  }
}

Status add_user(Services& s, const policy::Person& a) {
  policy::Person p = a;
  p.state = policy::PersonState::kPending;
  if (auto st = s.policy().add_person(p); !st) return st;
  ctl_audit(s, "user.add", "", person_json(p));
  std::cout << "added user " << p.name << " (pending until a key is enrolled: bastionctl key add " << p.name
            << " KEY.pub)\n";
  return {};
}

void print_people(const std::vector<policy::Person>& people) {
  std::printf("%-20s %-9s %s\n", "NAME", "STATE", "ROLES");
  for (const auto& person : people) {
    std::printf("%-20s %-9s %s\n", person.name.c_str(), policy::to_string(person.state).c_str(),
                (person.roles.empty() ? std::string("-") : join(person.roles, ",")).c_str());
  }
}

Status list_users(Services& s, const JsonFlag& a) {
  return ctl_print_rows(s.policy().list_people(), a.json, person_json, print_people);
}

struct NameArgs {
  std::string name;
  bool json = false;
};

// `user show --json`: the person with their SSH keys, security keys and last step-up.
nlohmann::json person_details(Services& s, const policy::Person& p) {
  nlohmann::json j = person_json(p);
  j["keys"] = nlohmann::json::array();
  if (auto keys = s.keys().list(p.name); keys) {
    for (const auto& k : *keys) j["keys"].push_back(key_json(k));
  }
  j["webauthn_credentials"] = nlohmann::json::array();
  if (auto creds = s.mfa().credentials(p.name); creds) {
    for (const auto& c : *creds) j["webauthn_credentials"].push_back(credential_json(c));
  }
  auto last = s.mfa().last_step_up(p.name);
  j["last_step_up"] = last && *last ? format_utc(**last) : "";
  return j;
}

void print_security_keys(const nlohmann::json& j, const std::string& name) {
  std::cout << "security keys (WebAuthn):\n";
  for (const auto& c : j["webauthn_credentials"]) {
    const std::string state = c["state"].get<std::string>();
    const std::string id = c["id"].get<std::string>();
    // A pending key shows its full id: the administrator confirms it by that.
    std::cout << "  " << (state == "pending" ? id : id.substr(0, 16) + "...") << "  " << c["alg"].get<std::string>()
              << "  " << (state == "pending" ? "PENDING CONFIRMATION" : state) << "  "
              << c["attestation"].get<std::string>() << " " << c["aaguid"].get<std::string>() << "  counter "
              << c["sign_count"].get<uint32_t>()
              << (c.contains("state_reason") ? "  (" + c["state_reason"].get<std::string>() + ")" : "") << "\n";
    if (state == "pending") {
      std::cout << "      registered " << c["created_at"].get<std::string>() << " from an invitation; the person's "
                << "code works until " << c["confirm_code_expires_at"].get<std::string>() << "\n"
                << "      confirm: " << admin_key_command("confirm-key", name, id) << "\n"
                << "      reject:  " << admin_key_command("reject-key", name, id) << "\n";
    }
  }
}

void print_person(const nlohmann::json& j, const policy::Person& p) {
  std::cout << "name:        " << j["name"].get<std::string>() << "\n"
            << "state:       " << j["state"].get<std::string>() << "\n"
            << "roles:       " << roles_with_source(p) << "\n"
            << "department:  " << p.department << "\n"
            << "email:       " << p.email << "\n"
            << "employee id: " << p.employee_id << "\n"
            << "service:     " << (p.service_account ? "yes" : "no") << "\n"
            << "keys:\n";
  for (const auto& k : j["keys"]) {
    std::cout << "  " << k["fingerprint"].get<std::string>() << "  " << k["type"].get<std::string>() << "  "
              << k["state"].get<std::string>()
              << (k["attested"].get<bool>() ? "  attested " + k.value("aaguid", std::string()) : "  not attested")
              << "\n";
  }
  print_security_keys(j, p.name);
  std::string last_s = j["last_step_up"].get<std::string>();
  std::cout << "last step-up: " << (last_s.empty() ? "never" : last_s) << "\n";
}

Status show_user(Services& s, const NameArgs& a) {
  auto found = s.policy().find_person(a.name);
  if (!found) return found.error();
  if (!*found) return make_error("no such user: " + a.name);
  nlohmann::json j = person_details(s, **found);
  ctl_print(a.json, j, [&] { print_person(j, **found); });
  return {};
}

struct StateArgs {
  std::string name;
  bool enable = false;
};

// `user enable` / `user disable`.
Status set_state(Services& s, const StateArgs& a) {
  auto p = s.policy().find_person(a.name);
  if (!p) return p.error();
  if (!*p) return make_error("no such user: " + a.name);
  if ((*p)->state == policy::PersonState::kLeft) {
    return make_error("user " + a.name + " has left; their state is owned by the HR feed");
  }
  auto state = a.enable ? policy::PersonState::kActive : policy::PersonState::kDisabled;
  if (state == policy::PersonState::kActive) {
    auto keys = s.keys().list(a.name);
    bool any = false;
    if (keys) {
      for (const auto& k : *keys) any = any || k.active;
    }
    if (!any) state = policy::PersonState::kPending;  // no access until a key is enrolled
  }
  if (auto st = s.policy().set_person_state(a.name, state); !st) return st;
  ctl_audit(s, "user.state", "", {{"user", a.name}, {"state", policy::to_string(state)}});
  std::cout << a.name << " is now " << policy::to_string(state) << "\n";
  if (state == policy::PersonState::kDisabled) {
    end_live_sessions(s, {monitor::Control::kEndUser, a.name, "access revoked: account " + a.name + " is disabled"});
  }
  return {};
}

struct RoleArgs {
  std::string name, role;
  bool add = false;
};

// `user role add` / `user role remove`.
Status change_role(Services& s, const RoleArgs& a) {
  auto before = s.policy().find_person(a.name);
  bool from_hr = before && *before &&
                 std::find((*before)->hr_roles.begin(), (*before)->hr_roles.end(), a.role) != (*before)->hr_roles.end();
  Status st = a.add ? s.policy().assign_role(a.name, a.role) : s.policy().remove_role(a.name, a.role);
  if (!st) return st;
  ctl_audit(s, a.add ? "user.role.add" : "user.role.remove", "",
            {{"user", a.name}, {"role", a.role}, {"from_hr", from_hr}});
  if (a.add) {
    std::cout << a.name << " now has role " << a.role << "\n";
    return {};
  }
  std::cout << "took role " << a.role << " from " << a.name << "\n";
  if (from_hr) {
    std::cout << "note: HR gave this role (department); the next HR event for " << a.name << " may give it back\n";
  }
  // SECURITY: what the role allowed ends now, not at the next login.
  end_live_sessions(s, {monitor::Control::kRecheck, a.name, ""});
  return {};
}

struct SetArgs {
  std::string name;
  std::optional<std::string> email, employee_id;
};

Status set_details(Services& s, const SetArgs& a) {
  if (!a.email && !a.employee_id) return make_error("nothing to change: give --email and/or --employee-id");
  if (auto st = s.policy().set_person_details(a.name, a.email, a.employee_id); !st) return st;
  nlohmann::json d = {{"user", a.name}};
  if (a.email) d["email"] = *a.email;
  if (a.employee_id) d["employee_id"] = *a.employee_id;
  ctl_audit(s, "user.set", "", d);
  std::cout << "updated " << a.name << "\n";
  return {};
}

void register_user_add(CLI::App* user, CtlGlobals& g) {
  auto* add = user->add_subcommand("add", "add a person (state pending until a key is enrolled)");
  auto p = std::make_shared<policy::Person>();
  add->add_option("NAME", p->name, "user name")->required();
  add->add_option("--role", p->roles, "role to grant (repeatable)");
  add->add_option("--email", p->email, "e-mail address");
  add->add_option("--employee-id", p->employee_id, "HR employee id (for the HR feed)");
  add->add_flag("--service-account", p->service_account, "a non-human account that may use plain (non-FIDO) keys");
  ctl_command(add, g, p, add_user);
}

void register_user_changes(CLI::App* user, CtlGlobals& g) {
  for (const char* verb : {"disable", "enable"}) {
    auto* cmd = user->add_subcommand(verb, std::string(verb) + " a person");
    auto a = std::make_shared<StateArgs>();
    a->enable = std::string(verb) == "enable";
    cmd->add_option("NAME", a->name)->required();
    ctl_command(cmd, g, a, set_state);
  }
  auto* role = user->add_subcommand("role", "give a person a role, or take one away");
  role->require_subcommand(1);
  for (const char* verb : {"add", "remove"}) {
    auto a = std::make_shared<RoleArgs>();
    a->add = std::string(verb) == "add";
    auto* cmd = role->add_subcommand(verb, a->add ? "give NAME the role ROLE (an administrator's assignment; HR's "
                                                    "come from the feed)"
                                                  : "take ROLE away from NAME (live sessions it allowed end now)");
    cmd->add_option("NAME", a->name, "user name")->required();
    cmd->add_option("ROLE", a->role, "role name")->required();
    ctl_command(cmd, g, a, change_role);
  }
  auto* set = user->add_subcommand("set", "change a person's e-mail address or HR employee id");
  auto a = std::make_shared<SetArgs>();
  set->add_option("NAME", a->name, "user name")->required();
  set->add_option("--email", a->email, "e-mail address (\"\" clears it)");
  set->add_option("--employee-id", a->employee_id, "HR employee id, as the HR feed names the person (\"\" clears it)");
  ctl_command(set, g, a, set_details);
}

void register_user(CLI::App& app, CtlGlobals& g) {
  auto* user = app.add_subcommand("user", "people and service accounts");
  user->require_subcommand(1);
  register_user_add(user, g);
  auto* list = user->add_subcommand("list", "list people");
  ctl_command(list, g, add_json_flag(list), list_users);
  auto* show = user->add_subcommand("show", "show one person with their keys");
  auto a = std::make_shared<NameArgs>();
  show->add_option("NAME", a->name)->required();
  show->add_flag("--json", a->json, "machine-readable output");
  ctl_command(show, g, a, show_user);
  register_user_invite(user, g);
  register_user_key_confirmation(user, g);
  register_user_changes(user, g);
}

void print_keys(const std::vector<authn::KeyRecord>& keys) {
  std::printf("%-52s %-12s %-8s %s\n", "FINGERPRINT", "USER", "STATE", "TYPE");
  for (const auto& k : keys) {
    std::printf("%-52s %-12s %-8s %s\n", k.fingerprint.c_str(), k.user.c_str(), k.active ? "active" : "revoked",
                k.type.c_str());
  }
}

struct KeyListArgs {
  std::string user;
  bool json = false;
};

Status list_keys(Services& s, const KeyListArgs& a) {
  return ctl_print_rows(s.keys().list(a.user), a.json, key_json, print_keys);
}

struct FingerprintArgs {
  std::string fingerprint;
};

Status revoke_key(Services& s, const FingerprintArgs& a) {
  auto rec = s.keys().revoke(a.fingerprint);
  if (!rec) return rec.error();
  ctl_audit(s, "key.revoke", "", key_json(*rec));
  std::cout << "revoked " << a.fingerprint << " (" << rec->user << ")\n";
  end_live_sessions(
      s, {monitor::Control::kEndKey, a.fingerprint, "access revoked: key " + a.fingerprint + " was revoked"});
  return {};
}

void register_key_add(CLI::App* key, CtlGlobals& g) {
  auto* add = key->add_subcommand("add", "enrol a public key for a person");
  auto a = std::make_shared<KeyAddArgs>();
  add->add_option("USER", a->user)->required();
  add->add_option("PUBKEY_FILE", a->file, "OpenSSH public key (sk-ssh-ed25519 / sk-ecdsa-sha2-nistp256)")->required();
  add->add_option("--attestation", a->attestation,
                  "the key's attestation (ssh-keygen -O write-attestation=FILE), made with a challenge from "
                  "bastionctl key challenge; required for people unless require_attestation = false");
  add->add_option("--challenge", a->challenge, "the challenge file the key was made with (default: try the open ones)");
  add->add_flag("--no-attestation", a->no_attestation, "service accounts only: enrol without an attestation");
  ctl_command(add, g, a, enroll_key, check_key_add);
}

void register_key(CLI::App& app, CtlGlobals& g) {
  auto* key = app.add_subcommand("key", "SSH keys of people");
  key->require_subcommand(1);
  register_key_add(key, g);
  register_key_challenge(key, g);

  auto* list = key->add_subcommand("list", "list enrolled keys");
  auto la = std::make_shared<KeyListArgs>();
  list->add_option("--user", la->user, "only this person's keys");
  list->add_flag("--json", la->json, "machine-readable output");
  ctl_command(list, g, la, list_keys);

  auto* revoke = key->add_subcommand("revoke", "revoke a key (live sessions that logged in with it end at once)");
  auto ra = std::make_shared<FingerprintArgs>();
  revoke->add_option("FINGERPRINT", ra->fingerprint, "SHA256:... as shown by `key list`")->required();
  ctl_command(revoke, g, ra, revoke_key);
}

}  // namespace

void register_people_commands(CLI::App& app, CtlGlobals& g) {
  register_user(app, g);
  register_key(app, g);
}

}  // namespace bastion::gateway
