// ScimService (gateway/app/scim_service.h).
#include "gateway/app/scim_service.h"

#include <algorithm>
#include <charconv>
#include <span>

#include "common/ed25519_key.h"
#include "common/encoding.h"
#include "common/random.h"

namespace bastion::gateway {
namespace {

using nlohmann::json;
namespace scim = policy::scim;
using recorder::Outcome;

constexpr Micros kTouchEvery = 60 * kMicrosPerSecond;

ScimReply fail(int status, const std::string& type, const std::string& detail) {
  return {status, scim::error_json({status, type, detail}), "", "", 0};
}

ScimReply fail(const scim::Error& e) { return {e.status, scim::error_json(e), "", "", 0}; }

// A store's or the HR pipeline's error as a SCIM error.
ScimReply fail(const Error& e) {
  switch (e.code) {
    case ErrorCode::kDuplicate: return fail(409, "uniqueness", e.message);
    case ErrorCode::kInvalid: return fail(400, "invalidValue", e.message);
    case ErrorCode::kNotFound: return fail(404, "", e.message);
    case ErrorCode::kBusy: return fail(503, "", "the gateway's database is busy; try again");
    default: return fail(500, "", e.message);
  }
}

std::string new_uuid() {
  std::string b = random_bytes(16);
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);
  std::string h = hex_encode(std::span(reinterpret_cast<const uint8_t*>(b.data()), b.size()));
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

std::string etag_of(int64_t version) { return "W/\"" + std::to_string(version) + "\""; }

// A query parameter as a number; `fallback` when absent or not a number.
int64_t number_param(const std::map<std::string, std::string>& q, const char* key, int64_t fallback) {
  auto it = q.find(key);
  if (it == q.end()) return fallback;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  if (ec != std::errc() || p != it->second.data() + it->second.size()) return fallback;
  return v;
}

Outcome outcome_of(int status) {
  if (status < 400) return Outcome::kAllow;
  if (status < 500) return Outcome::kDeny;
  return Outcome::kError;
}

}  // namespace

bool ScimRateLimiter::allow(const std::string& key, int rate, Micros now) {
  const double burst = 2.0 * rate;
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{burst, now});
  Bucket& b = it->second;
  if (!fresh) {
    b.tokens = std::min(burst, b.tokens + static_cast<double>(now - b.at) * rate / kMicrosPerSecond);
    b.at = now;
  }
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  // Forget full buckets now and then, so that many sources cannot grow the map without bound.
  if (buckets_.size() > 10000) {
    std::erase_if(buckets_, [&](const auto& kv) {
      return kv.second.tokens + static_cast<double>(now - kv.second.at) * rate / kMicrosPerSecond >= burst;
    });
  }
  return true;
}

ScimService::ScimService(Services& s, ScimRateLimiter& limiter, HrAccessChange on_change, std::string base_url)
    : s_(s), limiter_(limiter), on_change_(std::move(on_change)), base_(std::move(base_url)) {}

std::string ScimService::new_token() {
  std::string b = random_bytes(32);
  return "bscim_" + base64url_encode(std::span(reinterpret_cast<const uint8_t*>(b.data()), b.size()));
}

std::string ScimService::token_hash(const std::string& token) {
  return hex_encode(sha256(std::span(reinterpret_cast<const uint8_t*>(token.data()), token.size())));
}

