#include "policy/hr.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "common/encoding.h"
#include "common/strings.h"

namespace bastion::policy {
namespace {

bool printable(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// Event and employee ids: 1-128 of [A-Za-z0-9._:/@-].
bool valid_id(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == ':' || c == '/' || c == '@' || c == '-';
  });
}

bool parse_type(const std::string& s, HrType& out) {
  if (s == "joiner") out = HrType::kJoiner;
  else if (s == "mover") out = HrType::kMover;
  else if (s == "leaver") out = HrType::kLeaver;
  else return false;
  return true;
}

// Validates and assembles an event from its fields (by name).
Result<HrEvent> make_event(const std::map<std::string, std::string>& f, bool snapshot) {
  auto get = [&](const char* k) {
    auto it = f.find(k);
    return it == f.end() ? std::string() : it->second;
  };
  HrEvent e;
  e.employee_id = get("employee_id");
  e.username = get("username");
  e.email = get("email");
  e.department = get("department");
  if (!snapshot) {
    e.event_id = get("event_id");
    if (e.event_id.empty()) return make_error("missing event_id");
    if (!valid_id(e.event_id)) return make_error("event_id must be 1-128 of A-Z a-z 0-9 . _ : / @ -");
    std::string type = get("type");
    if (type.empty()) return make_error("missing type");
    if (!parse_type(type, e.type)) {
      return make_error("unknown type '" + type.substr(0, 32) + "' (joiner, mover or leaver)");
    }
  }
  if (e.employee_id.empty()) return make_error("missing employee_id");
  if (!valid_id(e.employee_id)) return make_error("employee_id must be 1-128 of A-Z a-z 0-9 . _ : / @ -");
  if (!e.username.empty() && !is_valid_name(e.username)) {
    return make_error("username '" + e.username.substr(0, 64) + "' is not a valid user name");
  }
  if (!snapshot && e.type == HrType::kJoiner && e.username.empty()) return make_error("a joiner needs a username");
  if (e.email.size() > 254 || !printable(e.email) || e.email.find(' ') != std::string::npos) {
    return make_error("email is not a valid address");
  }
  if (e.department.size() > 64 || !printable(e.department))
    return make_error("department must be 1-64 printable characters");
  std::string eff = get("effective_at");
  if (!eff.empty()) {
    auto t = parse_utc(eff);
    if (!t) return make_error("effective_at: " + t.error().message);
    e.effective_at = *t;
  }
  return e;
}

enum class Format { kJsonl, kCsv };

Format detect(const std::string& name, std::string_view text) {
  auto ends = [&](const char* ext) {
    std::string x(ext);
    return name.size() >= x.size() && name.compare(name.size() - x.size(), x.size(), x) == 0;
  };
  if (ends(".csv")) return Format::kCsv;
  if (ends(".jsonl") || ends(".json") || ends(".ndjson")) return Format::kJsonl;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    return c == '{' ? Format::kJsonl : Format::kCsv;
  }
  return Format::kJsonl;
}

std::string base_name(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::string to_string(HrType t) {
  switch (t) {
    case HrType::kJoiner: return "joiner";
    case HrType::kMover: return "mover";
    case HrType::kLeaver: return "leaver";
  }
  return "unknown";
}

std::string to_string(HrPlan::Action a) {
  switch (a) {
    case HrPlan::Action::kCreate: return "create";
    case HrPlan::Action::kUpdate: return "update";
    case HrPlan::Action::kLeave: return "leave";
    case HrPlan::Action::kRejoin: return "rejoin";
    case HrPlan::Action::kSchedule: return "schedule";
    case HrPlan::Action::kNothing: return "nothing";
    case HrPlan::Action::kSupersede: return "supersede";
    case HrPlan::Action::kReject: return "reject";
  }
  return "unknown";
}

Result<HrEvent> parse_hr_json(std::string_view line, bool snapshot) {
  if (line.size() > kMaxHrLineBytes) return make_error("line longer than 4096 bytes");
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded()) return make_error("not valid JSON");
  if (!j.is_object()) return make_error("not a JSON object");
  static const std::set<std::string> kKnown = {"event_id", "type",       "employee_id", "username",
                                               "email",    "department", "effective_at"};
  std::map<std::string, std::string> fields;
  for (const auto& [k, v] : j.items()) {
    if (!kKnown.count(k)) continue;  // other fields of an HR export are not ours
    if (v.is_string()) {
      fields[k] = v.get<std::string>();
    } else if (v.is_array()) {
      // Multi-valued: joined with ';' as in CSV.
      std::vector<std::string> values;
      for (const auto& x : v) {
        if (!x.is_string()) return make_error("field " + k.substr(0, 32) + " must hold strings");
        values.push_back(x.get<std::string>());
      }
      fields[k] = join(values, ";");
    } else if (!v.is_null()) {
      return make_error("field " + k.substr(0, 32) + " must be a string");
    }
  }
  return make_event(fields, snapshot);
}

