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
  nlohmann::json j = {{"fingerprint", k.fingerprint}, {"user", k.user},
                      {"type", k.type},               {"state", k.active ? "active" : "revoked"},
                      {"comment", k.comment},         {"created_at", format_utc(k.created_at)}};
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
                      {"alg", c.credential.cose_alg == -8 ? "EdDSA" : c.credential.cose_alg == -7 ? "ES256" : "?"},
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

void set_state(CtlGlobals& g, const std::string& name, policy::PersonState state) {
  auto s = ctl_open(g);
  if (!s) return;
  auto p = s->policy().find_person(name);
  if (!p) {
    g.exit_code = ctl_fail(p.error().message);
    return;
  }
  if (!*p) {
    g.exit_code = ctl_fail("no such user: " + name);
    return;
  }
  if ((*p)->state == policy::PersonState::kLeft) {
    g.exit_code = ctl_fail("user " + name + " has left; their state is owned by the HR feed");
    return;
  }
  if (state == policy::PersonState::kActive) {
    auto keys = s->keys().list(name);
    bool any = false;
    if (keys) {
      for (const auto& k : *keys) any = any || k.active;
    }
    if (!any) state = policy::PersonState::kPending;  // no access until a key is enrolled
  }
  if (auto st = s->policy().set_person_state(name, state); !st) {
    g.exit_code = ctl_fail(st.message());
    return;
  }
  ctl_audit(*s, "user.state", "", {{"user", name}, {"state", policy::to_string(state)}});
  std::cout << name << " is now " << policy::to_string(state) << "\n";
  if (state == policy::PersonState::kDisabled) {
    end_live_sessions(*s, {monitor::Control::kEndUser, name, "access revoked: account " + name + " is disabled"});
  }
}