ScimReply ScimService::handle(const ScimRequest& r) {
  const Micros now = s_.clock().now();
  const int rate = s_.config().scim_requests_per_second;
  auto refuse = [&](int status, const std::string& why, const std::string& client) {
    recorder::AuditEvent ev{client.empty() ? "scim" : "scim:" + client,
                            "scim.refused",
                            Outcome::kDeny,
                            why,
                            "",
                            "",
                            r.source,
                            "",
                            json{{"method", r.method}, {"path", r.path}, {"status", status}}};
    (void)s_.audit().append(ev);
    ScimReply reply = fail(status, "", why);
    if (status == 429) reply.retry_after = 1;
    return reply;
  };
  if (r.token.empty() || r.token.size() > 256) {
    if (!limiter_.allow("source:" + r.source, rate, now)) return fail(429, "", "too many requests");
    return refuse(401, "a bearer token is required (Authorization: Bearer TOKEN from 'bastionctl scim token add')", "");
  }
  auto client = s_.scim().active_client_by_token(token_hash(r.token));
  if (!client) return fail(503, "", "the gateway cannot reach its database; try again");
  if (!*client) {
    if (!limiter_.allow("source:" + r.source, rate, now)) return fail(429, "", "too many requests");
    return refuse(401, "unknown or revoked token", "");
  }
  const std::string name = (*client)->name;
  if (!limiter_.allow(name, rate, now)) {
    return refuse(429, "more than " + std::to_string(rate) + " requests a second ([scim] requests_per_second)", name);
  }
  if (now - (*client)->last_used_at >= kTouchEvery) (void)s_.scim().touch_client(name, now);
  changes_.clear();
  ScimReply reply = route(r, name);
  for (const auto& [user, message, left] : changes_) {
    if (on_change_) on_change_(user, message, left);
  }
  changes_.clear();
  return reply;
}

ScimReply ScimService::route(const ScimRequest& r, const std::string& client) {
  std::string path = r.path;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  json audit = {{"client", client}, {"method", r.method}, {"path", path}};
  ScimReply reply;
  committed_ = false;  // commit() sets it: the change's own transaction wrote the record
  auto method_not_allowed = [&]() { return fail(405, "", r.method + " is not allowed on " + path); };
  if (path == "/ServiceProviderConfig") {
    reply = r.method == "GET" ? ScimReply{200, scim::service_provider_config_json(base_, kMaxResults), "", "", 0}
                              : method_not_allowed();
  } else if (path == "/ResourceTypes" || path == "/Schemas") {
    json all = path == "/Schemas" ? scim::schemas_json(base_) : scim::resource_types_json(base_);
    reply = r.method == "GET" ? ScimReply{200,
                                          {{"schemas", json::array({scim::kListSchema})},
                                           {"totalResults", all.size()},
                                           {"startIndex", 1},
                                           {"itemsPerPage", all.size()},
                                           {"Resources", all}},
                                          "",
                                          "",
                                          0}
                              : method_not_allowed();
  } else if (path.rfind("/ResourceTypes/", 0) == 0 || path.rfind("/Schemas/", 0) == 0) {
    const bool schemas = path[1] == 'S';
    const std::string id = path.substr(path.find('/', 1) + 1);
    json all = schemas ? scim::schemas_json(base_) : scim::resource_types_json(base_);
    auto it = std::find_if(all.begin(), all.end(), [&](const json& x) { return x.value("id", "") == id; });
    if (r.method != "GET") {
      reply = method_not_allowed();
    } else if (it == all.end()) {
      reply = fail(404, "", "no " + std::string(schemas ? "schema " : "resource type ") + id);
    } else {
      reply = {200, *it, "", "", 0};
    }
  } else if (path == "/Users") {
    if (r.method == "GET") {
      reply = list_users(r);
    } else if (r.method == "POST") {
      reply = create_user(r, client, audit);
    } else {
      reply = method_not_allowed();
    }
  } else if (path.rfind("/Users/", 0) == 0 && path.find('/', 7) == std::string::npos) {
    const std::string id = path.substr(7);
    audit["id"] = id;
    if (r.method == "GET") {
      reply = get_user(id);
    } else if (r.method == "PUT" || r.method == "PATCH") {
      reply = change_user(r, id, client, audit);
    } else if (r.method == "DELETE") {
      reply = delete_user(r, id, client, audit);
    } else {
      reply = method_not_allowed();
    }
  } else if (path == "/Groups") {
    if (r.method == "GET") {
      reply = list_groups(r);
    } else if (r.method == "POST") {
      reply = create_group(r, client, audit);
    } else {
      reply = method_not_allowed();
    }
  } else if (path.rfind("/Groups/", 0) == 0 && path.find('/', 8) == std::string::npos) {
    const std::string id = path.substr(8);
    audit["id"] = id;
    if (r.method == "GET") {
      reply = get_group(r, id);
    } else if (r.method == "PUT" || r.method == "PATCH") {
      reply = change_group(r, id, client, audit);
    } else if (r.method == "DELETE") {
      reply = delete_group(r, id, client, audit);
    } else {
      reply = method_not_allowed();
    }
  } else if (path == "/Bulk" || path == "/Me") {
    reply = fail(501, "",
                 path.substr(0, path.find('/', 1)) +
                     " is not supported by this gateway yet (ServiceProviderConfig lists what is)");
  } else {
    reply = fail(404, "", "no resource at " + path);
  }
  if (!committed_) {
    audit["status"] = reply.status;
    std::string why = reply.status < 400
                          ? r.method + " " + path
                          : reply.body.value("detail", std::string("error ") + std::to_string(reply.status));
    recorder::AuditEvent ev{"scim:" + client,
                            "scim.request",
                            outcome_of(reply.status),
                            why,
                            audit.value("person", ""),
                            "",
                            r.source,
                            "",
                            audit};
    // SECURITY: every request is on record; what cannot be recorded is not answered.
    if (auto appended = s_.audit().append(ev); !appended && reply.status < 400) {
      return fail(503, "", "the gateway cannot write its audit log; try again");
    }
  }
  return reply;
}