Result<std::vector<std::string>> parse_csv_row(std::string_view line) {
  if (line.size() > kMaxHrLineBytes) return make_error("line longer than 4096 bytes");
  std::vector<std::string> out;
  std::string cur;
  size_t i = 0;
  for (;;) {
    cur.clear();
    if (i < line.size() && line[i] == '"') {
      ++i;
      for (;;) {
        if (i >= line.size()) return make_error("unterminated quoted field");
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            cur += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        cur += line[i++];
      }
      if (i < line.size() && line[i] != ',') return make_error("text after a quoted field");
    } else {
      while (i < line.size() && line[i] != ',') {
        if (line[i] == '"') return make_error("a quote inside an unquoted field");
        cur += line[i++];
      }
    }
    out.push_back(cur);
    if (i >= line.size()) break;
    ++i;  // the comma
  }
  return out;
}

HrFile parse_hr_file(const std::string& file_name, std::string_view text) {
  HrFile f;
  std::string base = base_name(file_name);
  f.snapshot = base.rfind("snapshot", 0) == 0;
  Format fmt = detect(base, text);
  std::vector<std::string> header;
  int line_no = 0;
  size_t pos = 0;
  std::set<std::string> seen_ids;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    Result<HrEvent> e = make_error("unparsed");
    // SECURITY: found by fuzz_hr: a CSV field with bytes that are not UTF-8
    // reached the JSON of the audit record and threw there, stopping the
    // applier. Such a line is refused here, before any field is read.
    if (!is_valid_utf8(line)) {
      if (fmt == Format::kCsv && header.empty()) {
        f.errors.push_back({line_no, "bad CSV header: not valid UTF-8"});
        return f;
      }
      ++f.lines;
      f.errors.push_back({line_no, "not valid UTF-8"});
      continue;
    }
    if (fmt == Format::kCsv) {
      auto row = parse_csv_row(line);
      if (!row) {
        if (header.empty()) {
          f.errors.push_back({line_no, "bad CSV header: " + row.error().message});
          return f;  // without a header no row can be read
        }
        ++f.lines;
        f.errors.push_back({line_no, row.error().message});
        continue;
      }
      if (header.empty()) {
        header = *row;
        for (auto& h : header) {
          h.erase(0, h.find_first_not_of(" \t"));
          h.erase(h.find_last_not_of(" \t") + 1);
        }
        if (std::find(header.begin(), header.end(), "employee_id") == header.end()) {
          f.errors.push_back({line_no, "CSV header has no employee_id column"});
          return f;
        }
        continue;
      }
      ++f.lines;
      if (row->size() != header.size()) {
        f.errors.push_back(
            {line_no, "expected " + std::to_string(header.size()) + " fields, got " + std::to_string(row->size())});
        continue;
      }
      std::map<std::string, std::string> fields;
      for (size_t i = 0; i < header.size(); ++i) {
        if (!(*row)[i].empty()) fields[header[i]] = (*row)[i];
      }
      e = make_event(fields, f.snapshot);
    } else {
      ++f.lines;
      e = parse_hr_json(line, f.snapshot);
    }
    if (!e) {
      f.errors.push_back({line_no, e.error().message});
      continue;
    }
    e->line = line_no;
    const std::string& key = f.snapshot ? e->employee_id : e->event_id;
    if (!seen_ids.insert(key).second) {
      f.errors.push_back({line_no, (f.snapshot ? "employee_id " : "event_id ") + key + " appears twice in this file"});
      continue;
    }
    f.events.push_back(std::move(*e));
  }
  return f;
}

