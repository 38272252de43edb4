// bastionctl customer ..., elevate ..., access ...
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "gateway/app/access_explain.h"
#include "gateway/ctl/control_client.h"
#include "common/strings.h"
#include "gateway/ctl/ctl.h"
#include "policy/access.h"

namespace bastion::gateway {
namespace {

using policy::Elevation;

Actor admin_actor() { return {ctl_actor(), true, "", ""}; }

// Tells a running bastiond to re-check live grants now (and to send the
// notifications the change wrote). Without a running daemon there are no
// live sessions to end, so failure is only reported (`quiet`: not even that,
// when nothing needs ending: a denial, a new grant).
void notify_daemon(Services& s, bool quiet = false) {
  auto r = control_call(s.config().control_socket, {monitor::Control::kSweep, "", ""}, 3000);
  if (!r && !quiet) {
    std::fprintf(stderr, "bastionctl: note: bastiond not reachable (%s); it re-checks grants every second anyway\n",
                 r.error().message.c_str());
  }
}

struct CustomerArgs {
  std::string name;
};

Status add_customer(Services& s, const CustomerArgs& a) {
  if (auto st = s.policy().add_customer(a.name); !st) return st;
  ctl_audit(s, "customer.add", "", {{"customer", a.name}});
  std::cout << "added customer " << a.name << "\n";
  return {};
}

void print_customers(const std::vector<policy::Customer>& rows) {
  std::printf("%-20s %s\n", "CUSTOMER", "APPROVERS");
  for (const auto& c : rows) {
    std::string a = join(c.approvers, ",");
    std::printf("%-20s %s\n", c.name.c_str(), a.empty() ? "(none: nobody can consent)" : a.c_str());
  }
}

nlohmann::json customer_json(const policy::Customer& c) { return {{"name", c.name}, {"approvers", c.approvers}}; }

Status list_customers(Services& s, const JsonFlag& a) {
  return ctl_print_rows(s.policy().list_customers(), a.json, customer_json, print_customers);
}

struct ApproverArgs {
  std::string customer, person;
  bool adding = false;
};

// SECURITY: consent from someone who may no longer give it does not open
// grants nobody has used yet (or finish pending requests).
Status withdraw_consents(Services& s, const ApproverArgs& a) {
  auto withdrawn = s.elevation().withdraw_consents(
      a.person, grant_used(s), "consent withdrawn: " + a.person + " is no longer an approver for " + a.customer,
      a.customer);
  if (!withdrawn) {
    return withdrawn.error().prefixed("the approver was removed, but their consents could not be withdrawn: ");
  }
  for (const auto& e : *withdrawn) {
    std::cout << "withdrew " << a.person << "'s consent to " << e.id
              << (e.grant_id.empty() ? "" : " (grant " + e.grant_id + ")") << "\n";
  }
  if (!withdrawn->empty()) notify_daemon(s);
  return {};
}

// `customer approver add` / `customer approver remove`.
Status change_approver(Services& s, const ApproverArgs& a) {
  auto st = a.adding ? s.policy().add_approver(a.customer, a.person) : s.policy().remove_approver(a.customer, a.person);
  if (!st) return st;
  ctl_audit(s, a.adding ? "customer.approver.add" : "customer.approver.remove", "",
            {{"customer", a.customer}, {"user", a.person}});
  std::cout << (a.adding ? "added " : "removed ") << a.person << (a.adding ? " as" : " as an") << " approver for "
            << a.customer << "\n";
  if (a.adding) return {};
  return withdraw_consents(s, a);
}

void register_customer(CLI::App& app, CtlGlobals& g) {
  auto* customer = app.add_subcommand("customer", "customers: who owns targets, and who may consent for them");
  customer->require_subcommand(1);
  auto* add = customer->add_subcommand("add", "add a customer");
  auto ca = std::make_shared<CustomerArgs>();
  add->add_option("NAME", ca->name)->required();
  ctl_command(add, g, ca, add_customer);
  auto* list = customer->add_subcommand("list", "list customers and their approvers");
  ctl_command(list, g, add_json_flag(list), list_customers);
  auto* approver = customer->add_subcommand("approver", "people who may consent to elevation for a customer");
  approver->require_subcommand(1);
  for (const char* verb : {"add", "remove"}) {
    auto a = std::make_shared<ApproverArgs>();
    a->adding = std::string(verb) == "add";
    auto* cmd = approver->add_subcommand(
        verb, a->adding ? "let a person consent for the customer" : "take a person's consent right away");
    cmd->add_option("CUSTOMER", a->customer)->required();
    cmd->add_option("USER", a->person)->required();
    ctl_command(cmd, g, a, change_approver);
  }
}

void print_elevations(const std::vector<Elevation>& rows, Micros now) {
  std::printf("%-13s %-13s %-10s %-24s %-9s %-27s %s\n", "REQUEST", "GRANT", "USER", "LOGIN@TARGET", "STATE", "ENDS",
              "REASON");
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

// `elevate list --json`: each request or grant with the sessions its grant opened.
void print_elevations_json(Services& s, const std::vector<Elevation>& rows, Micros now) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& e : rows) {
    auto j = elevation_json(e, now);
    if (!e.grant_id.empty()) {
      recorder::SessionFilter f;
      f.grant_id = e.grant_id;
      j["sessions"] = nlohmann::json::array();
      if (auto sess = s.sessions().list(f); sess) {
        for (const auto& x : *sess) j["sessions"].push_back(x.id);
      }
    }
    arr.push_back(std::move(j));
  }
  print_json(arr);
}

struct ElevationListArgs {
  std::string state, user;
  bool break_glass = false, json = false;
};

Status list_elevations(Services& s, const ElevationListArgs& a) {
  auto rows = s.policy().list_elevations(a.user, false);
  if (!rows) return rows.error();
  Micros now = s.clock().now();
  std::vector<Elevation> shown;
  for (auto& e : *rows) {
    if (!a.state.empty() && policy::to_string(e.state_at(now)) != a.state) continue;
    if (a.break_glass && !e.break_glass) continue;
    shown.push_back(std::move(e));
  }
  if (a.json) {
    print_elevations_json(s, shown, now);
  } else {
    print_elevations(shown, now);
  }
  return {};
}

struct DecisionArgs {
  std::string id, reason;
};

Status revoke_elevation(Services& s, const DecisionArgs& a) {
  auto e = s.elevation().revoke(admin_actor(), a.id, a.reason);
  if (!e) return e.error();
  notify_daemon(s);
  std::cout << "revoked " << (e->grant_id.empty() ? e->id : e->grant_id) << " (" << e->destination() << " for "
            << e->user << ")\n";
  return {};
}

Status deny_elevation(Services& s, const DecisionArgs& a) {
  auto e = s.elevation().deny(admin_actor(), a.id, a.reason);
  if (!e) return e.error();
  notify_daemon(s, true);
  std::cout << "denied " << e->id << " (" << e->destination() << " for " << e->user << ")\n";
  return {};
}

struct BreakGlassArgs {
  std::string user, dest, duration, reason;
  Micros length = 0;  // --for, parsed
};

Status check_break_glass(BreakGlassArgs& a) {
  auto d = parse_duration(a.duration);
  if (!d) return d.error().prefixed("--for: ");
  a.length = *d;
  return {};
}

Status break_glass(Services& s, const BreakGlassArgs& a) {
  auto e = s.elevation().break_glass(admin_actor(), a.user, a.dest, a.length, a.reason);
  if (!e) return e.error();
  notify_daemon(s, true);
  std::cout << "BREAK-GLASS grant " << e->grant_id << " (request " << e->id << "): " << e->user << " may use "
            << e->destination() << " until " << format_utc_seconds(e->ends_at)
            << "\nthis is in the audit log as elevation.break-glass and in `elevate list --break-glass`\n";
  return {};
}

void register_elevate_decisions(CLI::App* elevate, CtlGlobals& g) {
  auto* revoke = elevate->add_subcommand("revoke", "end a grant (its live sessions end at once) or withdraw a request");
  auto ra = std::make_shared<DecisionArgs>();
  revoke->add_option("ID", ra->id, "request id (REQ-...) or grant id (GRT-...)")->required();
  revoke->add_option("--reason", ra->reason, "why (the person sees it)")->required();
  ctl_command(revoke, g, ra, revoke_elevation);

  auto* deny = elevate->add_subcommand("deny", "refuse a pending request (the requester sees the reason)");
  auto da = std::make_shared<DecisionArgs>();
  deny->add_option("ID", da->id, "request id (REQ-...)")->required();
  deny->add_option("--reason", da->reason, "why (the requester sees it)")->required();
  ctl_command(deny, g, da, deny_elevation);

  auto* bg = elevate->add_subcommand("break-glass", "emergency grant without customer consent (audited as such)");
  auto ba = std::make_shared<BreakGlassArgs>();
  bg->add_option("USER", ba->user)->required();
  bg->add_option("LOGIN@TARGET", ba->dest)->required();
  bg->add_option("--for", ba->duration, "how long (at most [elevation] break_glass_max, default 30m)")->required();
  bg->add_option("--reason", ba->reason, "why consent could not be asked (incident reference)")->required();
  ctl_command(bg, g, ba, break_glass, check_break_glass);
}

void register_elevate(CLI::App& app, CtlGlobals& g) {
  auto* elevate = app.add_subcommand("elevate", "elevation requests and grants (customer-consented access)");
  elevate->require_subcommand(1);
  auto* list = elevate->add_subcommand("list", "list requests and grants, newest first");
  auto la = std::make_shared<ElevationListArgs>();
  list->add_option("--state", la->state, "only this state")
      ->check(CLI::IsMember({"pending", "approved", "denied", "expired", "revoked"}));
  list->add_option("--user", la->user, "only this person's");
  list->add_flag("--break-glass", la->break_glass, "only break-glass grants (the emergency report)");
  list->add_flag("--json", la->json,
                 "JSON: id, grant_id, user, target, login, state, reason, starts_at, ends_at, approved_by, ...");
  ctl_command(list, g, la, list_elevations);
  register_elevate_decisions(elevate, g);
}

struct CheckArgs {
  std::string user, dest;
  bool json = false;
  std::string login, target;  // dest, split
};

Status check_access_args(CheckArgs& a) {
  if (!split_destination(a.dest, a.login, a.target)) {
    return make_error("expected LOGIN@TARGET, got '" + a.dest + "'");
  }
  return {};
}

// "2026-12-04T10:00:00Z" from the JSON's microsecond time.
std::string until_text(const std::string& t) {
  auto parsed = parse_utc(t);
  return parsed ? format_utc_seconds(*parsed) : t;
}

void print_decision(const nlohmann::json& j) {
  auto str = [&](const char* k) { return j.value(k, std::string()); };
  const bool allow = j.value("allow", false);
  std::cout << (allow ? "allow: " : "deny: ") << str("reason") << "\n";
  if (allow && str("grant_id").empty()) std::cout << "  decided by: standing role " << str("role") << "\n";
  if (allow && !str("grant_id").empty()) {
    std::cout << "  decided by: " << (j.value("break_glass", false) ? "break-glass grant " : "grant ")
              << str("grant_id") << " (request " << str("request_id")
              << (str("role").empty() ? "" : ", eligible through role " + str("role")) << "), ends "
              << until_text(str("until")) << "\n";
  }
  if (!allow && !str("eligible_role").empty()) {
    std::cout << "  eligible: role " << str("eligible_role") << " lets " << str("user") << " request " << str("login")
              << "@" << str("target") << " with the consent of customer " << str("customer") << "\n";
  }
}

// `access check`: exit 0 when the access would be allowed, 1 when denied.
Status check_access(Services& s, const CheckArgs& a) {
  auto j = explain_access(s, a.user, a.dest);
  if (!j) return j.error();
  ctl_print(a.json, *j, [&] { print_decision(*j); });
  return (*j)["allow"].get<bool>() ? Status{} : ctl_explained();
}

void print_who_can(const nlohmann::json& rows) {
  std::printf("%-12s %-10s %-12s %s\n", "PERSON", "LOGIN", "HOW", "DETAIL");
  for (const auto& r : rows) {
    std::printf("%-12s %-10s %-12s %s\n", r["user"].get<std::string>().c_str(),
                r["login"].get<std::string>().empty() ? "-" : r["login"].get<std::string>().c_str(),
                r["how"].get<std::string>().c_str(), r["detail"].get<std::string>().c_str());
  }
  if (rows.empty()) std::printf("(nobody)\n");
}

struct WhoArgs {
  std::string target;
  bool json = false;
};

Status who_can(Services& s, const WhoArgs& a) {
  auto rows = gateway::who_can(s, a.target);
  if (!rows) return rows.error();
  ctl_print(a.json, *rows, [&] { print_who_can(*rows); });
  return {};
}

void register_access(CLI::App& app, CtlGlobals& g) {
  auto* access = app.add_subcommand("access", "explain access decisions");
  access->require_subcommand(1);
  auto* check = access->add_subcommand("check", "would USER get LOGIN@TARGET now? exactly which role or grant decides");
  auto ca = std::make_shared<CheckArgs>();
  check->add_option("USER", ca->user)->required();
  check->add_option("LOGIN@TARGET", ca->dest)->required();
  check->add_flag("--json", ca->json, "machine-readable output");
  ctl_command(check, g, ca, check_access, check_access_args);

  auto* who = access->add_subcommand("who-can", "every person who can reach TARGET now, or may request it, and how");
  auto wa = std::make_shared<WhoArgs>();
  who->add_option("TARGET", wa->target)->required();
  who->add_flag("--json", wa->json, "machine-readable output");
  ctl_command(who, g, wa, who_can);
}

}  // namespace

void register_elevation_commands(CLI::App& app, CtlGlobals& g) {
  register_customer(app, g);
  register_elevate(app, g);
  register_access(app, g);
}

}  // namespace bastion::gateway
