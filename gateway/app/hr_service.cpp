#include "gateway/app/hr_service.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <filesystem>

#include "common/ed25519_key.h"
#include "common/encoding.h"
#include "common/files.h"

namespace bastion::gateway {
namespace {

using policy::HrEvent;
using policy::HrPlan;
using recorder::Outcome;

constexpr size_t kMaxHrFileBytes = 64u << 20;  // 64 MiB: a snapshot of a very large company
constexpr const char* kActor = "hr-feed";

std::string base_name(const std::string& path) { return std::filesystem::path(path).filename().string(); }

Outcome outcome_for(HrPlan::Action a) {
  switch (a) {
    case HrPlan::Action::kReject: return Outcome::kDeny;
    case HrPlan::Action::kCreate:
    case HrPlan::Action::kUpdate:
    case HrPlan::Action::kRejoin: return Outcome::kAllow;
    default: return Outcome::kInfo;
  }
}

std::string outcome_word(HrPlan::Action a) {
  switch (a) {
    case HrPlan::Action::kSchedule: return "scheduled";
    case HrPlan::Action::kSupersede: return "superseded";
    case HrPlan::Action::kReject: return "rejected";
    default: return "applied";
  }
}

HrLineOutcome line_of(const HrEvent& e) {
  HrLineOutcome o;
  o.line = e.line;
  o.event_id = e.event_id;
  o.type = policy::to_string(e.type);
  o.employee_id = e.employee_id;
  return o;
}

}  // namespace

recorder::AuditEvent HrService::event(const std::string& action, Outcome outcome, const std::string& reason,
                                      nlohmann::json details) {
  recorder::AuditEvent ev;
  ev.actor = kActor;
  ev.action = action;
  ev.outcome = outcome;
  ev.reason = reason;
  ev.details = std::move(details);
  return ev;
}

Status HrService::audit_changes(const HrEvent& e, const HrPlan& plan, const std::string& batch_id,
                                const policy::HrChanges& ch) {
  nlohmann::json link = {{"event_id", e.event_id}, {"batch_id", batch_id}, {"employee_id", e.employee_id}};
  if (e.line) link["line"] = e.line;
  auto with = [&](nlohmann::json extra) {
    nlohmann::json d = link;
    d.update(extra);
    return d;
  };
  auto add = [&](const std::string& action, Outcome o, const std::string& reason, nlohmann::json d) {
    auto ev = event(action, o, reason, std::move(d));
    ev.target = "";
    audit_.append_in_transaction(ev);
  };
  nlohmann::json main = with({{"type", policy::to_string(e.type)}, {"plan", policy::to_string(plan.action)},
                              {"user", plan.person}});
  if (!plan.department.empty()) main["department"] = plan.department;
  if (e.effective_at) main["effective_at"] = format_utc(*e.effective_at);
  add("hr." + policy::to_string(e.type), outcome_for(plan.action), plan.reason, main);
  if (ch.created) add("user.add", Outcome::kAllow, "HR joiner", with({{"user", ch.person}, {"state", "pending"}}));
  if (ch.rejoined) add("user.state", Outcome::kAllow, "HR joiner: pending", with({{"user", ch.person}, {"state", "pending"}}));
  if (ch.left) add("user.state", Outcome::kInfo, ch.person + " left", with({{"user", ch.person}, {"state", "left"}}));
  for (const auto& fp : ch.keys_revoked) {
    add("key.revoke", Outcome::kInfo, ch.person + " left", with({{"user", ch.person}, {"fingerprint", fp}}));
  }
  for (const auto& c : ch.credentials_revoked) {
    add("webauthn.revoke", Outcome::kInfo, ch.person + " left", with({{"user", ch.person}, {"credential_id", c}}));
  }
  for (const auto& g : ch.grants_revoked) {
    add("elevation.revoke", Outcome::kInfo, ch.person + " left", with({{"user", ch.person}, {"grant_id", g}}));
  }
  for (const auto& r : ch.requests_cancelled) {
    add("elevation.revoke", Outcome::kInfo, ch.person + " left: request cancelled",
        with({{"user", ch.person}, {"request_id", r}}));
  }
  for (const auto& c : ch.approver_removed) {
    add("customer.approver.remove", Outcome::kInfo, ch.person + " left", with({{"user", ch.person}, {"customer", c}}));
  }
  for (const auto& r : ch.roles_removed) {
    add("role.remove", Outcome::kInfo, "HR: department " + plan.department, with({{"user", ch.person}, {"role", r}}));
  }
  for (const auto& r : ch.roles_added) {
    add("role.assign", Outcome::kAllow, "HR: department " + plan.department, with({{"user", ch.person}, {"role", r}}));
  }
  return {};
}

HrLineOutcome HrService::apply_event(const HrEvent& e, const std::string& batch_id, bool resumed,
                                     const HrAccessChange& on_change) {
  HrLineOutcome out = line_of(e);
  auto fail = [&](const std::string& why) {
    out.outcome = "error";
    out.detail = why;
    return out;
  };
  auto seen = repo_.find_hr_event(e.event_id);
  if (!seen) return fail(seen.error().message);
  if (*seen && (*seen)->state != "scheduled") {
    out.person = (*seen)->event.username;
    if (resumed && (*seen)->batch_id == batch_id) {
      out.outcome = (*seen)->state;  // done before a restart; not again
      out.detail = (*seen)->reason + " (before a restart)";
    } else {
      out.outcome = "duplicate";
      out.detail = "event id already recorded from batch " + (*seen)->batch_id + " (" + (*seen)->state + ")";
      auto ev = event("hr.duplicate", Outcome::kInfo, out.detail,
                      {{"event_id", e.event_id}, {"batch_id", batch_id}, {"line", e.line}});
      if (auto r = audit_.append(ev); !r) return fail(r.error().message);
    }
    return out;
  }
  Micros now = clock_.now();
  auto by_employee = repo_.find_person_by_employee(e.employee_id);
  std::optional<policy::Person> by_username;
  if (!e.username.empty()) {
    auto u = repo_.find_person(e.username);
    if (!u) return fail(u.error().message);
    by_username = *u;
  }
  auto history = repo_.hr_history(e.employee_id);
  if (!by_employee || !history) return fail("database unavailable");
  HrPlan plan = policy::plan_hr_event(e, *by_employee, by_username, *history, cfg_.department_roles, now);
  if (plan.action == HrPlan::Action::kSchedule && *seen) {
    out.outcome = "scheduled";
    out.detail = plan.reason;
    return out;  // already waiting
  }
  auto in_tx = [&](const policy::HrChanges& ch) { return audit_changes(e, plan, batch_id, ch); };
  auto changes = repo_.apply_hr_event(e, plan, batch_id, now, in_tx);
  if (!changes) {
    if (changes.error().message.find("already recorded") != std::string::npos) {
      out.outcome = "duplicate";
      out.detail = changes.error().message;
      return out;
    }
    // The change itself failed (e.g. a department maps to a missing role):
    // record the event as rejected, with the reason, so it is not retried.
    plan.action = HrPlan::Action::kReject;
    plan.reason = changes.error().message;
    plan.hr_roles.reset();
    changes = repo_.apply_hr_event(e, plan, batch_id, now, in_tx);
    if (!changes) return fail(changes.error().message);
  }
  out.person = plan.person;
  out.outcome = outcome_word(plan.action);
  out.detail = plan.reason;
  if (on_change) {
    if (changes->left) {
      on_change(plan.person, "access revoked: " + plan.person + " has left (HR event " + e.event_id + ")", true);
    } else if (!changes->roles_removed.empty()) {
      on_change(plan.person, "", false);
    }
  }
  return out;
}

Result<HrBatch> HrService::open(const std::string& path) {
  auto text = read_file(path, kMaxHrFileBytes);
  if (!text) return text.error();
  HrBatch b;
  b.path = path;
  b.opened_at = clock_.now();
  std::string digest = hex_encode(sha256(as_bytes(*text)));
  b.record.id = "B-" + digest.substr(0, 12);
  b.record.file = base_name(path);
  b.record.sha256 = digest;
  b.record.state = "applying";
  b.record.received_at = b.opened_at;
  auto existing = repo_.find_hr_batch(b.record.id);
  if (!existing) return existing.error();
  if (*existing) {
    b.record.received_at = (*existing)->received_at;
    b.record.state = (*existing)->state == "released" ? "released" : "applying";
    b.resumed = (*existing)->state == "applying" || (*existing)->state == "released";
  }
  b.parsed = policy::parse_hr_file(b.record.file, *text);
  auto people = repo_.list_people();
  if (!people) return people.error();
  if (b.parsed.snapshot) {
    b.events = policy::snapshot_events(b.parsed.events, *people, b.record.id);
  } else {
    b.events = b.parsed.events;
  }
  // The circuit breaker counts the people this batch would actually make leavers.
  Micros now = clock_.now();
  for (const auto& p : *people) b.active += p.state == policy::PersonState::kActive;
  for (const auto& e : b.events) {
    if (e.type != policy::HrType::kLeaver) continue;
    if (e.effective_at && *e.effective_at > now) continue;
    for (const auto& p : *people) {
      if (p.employee_id == e.employee_id && p.state != policy::PersonState::kLeft) ++b.leavers;
    }
  }
  auto verdict = policy::check_breaker(b.leavers, b.active, cfg_.max_leaver_share, cfg_.leaver_floor);
  if (verdict.hold && b.record.state != "released") {
    b.held = true;
    b.hold_reason = verdict.reason;
    b.record.state = "held";
    b.record.summary = nlohmann::json{{"hold_reason", verdict.reason}, {"leavers", b.leavers}, {"active", b.active},
                                      {"events", b.events.size()}}
                           .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (auto st = repo_.save_hr_batch(b.record); !st) return st.error();
    auto ev = event("hr.hold", Outcome::kDeny,
                    "ALERT: HR batch " + b.record.id + " (" + b.record.file + ") held: " + verdict.reason +
                        "; nothing applied. Decide with `bastionctl hr release|discard " + b.record.id + "`",
                    {{"batch_id", b.record.id}, {"file", b.record.file}, {"leavers", b.leavers},
                     {"active", b.active}, {"alert", "mass-revocation"}});
    if (auto r = audit_.append(ev); !r) return r.error();
    return b;
  }
  if (auto st = repo_.save_hr_batch(b.record); !st) return st.error();
  return b;
}

std::vector<HrLineOutcome> HrService::dry_run(const HrBatch& b) {
  std::vector<HrLineOutcome> out;
  Micros now = clock_.now();
  for (const auto& e : b.events) {
    HrLineOutcome o = line_of(e);
    auto seen = repo_.find_hr_event(e.event_id);
    auto by_employee = repo_.find_person_by_employee(e.employee_id);
    auto history = repo_.hr_history(e.employee_id);
    std::optional<policy::Person> by_username;
    if (!e.username.empty()) {
      if (auto u = repo_.find_person(e.username); u) by_username = *u;
    }
    if (!seen || !by_employee || !history) {
      o.outcome = "error";
      o.detail = "database unavailable";
    } else if (*seen && (*seen)->state != "scheduled") {
      o.outcome = "duplicate";
      o.detail = "already recorded (" + (*seen)->state + ")";
    } else {
      auto plan = policy::plan_hr_event(e, *by_employee, by_username, *history, cfg_.department_roles, now);
      o.person = plan.person;
      o.outcome = plan.action == HrPlan::Action::kReject ? "would-reject" : "would-" + policy::to_string(plan.action);
      o.detail = plan.reason;
      if (plan.hr_roles) {
        std::string roles;
        for (const auto& r : *plan.hr_roles) roles += (roles.empty() ? "" : ",") + r;
        o.detail += "; HR roles: " + (roles.empty() ? std::string("(none)") : roles);
      }
    }
    out.push_back(std::move(o));
  }
  return out;
}

Result<size_t> HrService::apply(HrBatch& b, size_t budget, const HrAccessChange& on_change) {
  if (b.held) return make_error("batch " + b.record.id + " is held: " + b.hold_reason);
  size_t n = 0;
  while (!finished(b) && (budget == 0 || n < budget)) {
    HrLineOutcome o = apply_event(b.events[b.next], b.record.id, b.resumed, on_change);
    if (o.outcome == "error") return make_error("line " + std::to_string(o.line) + ": " + o.detail);
    b.outcomes.push_back(std::move(o));
    ++b.next;
    ++n;
  }
  return n;
}

nlohmann::json hr_report_json(const HrBatch& b) {
  nlohmann::json lines = nlohmann::json::array();
  std::map<std::string, int> counts;
  for (const auto& o : b.outcomes) {
    lines.push_back({{"line", o.line}, {"event_id", o.event_id}, {"type", o.type}, {"employee_id", o.employee_id},
                     {"user", o.person}, {"outcome", o.outcome}, {"detail", o.detail}});
    ++counts[o.outcome];
  }
  for (const auto& err : b.parsed.errors) {
    lines.push_back({{"line", err.line}, {"outcome", "rejected"}, {"detail", err.reason}});
    ++counts["rejected"];
  }
  std::sort(lines.begin(), lines.end(),
            [](const nlohmann::json& x, const nlohmann::json& y) { return x["line"].get<int>() < y["line"].get<int>(); });
  nlohmann::json j = {{"batch_id", b.record.id}, {"file", b.record.file},  {"sha256", b.record.sha256},
                      {"snapshot", b.parsed.snapshot}, {"lines", b.parsed.lines}, {"counts", counts},
                      {"leavers", b.leavers},          {"active", b.active}, {"results", lines}};
  if (b.held) j["held"] = b.hold_reason;
  return j;
}

Result<nlohmann::json> HrService::finish(HrBatch& b) {
  for (const auto& err : b.parsed.errors) {
    auto ev = event("hr.reject", Outcome::kDeny, "line " + std::to_string(err.line) + ": " + err.reason,
                    {{"batch_id", b.record.id}, {"file", b.record.file}, {"line", err.line}});
    if (auto r = audit_.append(ev); !r) return r.error();
  }
  nlohmann::json report = hr_report_json(b);
  b.record.state = "done";
  b.record.finished_at = clock_.now();
  b.record.summary = nlohmann::json{{"counts", report["counts"]}, {"lines", b.parsed.lines}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  auto ev = event("hr.batch", b.parsed.errors.empty() ? Outcome::kInfo : Outcome::kError,
                  "HR file " + b.record.file + " applied: " + report["counts"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  {{"batch_id", b.record.id}, {"file", b.record.file}, {"sha256", b.record.sha256},
                   {"counts", report["counts"]}});
  if (auto r = audit_.append(ev); !r) return r.error();
  if (auto st = repo_.save_hr_batch(b.record); !st) return st.error();
  return report;
}

Result<size_t> HrService::apply_due(const HrAccessChange& on_change) {
  auto due = repo_.list_hr_events("scheduled", "");
  if (!due) return due.error();
  Micros now = clock_.now();
  size_t n = 0;
  for (const auto& s : *due) {
    if (s.event.effective_at.value_or(0) > now) break;  // ordered by effective time
    HrLineOutcome o = apply_event(s.event, s.batch_id, false, on_change);
    if (o.outcome == "error") return make_error("scheduled event " + s.event.event_id + ": " + o.detail);
    ++n;
  }
  return n;
}

Status HrService::set_held_state(const std::string& batch_id, bool release, const std::string& actor) {
  auto b = repo_.find_hr_batch(batch_id);
  if (!b) return b.error();
  if (!*b) return make_error("no such HR batch: " + batch_id);
  if ((*b)->state != "held") return make_error("batch " + batch_id + " is " + (*b)->state + ", not held");
  (*b)->state = release ? "released" : "discarded";
  if (!release) (*b)->finished_at = clock_.now();
  if (auto st = repo_.save_hr_batch(**b); !st) return st;
  auto ev = event(release ? "hr.release" : "hr.discard", Outcome::kInfo,
                  std::string(release ? "held HR batch released by " : "held HR batch discarded by ") + actor,
                  {{"batch_id", batch_id}, {"file", (*b)->file}, {"by", actor}});
  ev.actor = actor;
  if (auto r = audit_.append(ev); !r) return r.error();
  return {};
}

Status HrSpool::ensure() const {
  for (const auto& d : {root, incoming(), processed(), rejected(), held()}) {
    if (auto st = make_dirs(d, 0750); !st) return st;
  }
  return {};
}

std::vector<std::string> HrSpool::waiting() const {
  std::vector<std::pair<std::filesystem::file_time_type, std::string>> files;
  std::error_code ec;
  for (const auto& ent : std::filesystem::directory_iterator(incoming(), ec)) {
    std::string name = ent.path().filename().string();
    if (name.empty() || name[0] == '.' || name.ends_with(".tmp") || !ent.is_regular_file(ec)) continue;
    files.emplace_back(ent.last_write_time(ec), ent.path().string());
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> out;
  for (auto& f : files) out.push_back(std::move(f.second));
  return out;
}

Result<std::string> HrSpool::file_away(const std::string& path, const std::string& dir,
                                       const nlohmann::json& report) const {
  std::string name = base_name(path);
  std::string dest = dir + "/" + name;
  for (int i = 1; file_exists(dest); ++i) dest = dir + "/" + name + "." + std::to_string(i);
  // The report first: if we die between the two steps the file is still in
  // incoming/ and is applied (idempotently) again.
  if (auto st = write_file_atomic(dest + ".report.json", report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", 0640, true); !st) return st.error();
  if (::rename(path.c_str(), dest.c_str()) != 0) {
    return make_error("cannot move " + path + " to " + dir + ": " + std::strerror(errno));
  }
  return dest;
}

}  // namespace bastion::gateway