std::string hr_event_json(const HrEvent& e) {
  nlohmann::json j = {{"event_id", e.event_id}, {"type", to_string(e.type)}, {"employee_id", e.employee_id}};
  if (!e.username.empty()) j["username"] = e.username;
  if (!e.email.empty()) j["email"] = e.email;
  if (!e.department.empty()) j["department"] = e.department;
  if (e.effective_at) j["effective_at"] = format_utc(*e.effective_at);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

HrPlan plan_hr_event(const HrEvent& e, const std::optional<Person>& by_employee,
                     const std::optional<Person>& by_username, const HrHistory& history,
                     const DepartmentRoles& departments, Micros now) {
  HrPlan p;
  auto reject = [&](std::string why) {
    p.action = HrPlan::Action::kReject;
    p.reason = std::move(why);
    return p;
  };
  Micros eff = e.effective_at.value_or(now);
  if (eff > now) {
    p.action = HrPlan::Action::kSchedule;
    p.person = by_employee ? by_employee->name : e.username;
    p.reason = to_string(e.type) + " scheduled for " + format_utc_seconds(eff);
    return p;
  }
  // Ordering: an event effective before one already applied for the same
  // employee changes nothing (a stale joiner never undoes a leaver).
  if (history.any && eff < history.last_effective_at) {
    p.action = HrPlan::Action::kSupersede;
    p.person = by_employee ? by_employee->name : e.username;
    p.reason = "an event effective later (" + format_utc_seconds(history.last_effective_at) +
               ") was already applied for employee " + e.employee_id;
    return p;
  }
  if (by_employee && !e.username.empty() && by_employee->name != e.username) {
    return reject("username " + e.username + " contradicts employee " + e.employee_id + " (user " + by_employee->name +
                  ")");
  }
  auto roles_for = [&](const std::string& dept) -> std::optional<std::vector<std::string>> {
    auto it = departments.find(dept);
    if (it == departments.end()) return std::vector<std::string>{};
    return it->second;
  };
  // The department's roles, and those of the person's groups (SCIM).
  auto with_groups = [&](std::optional<std::vector<std::string>> roles) {
    if (!e.group_roles) return roles;
    for (const auto& r : *e.group_roles) {
      if (std::find(roles->begin(), roles->end(), r) == roles->end()) roles->push_back(r);
    }
    std::sort(roles->begin(), roles->end());
    return roles;
  };
  switch (e.type) {
    case HrType::kLeaver:
      if (!by_employee) return reject("unknown employee " + e.employee_id);
      p.person = by_employee->name;
      if (by_employee->state == PersonState::kLeft) {
        p.action = HrPlan::Action::kNothing;
        p.reason = by_employee->name + " has already left";
        return p;
      }
      p.action = HrPlan::Action::kLeave;
      p.reason = by_employee->name + " left";
      return p;
    case HrType::kMover:
      if (!by_employee) return reject("unknown employee " + e.employee_id);
      p.person = by_employee->name;
      if (by_employee->state == PersonState::kLeft) {
        p.action = HrPlan::Action::kSupersede;
        p.reason = by_employee->name + " has left; a mover does not bring them back";
        return p;
      }
      p.action = HrPlan::Action::kUpdate;
      p.department = e.department.empty() ? by_employee->department : e.department;
      p.email = e.email;
      if (!e.department.empty() || e.group_roles) p.hr_roles = with_groups(roles_for(p.department));
      p.reason = "moved to " + (p.department.empty() ? std::string("(no department)") : p.department);
      return p;
    case HrType::kJoiner:
      p.department = e.department;
      p.email = e.email;
      p.hr_roles = with_groups(roles_for(e.department));
      if (by_employee) {
        p.person = by_employee->name;
        p.action = by_employee->state == PersonState::kLeft ? HrPlan::Action::kRejoin : HrPlan::Action::kUpdate;
        p.reason = by_employee->state == PersonState::kLeft ? "rejoined (pending until a new key is enrolled)"
                                                            : "joiner for a known employee: details updated";
        return p;
      }
      if (by_username) {
        return reject("user name " + e.username + " already belongs to " +
                      (by_username->employee_id.empty() ? "a person without an employee id"
                                                        : "employee " + by_username->employee_id));
      }
      p.person = e.username;
      p.action = HrPlan::Action::kCreate;
      p.reason =
          "joined" + (e.department.empty() ? std::string() : " " + e.department) + " (pending until a key is enrolled)";
      return p;
  }
  return reject("unknown event type");
}

std::vector<HrEvent> snapshot_events(const std::vector<HrEvent>& rows, const std::vector<Person>& people,
                                     const std::string& batch_id) {
  std::vector<HrEvent> out;
  std::map<std::string, const HrEvent*> present;
  for (const auto& r : rows) present[r.employee_id] = &r;
  std::map<std::string, const Person*> known;
  for (const auto& p : people) {
    if (p.employee_id.empty()) continue;
    known[p.employee_id] = &p;
    auto it = present.find(p.employee_id);
    HrEvent e;
    e.employee_id = p.employee_id;
    if (it == present.end()) {
      if (p.state == PersonState::kLeft) continue;
      e.type = HrType::kLeaver;
      e.username = p.name;
    } else if (!it->second->department.empty() && it->second->department != p.department &&
               p.state != PersonState::kLeft) {
      e.type = HrType::kMover;
      e.department = it->second->department;
      e.line = it->second->line;
    } else {
      continue;
    }
    e.event_id = batch_id + "/" + to_string(e.type) + "/" + p.employee_id;
    out.push_back(std::move(e));
  }
  for (const auto& r : rows) {
    if (known.count(r.employee_id) || r.username.empty()) continue;
    HrEvent e = r;
    e.type = HrType::kJoiner;
    e.event_id = batch_id + "/joiner/" + r.employee_id;
    out.push_back(std::move(e));
  }
  return out;
}

BreakerVerdict check_breaker(int leavers, int active, double share, int floor) {
  BreakerVerdict v;
  if (leavers <= floor) return v;
  double limit = share * static_cast<double>(active);
  if (static_cast<double>(leavers) > limit) {
    v.hold = true;
    v.reason = "would make " + std::to_string(leavers) + " of " + std::to_string(active) +
               " active people leavers (more than " + std::to_string(std::lround(share * 100)) + "%)";
  }
  return v;
}

}  // namespace bastion::policy