ScimReply ScimService::commit(const ScimRequest& r, const std::string& client, json& audit, int status,
                              const std::string& why, const std::string& person, const std::function<Status()>& change,
                              ScimReply done) {
  Status st = s_.scim().write([&]() -> Status {
    if (auto changed = change(); !changed) return changed;
    audit["status"] = status;
    recorder::AuditEvent ev{"scim:" + client, "scim.request", Outcome::kAllow, why, person, "", r.source, "", audit};
    if (auto appended = s_.audit().append(ev); !appended) return appended.error();
    return {};
  });
  if (!st) {
    changes_.clear();
    return fail(st.error());
  }
  committed_ = true;
  return done;
}

std::optional<ScimReply> ScimService::stale(const ScimRequest& r, int64_t version) {
  if (r.if_match.empty() || r.if_match == "*" || r.if_match == etag_of(version)) return std::nullopt;
  return fail(412, "", "changed since version " + r.if_match + " (now " + etag_of(version) + ")");
}

json ScimService::render(const policy::ScimUser& u) const {
  json j = u.resource;
  j["id"] = u.id;
  json schemas = json::array({scim::kUserSchema});
  if (j.contains(scim::kEnterpriseSchema)) schemas.push_back(scim::kEnterpriseSchema);
  j["schemas"] = schemas;
  j["meta"] = {{"resourceType", "User"},
               {"created", format_utc(u.created_at)},
               {"lastModified", format_utc(u.updated_at)},
               {"version", etag_of(u.version)},
               {"location", base_ + "/Users/" + u.id}};
  return j;
}

ScimReply ScimService::list_users(const ScimRequest& r) {
  int64_t start = std::max<int64_t>(1, number_param(r.query, "startIndex", 1));
  int64_t count = std::clamp<int64_t>(number_param(r.query, "count", kMaxResults), 0, kMaxResults);
  std::vector<json> page;
  int64_t total = 0;
  // A page ends before the answer outgrows the web channel: fewer resources
  // than `count` (RFC 7644 §3.4.2.4 allows it; itemsPerPage says how many).
  size_t bytes = 0;
  bool full = false;
  auto fits = [&](const json& j) {
    if (full) return false;
    bytes += j.dump().size() + 1;
    full = bytes > kMaxListBytes;
    return !full;
  };
  auto filter_it = r.query.find("filter");
  if (filter_it != r.query.end() && !filter_it->second.empty()) {
    auto f = scim::parse_filter(filter_it->second);
    if (!f) return fail(f.error());
    auto lookup = scim::indexed_lookup(*f);
    auto candidates = lookup ? s_.scim().find_users(*lookup) : s_.scim().list_users(0, 0);
    if (!candidates) return fail(candidates.error());
    for (const auto& u : *candidates) {
      json j = render(u);
      if (!scim::matches(*f, j)) continue;
      ++total;
      if (total >= start && static_cast<int64_t>(page.size()) < count && fits(j)) page.push_back(std::move(j));
    }
  } else {
    auto n = s_.scim().count_users();
    if (!n) return fail(n.error());
    total = *n;
    auto users = s_.scim().list_users(static_cast<size_t>(start - 1), static_cast<size_t>(count));
    if (!users) return fail(users.error());
    if (count == 0) users->clear();
    for (const auto& u : *users) {
      json j = render(u);
      if (!fits(j)) break;
      page.push_back(std::move(j));
    }
  }
  json body = {{"schemas", json::array({scim::kListSchema})},
               {"totalResults", total},
               {"startIndex", start},
               {"itemsPerPage", page.size()},
               {"Resources", page}};
  return {200, body, "", "", 0};
}

