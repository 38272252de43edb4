// bastionctl review report | sign-off: the periodic access review.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>

#include "common/ed25519_key.h"
#include "common/encoding.h"
#include "common/strings.h"
#include "gateway/ctl/ctl.h"
#include "policy/review.h"

namespace bastion::gateway {
namespace {

constexpr Micros kDay = 86400 * kMicrosPerSecond;
constexpr Micros kUnusedWindow = 90 * kDay;

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n;") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// Everything the report is made from.
struct ReviewInputs {
  std::vector<policy::Person> people;
  std::vector<policy::Role> roles;
  std::vector<policy::Target> targets;
  std::vector<policy::Elevation> elevations;
  std::vector<policy::StoredHrEvent> leavers;
  std::vector<recorder::SessionRecord> sessions;
};

Result<ReviewInputs> fetch_inputs(Services& s, Micros since, Micros now) {
  auto people = s.policy().list_people();
  auto roles = s.policy().list_roles();
  auto targets = s.policy().list_targets();
  auto elevations = s.policy().list_elevations("", false);
  auto leavers = s.policy().list_hr_events("applied", "");
  recorder::SessionFilter f;
  f.since = std::min(since, now - kUnusedWindow);
  f.limit = 10'000'000;
  auto sessions = s.sessions().list(f);
  if (!people) return people.error();
  if (!roles) return roles.error();
  if (!targets) return targets.error();
  if (!elevations) return elevations.error();
  if (!leavers) return leavers.error();
  if (!sessions) return sessions.error();
  return ReviewInputs{std::move(*people),     std::move(*roles),   std::move(*targets),
                      std::move(*elevations), std::move(*leavers), std::move(*sessions)};
}

// What the sessions say about each person: their logins, and how often each grant was used in the period.
struct Usage {
  std::map<std::string, std::map<std::pair<std::string, std::string>, policy::LoginUse>> logins;
  std::map<std::string, std::map<std::string, int>> grant_sessions;  // user -> grant -> sessions in period
};

Usage usage_of(const std::vector<recorder::SessionRecord>& sessions, Micros since, Micros until) {
  Usage u;
  for (const auto& x : sessions) {
    if (x.started_at >= until) continue;
    auto& use = u.logins[x.user][{x.target, x.login}];
    use.target = x.target;
    use.login = x.login;
    use.last = std::max(use.last, x.started_at);
    ++use.sessions;
    if (!x.grant_id.empty() && x.started_at >= since) ++u.grant_sessions[x.user][x.grant_id];
  }
  return u;
}

// One person's roles (and where each comes from); the roles' definitions go into `held`.
nlohmann::json person_roles(const policy::Person& p, const ReviewInputs& in, std::vector<policy::Role>& held) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : p.roles) {
    bool hr = std::find(p.hr_roles.begin(), p.hr_roles.end(), r) != p.hr_roles.end();
    out.push_back({{"role", r}, {"source", hr ? "hr" : "manual"}});
    for (const auto& role : in.roles) {
      if (role.name == r) held.push_back(role);
    }
  }
  return out;
}

nlohmann::json person_review(const policy::Person& p, const ReviewInputs& in, Usage& u, Micros now) {
  nlohmann::json j = {{"name", p.name},
                      {"state", policy::to_string(p.state)},
                      {"employee_id", p.employee_id},
                      {"department", p.department},
                      {"service_account", p.service_account}};
  std::vector<policy::Role> held;
  j["roles"] = person_roles(p, in, held);
  std::vector<policy::LoginUse> mine;
  j["last_login"] = nlohmann::json::array();
  for (const auto& [key, use] : u.logins[p.name]) {
    mine.push_back(use);
    j["last_login"].push_back({{"target", use.target}, {"login", use.login}, {"at", format_utc_seconds(use.last)}});
  }
  j["unused_90_days"] = nlohmann::json::array();
  if (p.state == policy::PersonState::kActive) {
    for (const auto& x : policy::unused_access(held, in.targets, mine, now, kUnusedWindow)) {
      j["unused_90_days"].push_back({{"target", x.target}, {"login", x.login}, {"role", x.role}});
    }
  }
  j["grants_used"] = nlohmann::json::array();
  for (const auto& e : in.elevations) {
    if (e.user != p.name || e.grant_id.empty()) continue;
    auto it = u.grant_sessions[p.name].find(e.grant_id);
    if (it == u.grant_sessions[p.name].end()) continue;
    j["grants_used"].push_back({{"grant_id", e.grant_id},
                                {"destination", e.destination()},
                                {"break_glass", e.break_glass},
                                {"approved_by", e.decided_by},
                                {"sessions", it->second},
                                {"reason", e.reason}});
  }
  return j;
}

