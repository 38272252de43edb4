#include "gateway/app/hr_service.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "common/ed25519_key.h"
#include "common/encoding.h"
#include "common/files.h"
#include "common/random.h"
#include "common/strings.h"

namespace bastion::gateway {
namespace {

using policy::HrEvent;
using policy::HrPlan;
using recorder::Outcome;

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

// The employee ids among `events`' leavers whose person has not left yet.
std::set<std::string> leaver_ids(const std::vector<HrEvent>& events, const std::vector<policy::Person>& people) {
  std::set<std::string> out;
  for (const auto& e : events) {
    if (e.type != policy::HrType::kLeaver) continue;
    for (const auto& p : people) {
      if (p.employee_id == e.employee_id && p.state != policy::PersonState::kLeft) out.insert(e.employee_id);
    }
  }
  return out;
}

// 12 random hex digits: the id of a batch that is not a file (S-...).
std::string random_hex12() {
  std::string b = random_bytes(6);
  return hex_encode(std::span(reinterpret_cast<const uint8_t*>(b.data()), b.size()));
}

bool was_released(const policy::HrBatchRecord& r) {
  if (r.state == "released") return true;
  auto summary = nlohmann::json::parse(r.summary, nullptr, false);
  return summary.is_object() && summary.value("released", false);
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
  auto with = [&](const nlohmann::json& extra) {
    nlohmann::json d = link;
    d.update(extra);
    return d;
  };
  Status written;  // the first failed append; the rest are skipped and the caller rolls back
  auto add = [&](const std::string& action, Outcome o, const std::string& reason, nlohmann::json d) {
    if (!written) return;
    auto ev = event(action, o, reason, std::move(d));
    ev.target = "";
    if (auto r = audit_.append_in_transaction(ev); !r) written = r.error();
  };
  nlohmann::json main =
      with({{"type", policy::to_string(e.type)}, {"plan", policy::to_string(plan.action)}, {"user", plan.person}});
  if (!plan.department.empty()) main["department"] = plan.department;
  if (e.effective_at) main["effective_at"] = format_utc(*e.effective_at);
  add("hr." + policy::to_string(e.type), outcome_for(plan.action), plan.reason, main);
  if (ch.created) add("user.add", Outcome::kAllow, "HR joiner", with({{"user", ch.person}, {"state", "pending"}}));
  if (ch.rejoined)
    add("user.state", Outcome::kAllow, "HR joiner: pending", with({{"user", ch.person}, {"state", "pending"}}));
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
  return written;
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
    if (changes.error().code == ErrorCode::kDuplicate) {
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

Result<HrBreakerCount> HrService::breaker_count(const std::set<std::string>& leavers,
                                                const std::vector<policy::Person>& people,
                                                const std::function<bool(const policy::StoredHrEvent&)>& skip) {
  HrBreakerCount c;
  c.leavers = static_cast<int>(leavers.size());
  for (const auto& p : people) c.active += p.state == policy::PersonState::kActive;
  auto recent = repo_.hr_leavers_since(clock_.now() - cfg_.breaker_window);
  if (!recent) return recent.error();
  std::set<std::string> counted = leavers;
  for (const auto& s : *recent) {
    if (skip(s) || counted.contains(s.event.employee_id)) continue;
    for (const auto& p : people) {
      if (p.employee_id != s.event.employee_id) continue;
      bool left = p.state == policy::PersonState::kLeft;
      // Applied: made a leaver within the window (and no longer active).
      // Scheduled: counted from its arrival, as long as the person is still here.
      if (s.state == "applied" ? !left : left) continue;
      counted.insert(s.event.employee_id);
      ++c.earlier;
      if (left) ++c.active;
    }
  }
  if (c.leavers == 0) return c;  // a file with no leavers is never held for others' leavers
  c.verdict = policy::check_breaker(c.leavers + c.earlier, c.active, cfg_.max_leaver_share, cfg_.leaver_floor);
  if (c.verdict.hold && c.earlier > 0) c.verdict.reason += " within " + format_duration(cfg_.breaker_window);
  return c;
}

HrDroppedFile read_hr_file(const std::string& path, size_t max_bytes) {
  HrDroppedFile f;
  f.path = path;
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::symlink_status(path, ec))) {
    f.gone = true;
    return f;
  }
  auto text = read_dropped_file(path, max_bytes);
  if (!text) {
    f.readable = text.error();
    return f;
  }
  f.parsed = policy::parse_hr_file(base_name(path), *text);
  f.text = std::move(*text);
  return f;
}

Result<HrBatch> HrService::open(const std::string& path) { return open(read_hr_file(path, cfg_.hr_max_file_size)); }

Result<HrBatch> HrService::open(const HrDroppedFile& file) {
  const std::string& path = file.path;
  if (file.gone) return make_error(path + ": no such file");
  if (!file.readable) {
    // A FIFO, link, device or oversized file: rejected with the reason, once
    // (the caller moves it out of the spool).
    auto ev = event("hr.reject", Outcome::kDeny, "HR file " + base_name(path) + " rejected: " + file.readable.message(),
                    {{"file", base_name(path)}});
    if (auto r = audit_.append(ev); !r) return r.error();
    return file.readable.error();
  }
  HrBatch b;
  b.path = path;
  b.opened_at = clock_.now();
  std::string digest = hex_encode(sha256(as_bytes(file.text)));
  b.record.id = "B-" + digest.substr(0, 12);
  b.record.file = base_name(path);
  b.record.sha256 = digest;
  b.record.state = "applying";
  b.record.received_at = b.opened_at;
  auto existing = repo_.find_hr_batch(b.record.id);
  if (!existing) return existing.error();
  bool done_before = false;
  if (*existing) {
    b.record.received_at = (*existing)->received_at;
    // "done": finished before (applied again, or the process died before the
    // file left incoming/). It stays done: its events are duplicates, and its
    // rejections and summary were audited then (finish() does not again).
    done_before = (*existing)->state == "done";
    b.record.state = (*existing)->state == "released" || done_before ? (*existing)->state : "applying";
    b.resumed = (*existing)->state == "applying" || (*existing)->state == "released";
  }
  b.parsed = file.parsed;
  auto people = repo_.list_people();
  if (!people) return people.error();
  if (b.parsed.snapshot) {
    b.events = policy::snapshot_events(b.parsed.events, *people, b.record.id);
  } else {
    b.events = b.parsed.events;
  }
  // SECURITY: the circuit breaker counts the people this batch would make
  // leavers, now or later (scheduled leavers too: otherwise a future date
  // walks past it), plus those other files made (or scheduled) within the
  // window (otherwise many small files walk past it).
  const std::string& id = b.record.id;
  auto count = breaker_count(leaver_ids(b.events, *people), *people,
                             [&](const policy::StoredHrEvent& s) { return s.batch_id == id; });
  if (!count) return count.error();
  b.leavers = count->leavers;
  b.active = count->active;
  const auto& verdict = count->verdict;
  if (verdict.hold && b.record.state != "released" && !done_before) {
    b.held = true;
    b.hold_reason = verdict.reason;
    b.record.state = "held";
    b.record.summary = nlohmann::json{
        {"hold_reason", verdict.reason},
        {"leavers", b.leavers},
        {"active", b.active},
        {"earlier_leavers", count->earlier},
        {"events",
         b.events.size()}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    auto ev = event("hr.hold", Outcome::kDeny,
                    "ALERT: HR batch " + b.record.id + " (" + b.record.file + ") held: " + verdict.reason +
                        "; nothing applied. Decide with `bastionctl hr release|discard " + b.record.id + "`",
                    {{"batch_id", b.record.id},
                     {"file", b.record.file},
                     {"leavers", b.leavers},
                     {"earlier_leavers", count->earlier},
                     {"active", b.active},
                     {"alert", "mass-revocation"}});
    auto st = repo_.save_hr_batch(b.record, [&](const std::string&) -> Status {
      if (auto r = audit_.append_in_transaction(ev); !r) return r.error();
      return {};
    });
    if (!st) return st.error();
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
        std::string roles = join(*plan.hr_roles, ",");
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
    lines.push_back({{"line", o.line},
                     {"event_id", o.event_id},
                     {"type", o.type},
                     {"employee_id", o.employee_id},
                     {"user", o.person},
                     {"outcome", o.outcome},
                     {"detail", o.detail}});
    ++counts[o.outcome];
  }
  for (const auto& err : b.parsed.errors) {
    lines.push_back({{"line", err.line}, {"outcome", "rejected"}, {"detail", err.reason}});
    ++counts["rejected"];
  }
  std::sort(lines.begin(), lines.end(), [](const nlohmann::json& x, const nlohmann::json& y) {
    return x["line"].get<int>() < y["line"].get<int>();
  });
  nlohmann::json j = {{"batch_id", b.record.id},       {"file", b.record.file},   {"sha256", b.record.sha256},
                      {"snapshot", b.parsed.snapshot}, {"lines", b.parsed.lines}, {"counts", counts},
                      {"leavers", b.leavers},          {"active", b.active},      {"results", lines}};
  if (b.held) j["held"] = b.hold_reason;
  return j;
}

Result<nlohmann::json> HrService::finish(HrBatch& b) {
  nlohmann::json report = hr_report_json(b);
  nlohmann::json summary = {{"counts", report["counts"]}, {"lines", b.parsed.lines}};
  if (b.record.state == "released") summary["released"] = true;  // its scheduled leavers pass the breaker when due
  b.record.state = "done";
  b.record.finished_at = clock_.now();
  b.record.summary = summary.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::vector<recorder::AuditEvent> records;
  for (const auto& err : b.parsed.errors) {
    records.push_back(event("hr.reject", Outcome::kDeny, "line " + std::to_string(err.line) + ": " + err.reason,
                            {{"batch_id", b.record.id}, {"file", b.record.file}, {"line", err.line}}));
  }
  records.push_back(event(
      "hr.batch", b.parsed.errors.empty() ? Outcome::kInfo : Outcome::kError,
      "HR file " + b.record.file +
          " applied: " + report["counts"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
      {{"batch_id", b.record.id}, {"file", b.record.file}, {"sha256", b.record.sha256}, {"counts", report["counts"]}}));
  // The rejections, the summary and the "done" state commit together: a
  // file read again (the process died before moving it) is audited once.
  auto st = repo_.save_hr_batch(b.record, [&](const std::string& previous) -> Status {
    if (previous == "done") return {};
    for (const auto& ev : records) {
      if (auto r = audit_.append_in_transaction(ev); !r) return r.error();
    }
    return {};
  });
  if (!st) return st.error();
  return report;
}

Status HrService::hold_when_due(policy::HrBatchRecord& rec, const HrBreakerCount& c) {
  rec.state = "held";
  rec.summary = nlohmann::json{
      {"hold_reason", c.verdict.reason},
      {"leavers", c.leavers},
      {"active", c.active},
      {"earlier_leavers", c.earlier},
      {"when_due",
       true}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  auto ev = event("hr.hold", Outcome::kDeny,
                  "ALERT: scheduled leavers of HR batch " + rec.id + " (" + rec.file +
                      ") held when due: " + c.verdict.reason +
                      "; nothing applied. Decide with `bastionctl hr release|discard " + rec.id + "`",
                  {{"batch_id", rec.id},
                   {"file", rec.file},
                   {"leavers", c.leavers},
                   {"earlier_leavers", c.earlier},
                   {"active", c.active},
                   {"alert", "mass-revocation"}});
  return repo_.save_hr_batch(rec, [&](const std::string&) -> Status {
    if (auto r = audit_.append_in_transaction(ev); !r) return r.error();
    return {};
  });
}

Result<std::set<std::string>> HrService::batches_held_when_due(const std::vector<policy::StoredHrEvent>& due) {
  std::map<std::string, std::vector<HrEvent>> by_batch;
  std::set<std::string> due_ids;
  for (const auto& s : due) {
    by_batch[s.batch_id].push_back(s.event);
    due_ids.insert(s.event.event_id);
  }
  std::set<std::string> held;
  std::optional<std::vector<policy::Person>> people;
  for (const auto& [id, events] : by_batch) {
    auto rec = repo_.find_hr_batch(id);
    if (!rec) return rec.error();
    if (!*rec) continue;
    if ((*rec)->state == "held" || (*rec)->state == "discarded") {
      held.insert(id);
      continue;
    }
    if (was_released(**rec)) continue;  // an administrator let it through
    if (!people) {
      auto p = repo_.list_people();
      if (!p) return p.error();
      people = std::move(*p);
    }
    // SECURITY: leavers that were within the limits when their file arrived
    // may not be when they fall due (others left in the meantime).
    auto c = breaker_count(leaver_ids(events, *people), *people,
                           [&](const policy::StoredHrEvent& s) { return due_ids.contains(s.event.event_id); });
    if (!c) return c.error();
    if (!c->verdict.hold) continue;
    if (auto st = hold_when_due(**rec, *c); !st) return st.error();
    held.insert(id);
  }
  return held;
}

Result<size_t> HrService::apply_due(const HrAccessChange& on_change) {
  auto scheduled = repo_.list_hr_events("scheduled", "");
  if (!scheduled) return scheduled.error();
  Micros now = clock_.now();
  std::vector<policy::StoredHrEvent> due;
  for (auto& s : *scheduled) {
    if (s.event.effective_at.value_or(0) > now) break;  // ordered by effective time
    due.push_back(std::move(s));
  }
  if (due.empty()) return size_t{0};
  auto held = batches_held_when_due(due);
  if (!held) return held.error();
  size_t n = 0;
  for (const auto& s : due) {
    if (held->contains(s.batch_id)) continue;
    HrLineOutcome o = apply_event(s.event, s.batch_id, false, on_change);
    if (o.outcome == "error") return make_error("scheduled event " + s.event.event_id + ": " + o.detail);
    ++n;
  }
  return n;
}

HrLineOutcome HrService::apply_single_leaver(const HrEvent& e, const std::string& batch_id, const std::string& source,
                                             const HrAccessChange& on_change) {
  HrLineOutcome out = line_of(e);
  auto fail = [&](const std::string& why) {
    out.outcome = "error";
    out.detail = why;
    return out;
  };
  auto batches = repo_.list_hr_batches();
  auto people = repo_.list_people();
  if (!batches || !people) return fail("database unavailable");
  std::optional<policy::HrBatchRecord> held;
  for (const auto& b : *batches) {
    if (b.file == source && b.state == "held") held = b;
  }
  const std::set<std::string> leavers = leaver_ids({e}, *people);
  if (!held) {
    if (leavers.empty()) return apply_event(e, batch_id, false, on_change);  // unknown or left already: HR says why
    auto c = breaker_count(leavers, *people, [](const policy::StoredHrEvent&) { return false; });
    if (!c) return fail(c.error().message);
    if (!c->verdict.hold) return apply_event(e, batch_id, false, on_change);
    policy::HrBatchRecord rec;
    rec.id = "S-" + random_hex12();
    rec.file = source;
    rec.received_at = clock_.now();
    if (auto st = hold_when_due(rec, *c); !st) return fail(st.message());
    held = rec;
  }
  auto seen = repo_.find_hr_event(e.event_id);
  if (!seen) return fail(seen.error().message);
  if (*seen) {
    out.outcome = "duplicate";
    out.detail = "event id already recorded from batch " + (*seen)->batch_id;
    return out;
  }
  HrPlan plan;
  plan.action = HrPlan::Action::kSchedule;
  plan.person = e.username;
  plan.reason = "held by the mass-revocation circuit breaker in batch " + held->id;
  auto ev =
      event("hr.hold", Outcome::kDeny,
            "leaver " + e.employee_id + " (" + e.username + ") from " + source + " held in batch " + held->id +
                "; decide with `bastionctl hr release|discard " + held->id + "`",
            {{"event_id", e.event_id}, {"batch_id", held->id}, {"employee_id", e.employee_id}, {"source", source}});
  auto changes = repo_.apply_hr_event(e, plan, held->id, clock_.now(), [&](const policy::HrChanges&) -> Status {
    if (auto r = audit_.append_in_transaction(ev); !r) return r.error();
    return {};
  });
  if (!changes) return fail(changes.error().message);
  out.person = e.username;
  out.outcome = "held";
  out.detail = held->id;
  return out;
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
  std::vector<std::pair<int64_t, std::string>> files;  // (modified, nanoseconds; path)
  std::error_code ec;
  for (const auto& ent : std::filesystem::directory_iterator(incoming(), ec)) {
    std::string name = ent.path().filename().string();
    if (name.empty() || name[0] == '.' || name.ends_with(".tmp")) continue;
    auto st = ent.symlink_status(ec);
    if (ec || std::filesystem::is_directory(st)) continue;
    // lstat's time: last_write_time would follow a link (and fail on a dangling one).
    struct stat l {};
    if (::lstat(ent.path().c_str(), &l) != 0) continue;
    files.emplace_back(static_cast<int64_t>(l.st_mtim.tv_sec) * 1'000'000'000 + l.st_mtim.tv_nsec, ent.path().string());
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> out;
  out.reserve(files.size());
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
  if (auto st =
          write_file_atomic(dest + ".report.json",
                            report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", 0640, true);
      !st)
    return st.error();
  if (::rename(path.c_str(), dest.c_str()) != 0) {
    return make_error("cannot move " + path + " to " + dir + ": " + std::strerror(errno));
  }
  return dest;
}

}  // namespace bastion::gateway
