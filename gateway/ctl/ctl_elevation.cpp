// bastionctl customer ..., elevate ..., access ...
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "gateway/ctl/control_client.h"
#include "common/strings.h"
#include "gateway/ctl/ctl.h"
#include "policy/access.h"

namespace bastion::gateway {
namespace {

using policy::Elevation;

Actor admin_actor() { return {ctl_actor(), true, "", ""}; }

// Tells a running bastiond to re-check live grants now. Without a running
// daemon there are no live sessions to end, so failure is only reported.
void notify_daemon(Services& s) {
  auto r = control_call(s.config().control_socket, {monitor::Control::kSweep, "", ""}, 3000);
  if (!r) {
    std::fprintf(stderr, "bastionctl: note: bastiond not reachable (%s); it re-checks grants every second anyway\n",
                 r.error().message.c_str());
  }
}

void register_customer(CLI::App& app, CtlGlobals& g) {
  auto* customer = app.add_subcommand("customer", "customers: who owns targets, and who may consent for them");
  customer->require_subcommand(1);
  auto* add = customer->add_subcommand("add", "add a customer");
  auto name = std::make_shared<std::string>();
  add->add_option("NAME", *name)->required();
  add->callback([&g, name] {
    auto s = ctl_open(g);
    if (!s) return;
    if (auto st = s->policy().add_customer(*name); !st) {
      g.exit_code = ctl_fail(st.message());
      return;
    }
    ctl_audit(*s, "customer.add", "", {{"customer", *name}});
    std::cout << "added customer " << *name << "\n";
  });
  auto* list = customer->add_subcommand("list", "list customers and their approvers");
  auto json = std::make_shared<bool>(false);
  list->add_flag("--json", *json, "machine-readable output");
  list->callback([&g, json] {
    ctl_list(
        g, *json, [](Services& s) { return s.policy().list_customers(); },
        [](const policy::Customer& c) { return nlohmann::json{{"name", c.name}, {"approvers", c.approvers}}; },
        [](const std::vector<policy::Customer>& rows) {
          std::printf("%-20s %s\n", "CUSTOMER", "APPROVERS");
          for (const auto& c : rows) {
            std::string a = join(c.approvers, ",");
            std::printf("%-20s %s\n", c.name.c_str(), a.empty() ? "(none: nobody can consent)" : a.c_str());
          }
        });
  });
  auto* approver = customer->add_subcommand("approver", "people who may consent to elevation for a customer");
  approver->require_subcommand(1);
  for (const char* verb : {"add", "remove"}) {
    bool adding = std::string(verb) == "add";
    auto* cmd = approver->add_subcommand(verb, adding ? "let a person consent for the customer"
                                                      : "take a person's consent right away");
    struct Args {
      std::string customer, person;
    };
    auto a = std::make_shared<Args>();
    cmd->add_option("CUSTOMER", a->customer)->required();
    cmd->add_option("USER", a->person)->required();
    cmd->callback([&g, a, adding] {
      auto s = ctl_open(g);
      if (!s) return;
      auto st = adding ? s->policy().add_approver(a->customer, a->person)
                       : s->policy().remove_approver(a->customer, a->person);
      if (!st) {
        g.exit_code = ctl_fail(st.message());
        return;
      }
      ctl_audit(*s, adding ? "customer.approver.add" : "customer.approver.remove", "",
                {{"customer", a->customer}, {"user", a->person}});
      std::cout << (adding ? "added " : "removed ") << a->person << (adding ? " as" : " as an")
                << " approver for " << a->customer << "\n";
      if (adding) return;
      // SECURITY: consent from someone who may no longer give it does not
      // open grants nobody has used yet (or finish pending requests).
      auto withdrawn = s->elevation().withdraw_consents(
          a->person, grant_used(*s), "consent withdrawn: " + a->person + " is no longer an approver for " + a->customer,
          a->customer);
      if (!withdrawn) {
        g.exit_code = ctl_fail("the approver was removed, but their consents could not be withdrawn: " +
                               withdrawn.error().message);
        return;
      }
      for (const auto& e : *withdrawn) {
        std::cout << "withdrew " << a->person << "'s consent to " << e.id
                  << (e.grant_id.empty() ? "" : " (grant " + e.grant_id + ")") << "\n";
      }
      if (!withdrawn->empty()) notify_daemon(*s);
    });
  }
}

void print_elevations(const std::vector<Elevation>& rows, Micros now) {
  std::printf("%-13s %-13s %-10s %-24s %-9s %-27s %s\n", "REQUEST", "GRANT", "USER", "LOGIN@TARGET", "STATE",
              "ENDS", "REASON");
  for (const auto& e : rows) {
    std::string state = policy::to_string(e.state_at(now));
    if (e.break_glass) state += "!";
    std::printf("%-13s %-13s %-10s %-24s %-9s %-27s %s\n", e.id.c_str(), e.grant_id.empty() ? "-" : e.grant_id.c_str(),
                e.user.c_str(), e.destination().c_str(), state.c_str(),
                e.ends_at ? format_utc_seconds(e.ends_at).c_str() : "-", e.reason.c_str());
  }
  bool any_bg = std::any_of(rows.begin(), rows.end(), [](const Elevation& e) { return e.break_glass; });
  if (any_bg) std::printf("(! = break-glass: granted by an administrator without customer consent)\n");
}

void register_elevate(CLI::App& app, CtlGlobals& g) {
  auto* elevate = app.add_subcommand("elevate", "elevation requests and grants (customer-consented access)");
  elevate->require_subcommand(1);

  auto* list = elevate->add_subcommand("list", "list requests and grants, newest first");
  struct ListArgs {
    std::string state, user;
    bool break_glass = false, json = false;
  };
  auto la = std::make_shared<ListArgs>();
  list->add_option("--state", la->state, "only this state")
      ->check(CLI::IsMember({"pending", "approved", "denied", "expired", "revoked"}));
  list->add_option("--user", la->user, "only this person's");
  list->add_flag("--break-glass", la->break_glass, "only break-glass grants (the emergency report)");
  list->add_flag("--json", la->json,
                 "JSON: id, grant_id, user, target, login, state, reason, starts_at, ends_at, approved_by, ...");
  list->callback([&g, la] {
    auto s = ctl_open(g);
    if (!s) return;
    auto rows = s->policy().list_elevations(la->user, false);
    if (!rows) {
      g.exit_code = ctl_fail(rows.error().message);
      return;
    }
    Micros now = s->clock().now();
    std::vector<Elevation> shown;
    for (auto& e : *rows) {
      if (!la->state.empty() && policy::to_string(e.state_at(now)) != la->state) continue;
      if (la->break_glass && !e.break_glass) continue;
      shown.push_back(std::move(e));
    }
    if (!la->json) return print_elevations(shown, now);
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& e : shown) {
      auto j = elevation_json(e, now);
      if (!e.grant_id.empty()) {
        recorder::SessionFilter f;
        f.grant_id = e.grant_id;
        j["sessions"] = nlohmann::json::array();
        if (auto sess = s->sessions().list(f); sess) {
          for (const auto& x : *sess) j["sessions"].push_back(x.id);
        }
      }
      arr.push_back(std::move(j));
    }
    print_json(arr);
  });