// Leavers revoked in the period, with how long revocation took.
nlohmann::json leavers_review(const ReviewInputs& in, Micros since, Micros until) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& ev : in.leavers) {
    if (ev.event.type != policy::HrType::kLeaver || ev.applied_at < since || ev.applied_at >= until) continue;
    Micros effective = ev.event.effective_at.value_or(ev.arrival);
    nlohmann::json l = {{"event_id", ev.event.event_id},
                        {"employee_id", ev.event.employee_id},
                        {"effective_at", format_utc_seconds(effective)},
                        {"revoked_at", format_utc(ev.applied_at)},
                        {"seconds_to_revocation", static_cast<double>(ev.applied_at - effective) / kMicrosPerSecond}};
    for (const auto& p : in.people) {
      if (p.employee_id == ev.event.employee_id) l["user"] = p.name;
    }
    out.push_back(std::move(l));
  }
  return out;
}

}  // namespace

Result<nlohmann::json> access_review(Services& s, Micros since, Micros until) {
  Micros now = until;
  auto in = fetch_inputs(s, since, now);
  if (!in) return in.error();
  Usage u = usage_of(in->sessions, since, until);
  nlohmann::json out_people = nlohmann::json::array();
  for (const auto& p : in->people) out_people.push_back(person_review(p, *in, u, now));
  return nlohmann::json{{"generated_at", format_utc_seconds(s.clock().now())},
                        {"since", format_utc_seconds(since)},
                        {"until", format_utc_seconds(until)},
                        {"people", out_people},
                        {"leavers", leavers_review(*in, since, until)}};
}