ScimReply ScimService::get_user(const std::string& id) {
  auto u = s_.scim().find_user(id);
  if (!u) return fail(u.error());
  if (!*u) return fail(404, "", "no user " + id);
  return {200, render(**u), "", etag_of((*u)->version), 0};
}

Status ScimService::hr_events(const policy::ScimUser& u, const json* before, const std::string& client,
                              const std::string& why, json& audit) {
  const json& after = u.resource;
  const bool was_active = before != nullptr && scim::active(*before).value_or(true);
  const bool is_active = scim::active(after).value_or(before == nullptr || was_active);
  std::vector<policy::HrType> types;
  if (before == nullptr) {
    types.push_back(policy::HrType::kJoiner);
    if (!is_active) types.push_back(policy::HrType::kLeaver);
  } else if (was_active && !is_active) {
    types.push_back(policy::HrType::kLeaver);
  } else if (!was_active && is_active) {
    types.push_back(policy::HrType::kJoiner);
  } else if (is_active && (scim::department(*before) != scim::department(after) ||
                           scim::work_email(*before) != scim::work_email(after))) {
    types.push_back(policy::HrType::kMover);
  }
  for (auto type : types) {
    const std::string id = "scim:" + u.id + ":" + std::to_string(u.version) + ":" + policy::to_string(type);
    if (auto st = hr_event(u, type, id, client, why, audit); !st) return st;
  }
  return {};
}

Status ScimService::hr_event(const policy::ScimUser& u, policy::HrType type, const std::string& event_id,
                             const std::string& client, const std::string& why, json& audit) {
  policy::HrEvent e;
  e.event_id = event_id;
  e.type = type;
  e.employee_id = u.employee_id;
  e.username = u.person;
  e.email = scim::work_email(u.resource);
  e.department = scim::department(u.resource);
  e.effective_at = s_.clock().now();
  if (!s_.config().scim_group_roles.empty() && type != policy::HrType::kLeaver) {
    auto groups = mapped_groups(u.id);
    if (!groups) return groups.error();
    e.group_roles = roles_of(*groups);
  }
  auto collect = [&](const std::string& user, const std::string& message, bool left) {
    changes_.emplace_back(user, message.empty() || !left ? message : message + " (SCIM: " + why + ")", left);
  };
  // SECURITY: a provider deactivating many people at once (a mistake, or a
  // stolen token) meets the same circuit breaker as an HR file.
  HrLineOutcome o = type == policy::HrType::kLeaver
                        ? s_.hr().apply_single_leaver(e, "scim:" + client, "scim:" + client, collect)
                        : s_.hr().apply_single(e, "scim:" + client, collect);
  audit["hr"].push_back(
      {{"event_id", e.event_id}, {"type", policy::to_string(type)}, {"outcome", o.outcome}, {"detail", o.detail}});
  if (o.outcome == "rejected") {
    return make_error(ErrorCode::kInvalid, "HR refused the " + policy::to_string(type) + ": " + o.detail);
  }
  if (o.outcome == "error" || o.outcome == "duplicate") return make_error(o.detail);
  return {};
}

Result<std::vector<std::string>> ScimService::mapped_groups(const std::string& user_id) {
  auto all = s_.scim().groups_of(user_id);
  if (!all) return all.error();
  std::vector<std::string> out;
  for (const auto& g : *all) {
    if (s_.config().scim_group_roles.contains(g)) out.push_back(g);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::map<std::string, std::vector<std::string>>> ScimService::mapped_groups_of(
    const std::vector<std::string>& user_ids) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& id : user_ids) {
    if (out.contains(id)) continue;
    auto groups = mapped_groups(id);
    if (!groups) return groups.error();
    out[id] = std::move(*groups);
  }
  return out;
}