  auto* revoke = elevate->add_subcommand("revoke", "end a grant (its live sessions end at once) or withdraw a request");
  struct RevokeArgs {
    std::string id, reason;
  };
  auto ra = std::make_shared<RevokeArgs>();
  revoke->add_option("ID", ra->id, "request id (REQ-...) or grant id (GRT-...)")->required();
  revoke->add_option("--reason", ra->reason, "why (the person sees it)")->required();
  revoke->callback([&g, ra] {
    auto s = ctl_open(g);
    if (!s) return;
    auto e = s->elevation().revoke(admin_actor(), ra->id, ra->reason);
    if (!e) {
      g.exit_code = ctl_fail(e.error().message);
      return;
    }
    notify_daemon(*s);
    std::cout << "revoked " << (e->grant_id.empty() ? e->id : e->grant_id) << " (" << e->destination() << " for "
              << e->user << ")\n";
  });

  auto* deny = elevate->add_subcommand("deny", "refuse a pending request (the requester sees the reason)");
  auto da = std::make_shared<RevokeArgs>();
  deny->add_option("ID", da->id, "request id (REQ-...)")->required();
  deny->add_option("--reason", da->reason, "why (the requester sees it)")->required();
  deny->callback([&g, da] {
    auto s = ctl_open(g);
    if (!s) return;
    auto e = s->elevation().deny(admin_actor(), da->id, da->reason);
    if (!e) {
      g.exit_code = ctl_fail(e.error().message);
      return;
    }
    std::cout << "denied " << e->id << " (" << e->destination() << " for " << e->user << ")\n";
  });