void register_user(CLI::App& app, CtlGlobals& g) {
  auto* user = app.add_subcommand("user", "people and service accounts");
  user->require_subcommand(1);

  auto* add = user->add_subcommand("add", "add a person (state pending until a key is enrolled)");
  auto p = std::make_shared<policy::Person>();
  add->add_option("NAME", p->name, "user name")->required();
  add->add_option("--role", p->roles, "role to grant (repeatable)");
  add->add_option("--email", p->email, "e-mail address");
  add->add_option("--employee-id", p->employee_id, "HR employee id (for the HR feed)");
  add->add_flag("--service-account", p->service_account,
                "a non-human account that may use plain (non-FIDO) keys");
  add->callback([&g, p] {
    auto s = ctl_open(g);
    if (!s) return;
    p->state = policy::PersonState::kPending;
    if (auto st = s->policy().add_person(*p); !st) {
      g.exit_code = ctl_fail(st.message());
      return;
    }
    ctl_audit(*s, "user.add", "", person_json(*p));
    std::cout << "added user " << p->name << " (pending until a key is enrolled: bastionctl key add "
              << p->name << " KEY.pub)\n";
  });

  auto* list = user->add_subcommand("list", "list people");
  auto json = std::make_shared<bool>(false);
  list->add_flag("--json", *json, "machine-readable output");
  list->callback([&g, json] {
    ctl_list(
        g, *json, [](Services& s) { return s.policy().list_people(); }, person_json,
        [](const std::vector<policy::Person>& people) {
          std::printf("%-20s %-9s %s\n", "NAME", "STATE", "ROLES");
          for (const auto& person : people) {
            std::printf("%-20s %-9s %s\n", person.name.c_str(), policy::to_string(person.state).c_str(),
                        (person.roles.empty() ? std::string("-") : join(person.roles, ",")).c_str());
          }
        });
  });

  auto* show = user->add_subcommand("show", "show one person with their keys");
  auto name = std::make_shared<std::string>();
  auto sjson = std::make_shared<bool>(false);
  show->add_option("NAME", *name)->required();
  show->add_flag("--json", *sjson, "machine-readable output");
  show->callback([&g, name, sjson] {
    auto s = ctl_open(g);
    if (!s) return;
    auto found = s->policy().find_person(*name);
    if (!found || !*found) {
      g.exit_code = ctl_fail(found ? "no such user: " + *name : found.error().message);
      return;
    }
    nlohmann::json j = person_json(**found);
    j["keys"] = nlohmann::json::array();
    if (auto keys = s->keys().list(*name); keys) {
      for (const auto& k : *keys) j["keys"].push_back(key_json(k));
    }
    j["webauthn_credentials"] = nlohmann::json::array();
    if (auto creds = s->mfa().credentials(*name); creds) {
      for (const auto& c : *creds) j["webauthn_credentials"].push_back(credential_json(c));
    }
    auto last = s->mfa().last_step_up(*name);
    j["last_step_up"] = last && *last ? format_utc(**last) : "";
    if (*sjson) return print_json(j);
    std::cout << "name:        " << j["name"].get<std::string>() << "\n"
              << "state:       " << j["state"].get<std::string>() << "\n"
              << "roles:       " << roles_with_source(**found) << "\n"
              << "department:  " << (*found)->department << "\n"
              << "email:       " << (*found)->email << "\n"
              << "employee id: " << (*found)->employee_id << "\n"
              << "service:     " << ((*found)->service_account ? "yes" : "no") << "\n"
              << "keys:\n";
    for (const auto& k : j["keys"]) {
      std::cout << "  " << k["fingerprint"].get<std::string>() << "  " << k["type"].get<std::string>()
                << "  " << k["state"].get<std::string>()
                << (k["attested"].get<bool>() ? "  attested " + k.value("aaguid", std::string()) : "  not attested")
                << "\n";
    }
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
                  << "      confirm: " << admin_key_command("confirm-key", *name, id) << "\n"
                  << "      reject:  " << admin_key_command("reject-key", *name, id) << "\n";
      }
    }
    std::string last_s = j["last_step_up"].get<std::string>();
    std::cout << "last step-up: " << (last_s.empty() ? "never" : last_s) << "\n";
  });
  register_user_invite(user, g);
  register_user_key_confirmation(user, g);

  for (const char* verb : {"disable", "enable"}) {
    auto* cmd = user->add_subcommand(verb, std::string(verb) + " a person");
    auto n = std::make_shared<std::string>();
    cmd->add_option("NAME", *n)->required();
    bool enable = std::string(verb) == "enable";
    cmd->callback([&g, n, enable] {
      set_state(g, *n, enable ? policy::PersonState::kActive : policy::PersonState::kDisabled);
    });
  }

  auto* role = user->add_subcommand("role", "give a person a role, or take one away");
  role->require_subcommand(1);
  for (const char* verb : {"add", "remove"}) {
    const bool add_it = std::string(verb) == "add";
    auto* cmd = role->add_subcommand(verb, add_it ? "give NAME the role ROLE (an administrator's assignment; HR's "
                                                    "come from the feed)"
                                                  : "take ROLE away from NAME (live sessions it allowed end now)");
    auto n = std::make_shared<std::string>();
    auto r = std::make_shared<std::string>();
    cmd->add_option("NAME", *n, "user name")->required();
    cmd->add_option("ROLE", *r, "role name")->required();
    cmd->callback([&g, n, r, add_it] {
      auto s = ctl_open(g);
      if (!s) return;
      auto before = s->policy().find_person(*n);
      bool from_hr = before && *before &&
                     std::find((*before)->hr_roles.begin(), (*before)->hr_roles.end(), *r) != (*before)->hr_roles.end();
      Status st = add_it ? s->policy().assign_role(*n, *r) : s->policy().remove_role(*n, *r);
      if (!st) {
        g.exit_code = ctl_fail(st.message());
        return;
      }
      ctl_audit(*s, add_it ? "user.role.add" : "user.role.remove", "",
                {{"user", *n}, {"role", *r}, {"from_hr", from_hr}});
      if (add_it) {
        std::cout << *n << " now has role " << *r << "\n";
        return;
      }
      std::cout << "took role " << *r << " from " << *n << "\n";
      if (from_hr) {
        std::cout << "note: HR gave this role (department); the next HR event for " << *n << " may give it back\n";
      }
      // SECURITY: what the role allowed ends now, not at the next login.
      end_live_sessions(*s, {monitor::Control::kRecheck, *n, ""});
    });
  }

  auto* set = user->add_subcommand("set", "change a person's e-mail address or HR employee id");
  auto sn = std::make_shared<std::string>();
  auto email = std::make_shared<std::optional<std::string>>();
  auto employee = std::make_shared<std::optional<std::string>>();
  set->add_option("NAME", *sn, "user name")->required();
  set->add_option("--email", *email, "e-mail address (\"\" clears it)");
  set->add_option("--employee-id", *employee, "HR employee id, as the HR feed names the person (\"\" clears it)");
  set->callback([&g, sn, email, employee] {
    if (!*email && !*employee) {
      g.exit_code = ctl_fail("nothing to change: give --email and/or --employee-id");
      return;
    }
    auto s = ctl_open(g);
    if (!s) return;
    if (auto st = s->policy().set_person_details(*sn, *email, *employee); !st) {
      g.exit_code = ctl_fail(st.message());
      return;
    }
    nlohmann::json d = {{"user", *sn}};
    if (*email) d["email"] = **email;
    if (*employee) d["employee_id"] = **employee;
    ctl_audit(*s, "user.set", "", d);
    std::cout << "updated " << *sn << "\n";
  });
}