std::vector<std::string> ScimService::roles_of(const std::vector<std::string>& groups) const {
  std::vector<std::string> roles;
  for (const auto& g : groups) {
    auto it = s_.config().scim_group_roles.find(g);
    if (it == s_.config().scim_group_roles.end()) continue;
    for (const auto& r : it->second) {
      if (std::find(roles.begin(), roles.end(), r) == roles.end()) roles.push_back(r);
    }
  }
  std::sort(roles.begin(), roles.end());
  return roles;
}

Status ScimService::group_events(const std::map<std::string, std::vector<std::string>>& before,
                                 const std::string& client, const std::string& tag, const std::string& why,
                                 json& audit) {
  for (const auto& [user_id, was] : before) {
    auto now = mapped_groups(user_id);
    if (!now) return now.error();
    if (*now == was) continue;
    auto u = s_.scim().find_user(user_id);
    if (!u) return u.error();
    if (!*u || scim::active((*u)->resource) == false) continue;  // gone, or a leaver already
    const bool none_left = !was.empty() && now->empty();
    const policy::HrType type = none_left ? policy::HrType::kLeaver : policy::HrType::kMover;
    const std::string id = "scim:" + user_id + ":g:" + tag + ":" + policy::to_string(type);
    if (auto st = hr_event(**u, type, id, client, none_left ? why + ": in no mapped group any more" : why, audit);
        !st) {
      return st;
    }
  }
  return {};
}

ScimReply ScimService::create_user(const ScimRequest& r, const std::string& client, json& audit) {
  json in = json::parse(r.body, nullptr, false);
  if (in.is_discarded()) return fail(400, "invalidSyntax", "the body is not JSON");
  auto doc = scim::read_user(in);
  if (!doc) return fail(doc.error());
  auto person_name = scim::person_name_for(scim::user_name(*doc));
  if (!person_name) return fail(person_name.error());
  auto taken = s_.scim().find_users({scim::IndexedLookup::Key::kUserName, scim::user_name(*doc)});
  if (!taken) return fail(taken.error());
  if (!taken->empty())
    return fail(409, "uniqueness", "userName " + scim::user_name(*doc) + " exists (id " + taken->front().id + ")");

  policy::ScimUser u;
  u.id = new_uuid();
  u.person = *person_name;
  u.client = client;
  u.resource = *doc;
  u.version = 1;
  u.created_at = u.updated_at = s_.clock().now();
  const std::string number = scim::employee_number(*doc);
  auto person = s_.policy().find_person(u.person);
  if (!person) return fail(person.error());
  bool link = false;
  if (*person) {
    const policy::Person& p = **person;
    if (p.service_account) {
      return fail(
          409, "uniqueness",
          "userName " + scim::user_name(*doc) + " names service account " + p.name + ", which SCIM does not manage");
    }
    auto linked = s_.scim().find_user_by_person(p.name);
    if (!linked) return fail(linked.error());
    if (*linked) {
      return fail(409, "uniqueness",
                  "person " + p.name + " is provisioned already as userName " + scim::user_name((*linked)->resource) +
                      " (id " + (*linked)->id + ")");
    }
    if (p.employee_id.empty() || (p.employee_id.rfind("scim:", 0) == 0 && !number.empty())) {
      u.employee_id = number.empty() ? "scim:" + u.id : number;
    } else if (number.empty() || number == p.employee_id || p.employee_id.rfind("scim:", 0) == 0) {
      u.employee_id = p.employee_id;
    } else {
      return fail(409, "uniqueness",
                  "person " + p.name + " is employee " + p.employee_id + ", not employeeNumber " + number);
    }
    link = true;
  } else {
    u.employee_id = number.empty() ? "scim:" + u.id : number;
  }
  audit["id"] = u.id;
  audit["person"] = u.person;
  audit["employee_id"] = u.employee_id;
  if (link) audit["linked"] = true;
  return commit(
      r, client, audit, 201, (link ? "linked " : "created ") + u.person + " as userName " + scim::user_name(u.resource),
      u.person,
      [&]() -> Status {
        if (link && u.employee_id != (*person)->employee_id) {
          if (auto set = s_.policy().set_person_details(u.person, std::nullopt, u.employee_id); !set) return set;
        }
        if (auto hr = hr_events(u, nullptr, client, "user " + u.id + " created", audit); !hr) return hr;
        if (auto ins = s_.scim().insert_user(u); !ins) return ins;
        return {};
      },
      ScimReply{201, render(u), base_ + "/Users/" + u.id, etag_of(u.version), 0});
}