  auto* bg = elevate->add_subcommand("break-glass", "emergency grant without customer consent (audited as such)");
  struct BgArgs {
    std::string user, dest, duration, reason;
  };
  auto ba = std::make_shared<BgArgs>();
  bg->add_option("USER", ba->user)->required();
  bg->add_option("LOGIN@TARGET", ba->dest)->required();
  bg->add_option("--for", ba->duration, "how long (at most [elevation] break_glass_max, default 30m)")->required();
  bg->add_option("--reason", ba->reason, "why consent could not be asked (incident reference)")->required();
  bg->callback([&g, ba] {
    auto d = parse_duration(ba->duration);
    if (!d) {
      g.exit_code = kExitUsage;
      ctl_fail("--for: " + d.error().message);
      return;
    }
    auto s = ctl_open(g);
    if (!s) return;
    auto e = s->elevation().break_glass(admin_actor(), ba->user, ba->dest, *d, ba->reason);
    if (!e) {
      g.exit_code = ctl_fail(e.error().message);
      return;
    }
    std::cout << "BREAK-GLASS grant " << e->grant_id << " (request " << e->id << "): " << e->user << " may use "
              << e->destination() << " until " << format_utc_seconds(e->ends_at)
              << "\nthis is in the audit log as elevation.break-glass and in `elevate list --break-glass`\n";
  });
}

void register_access(CLI::App& app, CtlGlobals& g) {
  auto* access = app.add_subcommand("access", "explain access decisions");
  access->require_subcommand(1);

  auto* check = access->add_subcommand("check", "would USER get LOGIN@TARGET now? exactly which role or grant decides");
  struct CheckArgs {
    std::string user, dest;
    bool json = false;
  };
  auto ca = std::make_shared<CheckArgs>();
  check->add_option("USER", ca->user)->required();
  check->add_option("LOGIN@TARGET", ca->dest)->required();
  check->add_flag("--json", ca->json, "machine-readable output");
  check->callback([&g, ca] {
    std::string login, target;
    if (!split_destination(ca->dest, login, target)) {
      g.exit_code = kExitUsage;
      ctl_fail("expected LOGIN@TARGET, got '" + ca->dest + "'");
      return;
    }
    auto s = ctl_open(g);
    if (!s) return;
    Micros now = s->clock().now();
    auto in = policy::decide_access(s->policy(), ca->user, target, login, now);
    if (!in) {
      g.exit_code = ctl_fail(in.error().message);
      return;
    }
    if (!in->person) {
      g.exit_code = ctl_fail("no such user: " + ca->user);
      return;
    }
    const policy::Decision& d = in->decision;
    std::string eligible;
    if (in->target) {
      if (auto r = policy::eligible_role(in->roles, *in->target, login)) eligible = r->name;
    }
    nlohmann::json j = {{"user", ca->user}, {"target", target},       {"login", login},
                        {"allow", d.allow}, {"reason", d.reason},     {"role", d.role},
                        {"grant_id", d.grant_id}, {"request_id", d.request_id},
                        {"break_glass", d.break_glass}, {"eligible_role", eligible}};
    if (d.not_after) j["until"] = format_utc(d.not_after);
    g.exit_code = d.allow ? kExitOk : kExitFailed;
    if (ca->json) return print_json(j);
    std::cout << (d.allow ? "allow: " : "deny: ") << d.reason << "\n";
    if (d.allow && d.grant_id.empty()) std::cout << "  decided by: standing role " << d.role << "\n";
    if (d.allow && !d.grant_id.empty()) {
      std::cout << "  decided by: " << (d.break_glass ? "break-glass grant " : "grant ") << d.grant_id
                << " (request " << d.request_id << (d.role.empty() ? "" : ", eligible through role " + d.role)
                << "), ends " << format_utc_seconds(d.not_after) << "\n";
    }
    if (!d.allow && !eligible.empty()) {
      std::cout << "  eligible: role " << eligible << " lets " << ca->user << " request " << ca->dest
                << " with the consent of customer " << in->target->customer << "\n";
    }
  });

  auto* who = access->add_subcommand("who-can", "every person who can reach TARGET now, or may request it, and how");
  struct WhoArgs {
    std::string target;
    bool json = false;
  };
  auto wa = std::make_shared<WhoArgs>();
  who->add_option("TARGET", wa->target)->required();
  who->add_flag("--json", wa->json, "machine-readable output");
  who->callback([&g, wa] {
    auto s = ctl_open(g);
    if (!s) return;
    auto target = s->policy().find_target(wa->target);
    auto people = s->policy().list_people();
    if (!target || !people) {
      g.exit_code = ctl_fail(!target ? target.error().message : people.error().message);
      return;
    }
    if (!*target) {
      g.exit_code = ctl_fail("no such target: " + wa->target);
      return;
    }
    Micros now = s->clock().now();
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& p : *people) {
      auto in = policy::decide_access(s->policy(), p.name, wa->target, "", now);
      if (!in) {
        g.exit_code = ctl_fail(in.error().message);
        return;
      }
      std::vector<std::string> logins = policy::logins_for(in->roles, **target);
      for (const auto& l : policy::requestable_logins(in->roles, **target)) {
        if (std::find(logins.begin(), logins.end(), l) == logins.end()) logins.push_back(l);
      }
      for (const auto& e : in->elevations) {
        if (e.target == wa->target && e.active_at(now) &&
            std::find(logins.begin(), logins.end(), e.login) == logins.end()) {
          logins.push_back(e.login);
        }
      }
      for (const auto& login : logins) {
        auto d = policy::decide_with(*in, wa->target, login, now);
        nlohmann::json row = {{"user", p.name}, {"state", policy::to_string(p.state)}, {"login", login}};
        if (d.allow) {
          row["how"] = d.grant_id.empty() ? "role" : (d.break_glass ? "break-glass" : "grant");
          row["detail"] = d.reason;
        } else if (auto r = policy::eligible_role(in->roles, **target, login);
                   r && p.state == policy::PersonState::kActive) {
          row["how"] = "may-request";
          row["detail"] = "role " + r->name + " (consent from customer " + (*target)->customer + ")";
        } else {
          continue;  // neither now nor by request (e.g. account not active)
        }
        rows.push_back(row);
      }
    }
    if (!(*target)->customer.empty()) {
      if (auto c = s->policy().find_customer((*target)->customer); c && *c) {
        for (const auto& a : (*c)->approvers) {
          rows.push_back({{"user", a}, {"state", ""}, {"login", ""}, {"how", "approver"},
                          {"detail", "may consent for customer " + (*target)->customer + " (no access of their own)"}});
        }
      }
    }
    if (wa->json) return print_json(rows);
    std::printf("%-12s %-10s %-12s %s\n", "PERSON", "LOGIN", "HOW", "DETAIL");
    for (const auto& r : rows) {
      std::printf("%-12s %-10s %-12s %s\n", r["user"].get<std::string>().c_str(),
                  r["login"].get<std::string>().empty() ? "-" : r["login"].get<std::string>().c_str(),
                  r["how"].get<std::string>().c_str(), r["detail"].get<std::string>().c_str());
    }
    if (rows.empty()) std::printf("(nobody)\n");
  });
}

}  // namespace

void register_elevation_commands(CLI::App& app, CtlGlobals& g) {
  register_customer(app, g);
  register_elevate(app, g);
  register_access(app, g);
}

}  // namespace bastion::gateway
