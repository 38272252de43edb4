// bastionctl scim token add | list | revoke; scim report
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <set>

#include "gateway/app/scim_service.h"
#include "gateway/ctl/ctl.h"

namespace bastion::gateway {
namespace {

struct TokenArgs {
  std::string name;
  bool json = false;
};

// `change` and its audit record (the administrator's action) commit together.
Status with_record(Services& s, const std::string& action, const std::string& reason, nlohmann::json details,
                   const std::function<Status()>& change) {
  return s.scim().write([&]() -> Status {
    if (auto changed = change(); !changed) return changed;
    recorder::AuditEvent ev{ctl_actor(), action, recorder::Outcome::kInfo, reason, "", "", "", "", std::move(details)};
    if (auto appended = s.audit().append(ev); !appended) return appended.error();
    return {};
  });
}

Status add_token(Services& s, const TokenArgs& a) {
  const std::string token = ScimService::new_token();
  policy::ScimClient c;
  c.name = a.name;
  c.token_sha256 = ScimService::token_hash(token);
  c.created_by = ctl_actor();
  c.created_at = s.clock().now();
  Status st = with_record(s, "scim.token.add", "SCIM client " + a.name + " may provision users",
                          {{"client", a.name}, {"token_sha256", c.token_sha256.substr(0, 12)}},
                          [&] { return s.scim().add_client(c); });
  if (!st) return st;
  if (a.json) {
    print_json({{"client", a.name}, {"token", token}});
    return {};
  }
  std::cout << "SCIM client " << a.name << " added. Its bearer token (shown once; only a hash is kept):\n\n  " << token
            << "\n\n";
  if (s.config().public_url.empty()) {
    std::cout << "SCIM is served on the web console's HTTPS port: set [web] public_url, then give the identity "
                 "provider PUBLIC_URL/scim/v2 and this token (HTTP header / bearer token).\n";
  } else {
    std::cout << "In the identity provider: SCIM base URL " << s.config().public_url
              << "/scim/v2, authentication: HTTP header / bearer token.\n";
  }
  return {};
}

nlohmann::json client_json(const policy::ScimClient& c) {
  nlohmann::json j = {{"client", c.name},
                      {"state", c.state},
                      {"created_at", format_utc(c.created_at)},
                      {"created_by", c.created_by},
                      {"token_sha256_prefix", c.token_sha256.substr(0, 12)}};
  if (c.last_used_at != 0) j["last_used_at"] = format_utc(c.last_used_at);
  if (c.revoked_at != 0) j["revoked_at"] = format_utc(c.revoked_at);
  return j;
}

Status list_tokens(Services& s, const JsonFlag& a) {
  return ctl_print_rows(s.scim().list_clients(), a.json, client_json, [](const std::vector<policy::ScimClient>& rows) {
    if (rows.empty()) std::printf("no SCIM clients (bastionctl scim token add NAME)\n");
    for (const auto& c : rows) {
      std::printf("%-20s %-8s created %s by %s  last used %s\n", c.name.c_str(), c.state.c_str(),
                  format_utc_seconds(c.created_at).c_str(), c.created_by.c_str(),
                  c.last_used_at != 0 ? format_utc_seconds(c.last_used_at).c_str() : "never");
    }
  });
}

Status revoke_token(Services& s, const TokenArgs& a) {
  Status st = with_record(s, "scim.token.revoke", "SCIM client " + a.name + " may no longer provision users",
                          {{"client", a.name}}, [&] { return s.scim().revoke_client(a.name, s.clock().now()); });
  if (!st) return st;
  std::cout << "revoked SCIM client " << a.name << ": its token is refused from now on\n";
  return {};
}

struct ReportArgs {
  int stale_days = 7;
  bool json = false;
};

// People the provider no longer speaks for: SCIM users not updated for
// `stale_days`, and people (not service accounts, not left) with no SCIM identity.
Status report(Services& s, const ReportArgs& a) {
  auto users = s.scim().list_users(0, 0);
  if (!users) return users.error();
  auto people = s.policy().list_people();
  if (!people) return people.error();
  const Micros cutoff = s.clock().now() - static_cast<Micros>(a.stale_days) * 86400 * kMicrosPerSecond;
  nlohmann::json stale = nlohmann::json::array(), unmanaged = nlohmann::json::array(), differ = nlohmann::json::array();
  std::map<std::string, const policy::Person*> by_name;
  for (const auto& p : *people) by_name[p.name] = &p;
  std::set<std::string> managed;
  for (const auto& u : *users) {
    managed.insert(u.person);
    // Deactivated at the provider, not left here: a leaver held by the circuit breaker (or discarded).
    auto it = by_name.find(u.person);
    if (policy::scim::active(u.resource) == false && it != by_name.end() &&
        it->second->state != policy::PersonState::kLeft) {
      differ.push_back({{"person", u.person},
                        {"userName", policy::scim::user_name(u.resource)},
                        {"state", policy::to_string(it->second->state)}});
    }
    if (u.updated_at < cutoff) {
      stale.push_back({{"person", u.person},
                       {"userName", policy::scim::user_name(u.resource)},
                       {"id", u.id},
                       {"client", u.client},
                       {"last_update", format_utc(u.updated_at)}});
    }
  }
  for (const auto& p : *people) {
    if (p.service_account || p.state == policy::PersonState::kLeft || managed.contains(p.name)) continue;
    unmanaged.push_back({{"person", p.name}, {"state", policy::to_string(p.state)}, {"employee_id", p.employee_id}});
  }
  nlohmann::json j = {{"scim_users", users->size()},
                      {"stale_days", a.stale_days},
                      {"stale", stale},
                      {"without_scim_identity", unmanaged},
                      {"inactive_at_provider_not_left", differ}};
  ctl_print(a.json, j, [&] {
    std::printf("%zu SCIM users\n", users->size());
    std::printf("not updated by the provider for %d days or more: %zu\n", a.stale_days, stale.size());
    for (const auto& x : stale) {
      std::printf("  %-20s %-32s last update %s (client %s)\n", x["person"].get<std::string>().c_str(),
                  x["userName"].get<std::string>().c_str(), x["last_update"].get<std::string>().c_str(),
                  x["client"].get<std::string>().c_str());
    }
    std::printf("inactive at the provider but not left here (see `bastionctl hr held`): %zu\n", differ.size());
    for (const auto& x : differ) {
      std::printf("  %-20s %-32s %s\n", x["person"].get<std::string>().c_str(),
                  x["userName"].get<std::string>().c_str(), x["state"].get<std::string>().c_str());
    }
    std::printf("people with no SCIM identity (made by hand or by the HR file feed): %zu\n", unmanaged.size());
    for (const auto& x : unmanaged) {
      std::printf("  %-20s %s\n", x["person"].get<std::string>().c_str(), x["state"].get<std::string>().c_str());
    }
  });
  return {};
}

}  // namespace

void register_scim_commands(CLI::App& app, CtlGlobals& g) {
  auto* scim = app.add_subcommand("scim", "SCIM 2.0 provisioning from an identity provider (PUBLIC_URL/scim/v2)");
  scim->require_subcommand(1);
  auto* token = scim->add_subcommand("token", "provisioning clients and their bearer tokens");
  token->require_subcommand(1);

  auto* add = token->add_subcommand("add", "add a client; prints its bearer token once");
  auto aa = std::make_shared<TokenArgs>();
  add->add_option("NAME", aa->name, "the client's name, e.g. okta")->required();
  add->add_flag("--json", aa->json, "machine-readable output");
  ctl_command(add, g, aa, add_token);

  auto* list = token->add_subcommand("list", "the clients, when each was last used");
  ctl_command(list, g, add_json_flag(list), list_tokens);

  auto* revoke = token->add_subcommand("revoke", "refuse a client's token from now on");
  auto ra = std::make_shared<TokenArgs>();
  revoke->add_option("NAME", ra->name)->required();
  ctl_command(revoke, g, ra, revoke_token);

  auto* rep =
      scim->add_subcommand("report", "people the provider has not updated lately, and people it does not manage");
  auto rp = std::make_shared<ReportArgs>();
  rep->add_option("--stale-days", rp->stale_days, "a SCIM user not updated for this many days is stale (default 7)")
      ->check(CLI::Range(1, 3650));
  rep->add_flag("--json", rp->json, "machine-readable output");
  ctl_command(rep, g, rp, report);
}

}  // namespace bastion::gateway