namespace {

void print_text(const nlohmann::json& r) {
  std::cout << "access review generated " << r["generated_at"].get<std::string>() << ", period since "
            << r["since"].get<std::string>() << "\n\n";
  for (const auto& p : r["people"]) {
    std::vector<std::string> roles, last, unused, grants;
    for (const auto& x : p["roles"])
      roles.push_back(x["role"].get<std::string>() + " (" + x["source"].get<std::string>() + ")");
    for (const auto& x : p["last_login"]) {
      last.push_back(x["login"].get<std::string>() + "@" + x["target"].get<std::string>() + " " +
                     x["at"].get<std::string>());
    }
    for (const auto& x : p["unused_90_days"])
      unused.push_back(x["login"].get<std::string>() + "@" + x["target"].get<std::string>());
    for (const auto& x : p["grants_used"]) {
      grants.push_back(
          x["grant_id"].get<std::string>() + " " + x["destination"].get<std::string>() +
          (x["break_glass"].get<bool>() ? " BREAK-GLASS" : " approved by " + x["approved_by"].get<std::string>()));
    }
    std::cout << p["name"].get<std::string>() << "  [" << p["state"].get<std::string>() << "]"
              << (p["department"].get<std::string>().empty() ? "" : "  " + p["department"].get<std::string>()) << "\n"
              << "  roles:        " << (roles.empty() ? "(none)" : join(roles, ", ")) << "\n"
              << "  last login:   " << (last.empty() ? "(never)" : join(last, ", ")) << "\n";
    if (!unused.empty()) std::cout << "  unused 90d:   " << join(unused, ", ") << "\n";
    if (!grants.empty()) std::cout << "  grants used:  " << join(grants, ", ") << "\n";
  }
  std::cout << "\nleavers processed in the period:\n";
  if (r["leavers"].empty()) std::cout << "  (none)\n";
  for (const auto& l : r["leavers"]) {
    std::printf("  %s  %s (%s): effective %s, revoked %s (%.3f s)\n", l["event_id"].get<std::string>().c_str(),
                l.value("user", std::string("?")).c_str(), l["employee_id"].get<std::string>().c_str(),
                l["effective_at"].get<std::string>().c_str(), l["revoked_at"].get<std::string>().c_str(),
                l["seconds_to_revocation"].get<double>());
  }
}

void print_csv(const nlohmann::json& r) {
  std::cout << "kind,user,state,department,employee_id,roles,last_login,unused_90_days,grants_used,event_id,"
               "effective_at,revoked_at,seconds_to_revocation\n";
  for (const auto& p : r["people"]) {
    std::vector<std::string> roles, last, unused, grants;
    for (const auto& x : p["roles"])
      roles.push_back(x["role"].get<std::string>() + ":" + x["source"].get<std::string>());
    for (const auto& x : p["last_login"]) {
      last.push_back(x["login"].get<std::string>() + "@" + x["target"].get<std::string>() + "=" +
                     x["at"].get<std::string>());
    }
    for (const auto& x : p["unused_90_days"])
      unused.push_back(x["login"].get<std::string>() + "@" + x["target"].get<std::string>());
    for (const auto& x : p["grants_used"])
      grants.push_back(x["grant_id"].get<std::string>() + "=" + x["destination"].get<std::string>());
    std::cout << "person," << csv_field(p["name"]) << "," << p["state"].get<std::string>() << ","
              << csv_field(p["department"]) << "," << csv_field(p["employee_id"]) << "," << csv_field(join(roles, ";"))
              << "," << csv_field(join(last, ";")) << "," << csv_field(join(unused, ";")) << ","
              << csv_field(join(grants, ";")) << ",,,,\n";
  }
  for (const auto& l : r["leavers"]) {
    std::cout << "leaver," << csv_field(l.value("user", std::string())) << ",left,," << csv_field(l["employee_id"])
              << ",,,,," << csv_field(l["event_id"]) << "," << l["effective_at"].get<std::string>() << ","
              << l["revoked_at"].get<std::string>() << "," << l["seconds_to_revocation"].get<double>() << "\n";
  }
}

struct ReportArgs {
  std::string since, format = "text";
  std::string reviewer, note;          // sign-off
  std::optional<Micros> period_start;  // --since, parsed
};

Status check_since(ReportArgs& a) { return ctl_parse_time(a.since, a.period_start); }

Result<nlohmann::json> build_report(Services& s, const ReportArgs& a) {
  Micros now = s.clock().now();
  return access_review(s, a.period_start.value_or(now - kUnusedWindow), now);
}

Status report(Services& s, const ReportArgs& a) {
  auto r = build_report(s, a);
  if (!r) return r.error();
  if (a.format == "json") {
    print_json(*r);
  } else if (a.format == "csv") {
    print_csv(*r);
  } else {
    print_text(*r);
  }
  return {};
}

// The sign-off pins what was reviewed: the report's digest goes into the chain.
Status sign_off(Services& s, const ReportArgs& a) {
  auto r = build_report(s, a);
  if (!r) return r.error();
  std::string digest = hex_encode(sha256(as_bytes(r->dump())));
  ctl_audit(s, "review.sign-off", a.note,
            {{"reviewer", a.reviewer},
             {"since", (*r)["since"]},
             {"people", (*r)["people"].size()},
             {"leavers", (*r)["leavers"].size()},
             {"report_sha256", digest}});
  std::cout << "review signed off by " << a.reviewer << " (report sha256 " << digest.substr(0, 16) << "...)\n";
  return {};
}

}  // namespace

void register_access_review_commands(CLI::App& app, CtlGlobals& g) {
  auto* review = app.add_subcommand("review", "the periodic access review");
  review->require_subcommand(1);
  auto* report_cmd = review->add_subcommand(
      "report", "every person: state, roles and their source, last logins, unused access, grants used, leavers");
  auto a = std::make_shared<ReportArgs>();
  report_cmd->add_option("--since", a->since, "start of the period (UTC, default: 90 days ago)");
  report_cmd->add_option("--format", a->format, "text, csv or json")
      ->check(CLI::IsMember({"text", "csv", "json"}))
      ->capture_default_str();
  ctl_command(report_cmd, g, a, report, check_since);
  auto* sign = review->add_subcommand("sign-off", "record in the audit log that a review was done");
  auto sa = std::make_shared<ReportArgs>();
  sign->add_option("--reviewer", sa->reviewer, "who reviewed")->required();
  sign->add_option("--note", sa->note, "findings and decisions")->required();
  sign->add_option("--since", sa->since, "start of the reviewed period (UTC, default: 90 days ago)");
  ctl_command(sign, g, sa, sign_off, check_since);
}

}  // namespace bastion::gateway