ScimReply ScimService::change_user(const ScimRequest& r, const std::string& id, const std::string& client,
                                   json& audit) {
  auto found = s_.scim().find_user(id);
  if (!found) return fail(found.error());
  if (!*found) return fail(404, "", "no user " + id);
  policy::ScimUser u = **found;
  audit["person"] = u.person;
  if (auto refused = stale(r, u.version)) return *refused;
  json in = json::parse(r.body, nullptr, false);
  if (in.is_discarded()) return fail(400, "invalidSyntax", "the body is not JSON");
  json after;
  if (r.method == "PUT") {
    auto doc = scim::read_user(in);
    if (!doc) return fail(doc.error());
    after = scim::merge_put(u.resource, *doc);
  } else {
    auto doc = scim::apply_patch(u.resource, in);
    if (!doc) return fail(doc.error());
    after = *doc;
  }
  if (after == u.resource) return {200, render(u), "", etag_of(u.version), 0};
  if (scim::user_name(after) != scim::user_name(u.resource)) {
    auto taken = s_.scim().find_users({scim::IndexedLookup::Key::kUserName, scim::user_name(after)});
    if (!taken) return fail(taken.error());
    for (const auto& other : *taken) {
      if (other.id != u.id)
        return fail(409, "uniqueness", "userName " + scim::user_name(after) + " exists (id " + other.id + ")");
    }
  }
  const json before = u.resource;
  u.resource = after;
  ++u.version;
  u.updated_at = s_.clock().now();
  return commit(
      r, client, audit, 200, "updated " + u.person + " (" + r.method + ")", u.person,
      [&]() -> Status {
        if (auto hr = hr_events(u, &before, client, r.method + " of user " + u.id, audit); !hr) return hr;
        if (auto up = s_.scim().update_user(u); !up) return up;
        audit["version"] = u.version;
        return {};
      },
      ScimReply{200, render(u), "", etag_of(u.version), 0});
}

ScimReply ScimService::delete_user(const ScimRequest& r, const std::string& id, const std::string& client,
                                   json& audit) {
  auto found = s_.scim().find_user(id);
  if (!found) return fail(found.error());
  if (!*found) return fail(404, "", "no user " + id);
  policy::ScimUser u = **found;
  audit["person"] = u.person;
  if (auto refused = stale(r, u.version)) return *refused;
  const json before = u.resource;
  u.resource["active"] = false;
  ++u.version;
  return commit(
      r, client, audit, 204, "deleted user " + u.id + " (" + u.person + ")", u.person,
      [&]() -> Status {
        if (auto hr = hr_events(u, &before, client, "user " + u.id + " deleted", audit); !hr) return hr;
        if (auto out = s_.scim().remove_memberships(u.id); !out) return out;
        if (auto del = s_.scim().delete_user(u.id); !del) return del;
        return {};
      },
      ScimReply{204, nullptr, "", "", 0});
}

}  // namespace bastion::gateway