void register_key(CLI::App& app, CtlGlobals& g) {
  auto* key = app.add_subcommand("key", "SSH keys of people");
  key->require_subcommand(1);

  auto* add = key->add_subcommand("add", "enrol a public key for a person");
  auto a = std::make_shared<KeyAddArgs>();
  add->add_option("USER", a->user)->required();
  add->add_option("PUBKEY_FILE", a->file, "OpenSSH public key (sk-ssh-ed25519 / sk-ecdsa-sha2-nistp256)")
      ->required();
  add->add_option("--attestation", a->attestation,
                  "the key's attestation (ssh-keygen -O write-attestation=FILE), made with a challenge from "
                  "bastionctl key challenge; required for people unless require_attestation = false");
  add->add_option("--challenge", a->challenge, "the challenge file the key was made with (default: try the open ones)");
  add->add_flag("--no-attestation", a->no_attestation, "service accounts only: enrol without an attestation");
  add->callback([&g, a] {
    auto s = ctl_open(g);
    if (!s) return;
    int rc = enroll_key(g, *s, *a);
    if (rc != 0) g.exit_code = rc;
  });
  register_key_challenge(key, g);

  auto* list = key->add_subcommand("list", "list enrolled keys");
  auto filter = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  list->add_option("--user", *filter, "only this person's keys");
  list->add_flag("--json", *json, "machine-readable output");
  list->callback([&g, filter, json] {
    ctl_list(
        g, *json, [&](Services& s) { return s.keys().list(*filter); }, key_json,
        [](const std::vector<authn::KeyRecord>& keys) {
          std::printf("%-52s %-12s %-8s %s\n", "FINGERPRINT", "USER", "STATE", "TYPE");
          for (const auto& k : keys) {
            std::printf("%-52s %-12s %-8s %s\n", k.fingerprint.c_str(), k.user.c_str(),
                        k.active ? "active" : "revoked", k.type.c_str());
          }
        });
  });

  auto* revoke = key->add_subcommand("revoke", "revoke a key (live sessions that logged in with it end at once)");
  auto fp = std::make_shared<std::string>();
  revoke->add_option("FINGERPRINT", *fp, "SHA256:... as shown by `key list`")->required();
  revoke->callback([&g, fp] {
    auto s = ctl_open(g);
    if (!s) return;
    auto rec = s->keys().revoke(*fp);
    if (!rec) {
      g.exit_code = ctl_fail(rec.error().message);
      return;
    }
    ctl_audit(*s, "key.revoke", "", key_json(*rec));
    std::cout << "revoked " << *fp << " (" << rec->user << ")\n";
    end_live_sessions(*s, {monitor::Control::kEndKey, *fp, "access revoked: key " + *fp + " was revoked"});
  });
}

}  // namespace

void register_people_commands(CLI::App& app, CtlGlobals& g) {
  register_user(app, g);
  register_key(app, g);
}

}  // namespace bastion::gateway