namespace bastion::gateway {
namespace {

bool excludes_members(const ScimRequest& r) {
  auto it = r.query.find("excludedAttributes");
  if (it == r.query.end()) return false;
  std::string v = it->second;
  for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return v.find("members") != std::string::npos;
}

nlohmann::json with_members(const policy::ScimGroup& g) {
  nlohmann::json doc = g.resource;
  if (!g.members.empty()) {
    doc["members"] = nlohmann::json::array();
    for (const auto& m : g.members) doc["members"].push_back({{"value", m}});
  }
  return doc;
}

}  // namespace

nlohmann::json ScimService::render(const policy::ScimGroup& g, bool members) const {
  nlohmann::json j = g.resource;
  j["id"] = g.id;
  j["schemas"] = nlohmann::json::array({policy::scim::kGroupSchema});
  if (members && !g.members.empty()) {
    j["members"] = nlohmann::json::array();
    for (const auto& m : g.members) j["members"].push_back({{"value", m}});
  }
  j["meta"] = {{"resourceType", "Group"},
               {"created", format_utc(g.created_at)},
               {"lastModified", format_utc(g.updated_at)},
               {"version", etag_of(g.version)},
               {"location", base_ + "/Groups/" + g.id}};
  return j;
}

ScimReply ScimService::list_groups(const ScimRequest& r) {
  int64_t start = std::max<int64_t>(1, number_param(r.query, "startIndex", 1));
  int64_t count = std::clamp<int64_t>(number_param(r.query, "count", kMaxResults), 0, kMaxResults);
  const bool members = !excludes_members(r);
  Result<std::vector<policy::ScimGroup>> candidates = std::vector<policy::ScimGroup>{};
  policy::scim::Filter filter;
  auto filter_it = r.query.find("filter");
  if (filter_it != r.query.end() && !filter_it->second.empty()) {
    auto f = policy::scim::parse_filter(filter_it->second);
    if (!f) return fail(f.error());
    filter = *f;
    auto lookup = policy::scim::indexed_lookup(filter);
    if (lookup && lookup->key == policy::scim::IndexedLookup::Key::kExternalId) {
      candidates = s_.scim().find_groups(true, lookup->value);
    } else if (auto name = policy::scim::display_name_lookup(filter)) {
      candidates = s_.scim().find_groups(false, *name);
    } else {
      candidates = s_.scim().list_groups(0, 0);
    }
  } else {
    candidates = s_.scim().list_groups(0, 0);
  }
  if (!candidates) return fail(candidates.error());
  std::vector<nlohmann::json> page;
  int64_t total = 0;
  size_t bytes = 0;
  for (const auto& g : *candidates) {
    if (filter && !policy::scim::matches(filter, render(g, true))) continue;
    ++total;
    if (total < start || static_cast<int64_t>(page.size()) >= count) continue;
    nlohmann::json j = render(g, members);
    bytes += j.dump().size() + 1;
    if (bytes > kMaxListBytes) {
      if (page.empty()) {
        return fail(400, "tooMany",
                    "group " + g.id + " has " + std::to_string(g.members.size()) +
                        " members, more than one answer holds; ask with excludedAttributes=members");
      }
      count = static_cast<int64_t>(page.size());  // the rest on the next page
      continue;
    }
    page.push_back(std::move(j));
  }
  nlohmann::json body = {{"schemas", nlohmann::json::array({policy::scim::kListSchema})},
                         {"totalResults", total},
                         {"startIndex", start},
                         {"itemsPerPage", page.size()},
                         {"Resources", page}};
  return {200, body, "", "", 0};
}

ScimReply ScimService::get_group(const ScimRequest& r, const std::string& id) {
  auto g = s_.scim().find_group(id);
  if (!g) return fail(g.error());
  if (!*g) return fail(404, "", "no group " + id);
  nlohmann::json j = render(**g, !excludes_members(r));
  if (j.dump().size() > kMaxListBytes) {
    return fail(400, "tooMany",
                "group " + id + " has " + std::to_string((*g)->members.size()) +
                    " members, more than one answer holds; ask with excludedAttributes=members");
  }
  return {200, j, "", etag_of((*g)->version), 0};
}

ScimReply ScimService::create_group(const ScimRequest& r, const std::string& client, nlohmann::json& audit) {
  nlohmann::json in = nlohmann::json::parse(r.body, nullptr, false);
  if (in.is_discarded()) return fail(400, "invalidSyntax", "the body is not JSON");
  auto doc = policy::scim::read_group(in);
  if (!doc) return fail(doc.error());
  policy::ScimGroup g;
  g.id = new_uuid();
  g.client = client;
  g.members = policy::scim::member_ids(*doc);
  g.resource = *doc;
  g.resource.erase("members");
  g.created_at = g.updated_at = s_.clock().now();
  audit["id"] = g.id;
  audit["group"] = policy::scim::display_name(g.resource);
  auto before = mapped_groups_of(g.members);
  if (!before) return fail(before.error());
  return commit(
      r, client, audit, 201,
      "created group " + audit["group"].get<std::string>() + " with " + std::to_string(g.members.size()) + " members",
      "",
      [&]() -> Status {
        if (auto ins = s_.scim().insert_group(g); !ins) return ins;
        if (auto hr = group_events(*before, client, g.id + ":1", "added to group " + audit["group"].get<std::string>(),
                                   audit);
            !hr) {
          return hr;
        }
        return {};
      },
      ScimReply{201, render(g, true), base_ + "/Groups/" + g.id, "W/\"1\"", 0});
}

ScimReply ScimService::change_group(const ScimRequest& r, const std::string& id, const std::string& client,
                                    nlohmann::json& audit) {
  auto found = s_.scim().find_group(id);
  if (!found) return fail(found.error());
  if (!*found) return fail(404, "", "no group " + id);
  policy::ScimGroup g = **found;
  const std::string etag = etag_of(g.version);
  if (auto refused = stale(r, g.version)) return *refused;
  nlohmann::json in = nlohmann::json::parse(r.body, nullptr, false);
  if (in.is_discarded()) return fail(400, "invalidSyntax", "the body is not JSON");
  const nlohmann::json current = with_members(g);
  nlohmann::json after;
  if (r.method == "PUT") {
    auto doc = policy::scim::read_group(in);
    if (!doc) return fail(doc.error());
    after = policy::scim::merge_put(current, *doc);
  } else {
    auto doc = policy::scim::apply_group_patch(current, in);
    if (!doc) return fail(doc.error());
    after = *doc;
  }
  audit["group"] = policy::scim::display_name(after);
  // PATCH answers 200 with the group (Entra accepts 204 too); members stay out of the audit record.
  if (after == current) return {200, render(g, !excludes_members(r)), "", etag, 0};
  std::vector<std::string> affected = g.members;
  for (const auto& m : policy::scim::member_ids(after)) affected.push_back(m);
  auto before = mapped_groups_of(affected);
  if (!before) return fail(before.error());
  const size_t had = g.members.size();
  g.members = policy::scim::member_ids(after);
  g.resource = after;
  g.resource.erase("members");
  ++g.version;
  g.updated_at = s_.clock().now();
  audit["members_before"] = had;
  audit["members_after"] = g.members.size();
  return commit(
      r, client, audit, 200, "updated group " + policy::scim::display_name(g.resource) + " (" + r.method + ")", "",
      [&]() -> Status {
        if (auto up = s_.scim().update_group(g); !up) return up;
        if (auto hr = group_events(*before, client, g.id + ":" + std::to_string(g.version),
                                   "group " + policy::scim::display_name(g.resource) + " changed", audit);
            !hr) {
          return hr;
        }
        return {};
      },
      ScimReply{200, render(g, !excludes_members(r)), "", etag_of(g.version), 0});
}

ScimReply ScimService::delete_group(const ScimRequest& r, const std::string& id, const std::string& client,
                                    nlohmann::json& audit) {
  auto found = s_.scim().find_group(id);
  if (!found) return fail(found.error());
  if (!*found) return fail(404, "", "no group " + id);
  const policy::ScimGroup g = **found;
  audit["group"] = policy::scim::display_name(g.resource);
  auto before = mapped_groups_of(g.members);
  if (!before) return fail(before.error());
  return commit(
      r, client, audit, 204, "deleted group " + policy::scim::display_name(g.resource), "",
      [&]() -> Status {
        if (auto del = s_.scim().delete_group(g.id); !del) return del;
        if (auto hr = group_events(*before, client, g.id + ":deleted",
                                   "group " + policy::scim::display_name(g.resource) + " deleted", audit);
            !hr) {
          return hr;
        }
        return {};
      },
      ScimReply{204, nullptr, "", "", 0});
}

}  // namespace bastion::gateway
