// Notifier, load_notify_secrets, deliver (gateway/app/notifications.h).
#include "gateway/app/notifications.h"

#include <algorithm>

#include "common/files.h"
#include "notify/transport.h"

namespace bastion::gateway {
namespace {

struct Draft {
  std::string kind;
  std::string customer;  // routes per customer
  std::string thread;    // the request id, else the action
  std::vector<std::string> recipients;
  std::string recipients_note;  // why there are none, for `notify list`
  std::string subject, body, link;
  nlohmann::json facts = nlohmann::json::object();
};

std::string text_of(const nlohmann::json& d, const char* key) {
  auto it = d.find(key);
  return it != d.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string gateway_name(const Config& cfg) { return cfg.public_name.empty() ? "GATEWAY" : cfg.public_name; }

// The console page of a request; "" without a console.
std::string request_link(const Config& cfg, const std::string& request_id) {
  if (cfg.public_url.empty() || request_id.empty()) return "";
  return cfg.public_url + "/console/requests/" + request_id;
}

// How to open it: the link, or the command when there is no console.
std::string where(const std::string& link, const std::string& command) {
  return link.empty() ? "Run: " + command : "Open it in the console (sign in with your security key):\n" + link;
}

void facts_of(Draft& d, const policy::Elevation& e) {
  d.customer = e.customer;
  d.thread = e.id;
  d.facts = {{"request_id", e.id}, {"user", e.user},         {"target", e.target},
             {"login", e.login},   {"customer", e.customer}, {"reason", e.reason}};
  if (!e.grant_id.empty()) d.facts["grant_id"] = e.grant_id;
  if (e.ends_at != 0) d.facts["ends_at"] = format_utc(e.ends_at);
}

}  // namespace

Status Notifier::on_audit(int64_t seq, const std::string& hash, const recorder::AuditEvent& e) {
  using recorder::Outcome;
  const std::string& a = e.action;
  std::string kind;
  if (a == "elevation.request" && e.outcome == Outcome::kAllow) {
    kind = "request";
  } else if (a == "elevation.deny" && e.outcome == Outcome::kInfo) {
    kind = "decided";
  } else if (a == "grant.start" && e.outcome == Outcome::kAllow) {
    kind = "grant_start";
  } else if (a == "elevation.expire") {
    kind = "expired";
  } else if (a == "grant.ending") {
    kind = "grant_ending";
  } else if (a == "elevation.revoke" && e.outcome == Outcome::kInfo) {
    kind = "grant_revoked";
  } else if (a == "elevation.break-glass" && e.outcome == Outcome::kAllow) {
    kind = "break_glass";
  } else if (a == "hr.hold") {
    kind = "hr_held";
  } else if (a == "audit.alert") {
    kind = "audit_alert";
  } else {
    return {};  // most records: nothing to tell
  }
  if (cfg_.smtp_url.empty() && cfg_.notify_webhooks.empty()) return {};  // no channel: nobody to tell
  Draft d;
  d.kind = kind;
  d.thread = a;
  const std::string request_id = text_of(e.details, "request_id");
  std::optional<policy::Elevation> el;
  if (!request_id.empty()) {
    auto found = repo_.find_elevation(request_id);
    if (!found) return found.error();
    el = *found;
  }
  auto add_address = [&](const std::string& email) {
    if (std::find(d.recipients.begin(), d.recipients.end(), email) == d.recipients.end()) d.recipients.push_back(email);
  };
  auto email_of = [&](const std::string& person, std::vector<std::string>& missing) -> Status {
    auto p = repo_.find_person(person);
    if (!p) return p.error();
    if (!*p || (*p)->state == policy::PersonState::kLeft || !notifications::is_email_address((*p)->email)) {
      missing.push_back(person);
      return {};
    }
    add_address((*p)->email);
    return {};
  };
  std::vector<std::string> missing;
  if (kind == "request" || kind == "decided" || kind == "expired" || kind == "grant_start" || kind == "grant_ending" ||
      kind == "grant_revoked" || kind == "break_glass") {
    if (!el) return {};  // a record without its request: nothing to link to
    facts_of(d, *el);
  }
  const std::string gw = gateway_name(cfg_);
  if (kind == "request") {
    auto customer = repo_.find_customer(el->customer);
    if (!customer) return customer.error();
    std::vector<std::string> approvers = *customer ? (*customer)->approvers : std::vector<std::string>{};
    for (const auto& who : approvers)
      if (auto st = email_of(who, missing); !st) return st;
    if (approvers.empty()) d.recipients_note = "customer " + el->customer + " has no approvers";
    // A role that needs internal approvals (four eyes) also asks the holders
    // of its approver role, who otherwise would not know a request waits for
    // them; not the requester (who may not decide on their own request), not
    // a leaver.
    auto role = repo_.find_role(el->role);
    if (!role) return role.error();
    std::string needs = "the consent of customer " + el->customer;
    if (*role && (*role)->internal_approvals > 0 && !(*role)->approver_role.empty()) {
      const policy::Role& r = **role;
      needs += " and " + std::to_string(r.internal_approvals) + " internal approval" +
               (r.internal_approvals == 1 ? "" : "s") + " (role " + r.approver_role + ")";
      auto holders = repo_.holders_of(r.approver_role);
      if (!holders) return holders.error();
      for (const auto& h : *holders) {
        if (h.name == el->user || h.state != policy::PersonState::kActive) continue;
        if (notifications::is_email_address(h.email)) {
          add_address(h.email);
        } else if (std::find(missing.begin(), missing.end(), h.name) == missing.end()) {
          missing.push_back(h.name);
        }
      }
      d.facts["internal_approvals"] = r.internal_approvals;
      d.facts["approver_role"] = r.approver_role;
    }
    d.link = request_link(cfg_, el->id);
    d.subject = "[bastion] " + el->user + " asks for " + el->destination() + " (customer " + el->customer + ")";
    d.body = el->user + " asks for access to " + el->destination() + " for " + format_duration(el->duration) +
             ".\nReason: " + el->reason + "\nIt needs " + needs + ".\nRequest: " + el->id + " (it expires " +
             format_utc_seconds(el->expires_at) + " without a decision)\n\n" +
             where(d.link, "ssh " + gw + " approve " + el->id + "   (or: deny " + el->id + " --reason TEXT)");
  } else if (kind == "decided") {
    if (auto st = email_of(el->user, missing); !st) return st;
    d.link = request_link(cfg_, el->id);
    d.subject = "[bastion] your request for " + el->destination() + " was denied";
    d.body = e.actor + " denied your request " + el->id + " for " + el->destination() + ".\nReason: " + e.reason +
             "\n\n" + where(d.link, "ssh " + gw + " requests");
    d.facts["decided_by"] = e.actor;
    d.facts["decision"] = "denied";
    d.facts["decision_reason"] = e.reason;
  } else if (kind == "expired") {
    if (auto st = email_of(el->user, missing); !st) return st;
    d.link = request_link(cfg_, el->id);
    d.subject = "[bastion] your request for " + el->destination() + " expired without a decision";
    d.body = "Nobody decided on your request " + el->id + " for " + el->destination() + " before it expired at " +
             format_utc_seconds(el->expires_at) + ".\nTo ask again: ssh " + gw + " request " + el->destination() +
             " --for DURATION --reason TEXT\n\n" + where(d.link, "ssh " + gw + " requests");
    d.facts["decision"] = "expired";
  } else if (kind == "grant_start") {
    if (auto st = email_of(el->user, missing); !st) return st;
    d.link = request_link(cfg_, el->id);
    d.subject = "[bastion] access granted: " + el->destination() + " until " + format_utc_seconds(el->ends_at);
    d.body = e.actor + " approved your request " + el->id + ". Grant " + el->grant_id + " lets you use " +
             el->destination() + " from " + format_utc_seconds(el->starts_at) + " until " +
             format_utc_seconds(el->ends_at) + ".\nConnect with: ssh " + el->login + "@" + el->target + "@" + gw +
             "\n\n" + where(d.link, "ssh " + gw + " requests");
    d.facts["decided_by"] = e.actor;
    d.facts["decision"] = "approved";
  } else if (kind == "grant_ending") {
    if (auto st = email_of(el->user, missing); !st) return st;
    d.link = request_link(cfg_, el->id);
    std::string left = text_of(e.details, "warning");
    d.subject = "[bastion] your access to " + el->destination() + " ends in " + left;
    d.body = "Grant " + el->grant_id + " for " + el->destination() + " ends at " + format_utc_seconds(el->ends_at) +
             " (in " + left + "). Live sessions under it end then.\nTo keep working, ask again: ssh " + gw +
             " request " + el->destination() + " --for DURATION --reason TEXT\n\n" +
             where(d.link, "ssh " + gw + " requests");
    d.facts["ends_in"] = left;
  } else if (kind == "grant_revoked") {
    // A grant someone else ended; not a request withdrawn, not one given
    // back by its holder, not a leaver's (nobody to tell).
    if (el->grant_id.empty() || e.actor == el->user) return {};
    auto p = repo_.find_person(el->user);
    if (!p) return p.error();
    if (!*p || (*p)->state != policy::PersonState::kActive) return {};
    if (auto st = email_of(el->user, missing); !st) return st;
    d.link = request_link(cfg_, el->id);
    d.subject = "[bastion] your access to " + el->destination() + " was revoked";
    d.body = e.actor + " revoked grant " + el->grant_id + " for " + el->destination() + ".\nReason: " + e.reason +
             "\nLive sessions under it have ended.\n\n" + where(d.link, "ssh " + gw + " requests");
    d.facts["revoked_by"] = e.actor;
    d.facts["revoke_reason"] = e.reason;
  } else if (kind == "break_glass") {
    d.recipients = cfg_.notify_security;
    if (d.recipients.empty()) d.recipients_note = "[notify] security lists no address";
    d.link = request_link(cfg_, el->id);
    d.subject = "[bastion] BREAK-GLASS: " + el->user + " got " + el->destination() + " without consent";
    d.body = e.actor + " used break-glass: " + el->user + " may use " + el->destination() +
             " without customer consent until " + format_utc_seconds(el->ends_at) + ".\nReason: " + el->reason +
             "\nGrant: " + el->grant_id + "\n\n" + where(d.link, "bastionctl elevate list --break-glass");
    d.facts["administrator"] = e.actor;
  } else if (kind == "hr_held") {
    d.recipients = cfg_.notify_admins;
    if (d.recipients.empty()) d.recipients_note = "[notify] admins lists no address";
    std::string batch = text_of(e.details, "batch_id");
    d.thread = "hr:" + batch;
    d.subject = "[bastion] HR batch held by the circuit breaker" + (batch.empty() ? "" : ": " + batch);
    d.body = e.reason + "\n\nNobody in it has lost access yet. Review it, then release or discard it:\n" +
             "  bastionctl hr held\n  bastionctl hr release " + (batch.empty() ? "BATCH" : batch) +
             "\n  bastionctl hr discard " + (batch.empty() ? "BATCH" : batch);
    d.facts = {{"batch", batch}, {"reason", e.reason}};
  } else if (kind == "audit_alert") {
    d.recipients = cfg_.notify_security;
    if (d.recipients.empty()) d.recipients_note = "[notify] security lists no address";
    d.link = cfg_.public_url.empty() ? "" : cfg_.public_url + "/console/audit";
    d.subject = "[bastion] audit alert: " + e.reason.substr(0, 120);
    d.body = e.reason + "\n\nCheck the chain: bastionctl audit verify\n" +
             (d.link.empty() ? std::string() : "The audit log in the console: " + d.link + "\n");
    d.facts = {{"reason", e.reason}, {"details", e.details}};
  }
  if (!missing.empty() && d.recipients_note.empty()) {
    std::string names;
    for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m;
    d.recipients_note = "no e-mail address for " + names + " (bastionctl user set NAME --email ADDRESS)";
  }
  d.facts["kind"] = kind;
  d.facts["audit_seq"] = seq;
  if (!d.recipients_note.empty()) d.facts["recipients_note"] = d.recipients_note;
  int n = 0;
  const Micros now = clock_.now();
  for (const auto& channel : cfg_.notify_channels(kind, d.customer)) {
    notifications::Notification out;
    out.seq = seq;
    out.n = ++n;
    out.key = "bastion-" + hash.substr(0, 24) + "-" + std::to_string(out.n);
    out.kind = kind;
    out.channel = channel;
    if (channel == "email") out.recipients = d.recipients;
    out.thread = d.thread;
    out.subject = d.subject;
    out.body = d.body;
    out.link = d.link;
    out.facts = d.facts;
    out.created_at = now;
    if (auto st = outbox_.add(out); !st) return st;
  }
  return {};
}

Result<int> Notifier::warn_ending(recorder::AuditLog& audit) {
  if (cfg_.notify_ending_soon.empty() || (cfg_.smtp_url.empty() && cfg_.notify_webhooks.empty())) return 0;
  auto all = repo_.list_elevations("", true);
  if (!all) return all.error();
  std::vector<Micros> before = cfg_.notify_ending_soon;
  std::sort(before.begin(), before.end());  // smallest first
  const Micros now = clock_.now();
  int recorded = 0;
  for (const auto& e : *all) {
    if (!e.active_at(now)) continue;
    // The smallest threshold that has come, and that the grant lived to see
    // (a 5-minute grant gets no 10-minute warning).
    const Micros left = e.ends_at - now;
    std::optional<Micros> due;
    for (Micros b : before) {
      if (left <= b && e.ends_at - b >= e.starts_at) {
        due = b;
        break;
      }
    }
    if (!due) continue;
    Status st = audit.atomically([&]() -> Status {
      // Every threshold at or above the due one is spent: no 10-minute
      // warning after the 1-minute one.
      bool fresh = false;
      for (Micros b : before) {
        if (b < *due) continue;
        auto marked = outbox_.mark_once("grant-ending:" + e.grant_id + ":" + std::to_string(b / kMicrosPerSecond), now);
        if (!marked) return marked.error();
        if (b == *due) fresh = *marked;
      }
      if (!fresh) return {};
      recorder::AuditEvent ev;
      ev.actor = "system";
      ev.action = "grant.ending";
      ev.reason = "grant " + e.grant_id + " for " + e.user + " ends at " + format_utc_seconds(e.ends_at);
      ev.target = e.target;
      ev.login = e.login;
      ev.details = {{"request_id", e.id},
                    {"grant_id", e.grant_id},
                    {"user", e.user},
                    {"ends_at", format_utc(e.ends_at)},
                    {"warning", format_duration(*due)}};
      auto r = audit.append(ev);
      if (!r) return r.error();
      ++recorded;
      return {};
    });
    if (!st) return st.error();
  }
  return recorded;
}

Result<NotifySecrets> load_notify_secrets(const Config& cfg) {
  NotifySecrets s;
  auto trimmed = [](std::string v) {
    while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
    return v;
  };
  if (!cfg.smtp_password_file.empty()) {
    auto p = read_file(cfg.smtp_password_file, 4096);
    if (!p) return make_error("[notify.email] password_file: " + p.error().message);
    s.smtp_password = trimmed(*p);
  }
  for (const auto& [name, hook] : cfg.notify_webhooks) {
    auto k = read_file(hook.secret_file, 4096);
    if (!k) return make_error("[notify.webhooks." + name + "] secret_file: " + k.error().message);
    s.webhook_secrets[name] = trimmed(*k);
    if (s.webhook_secrets[name].size() < 16) {
      return make_error("[notify.webhooks." + name + "] secret_file: the key must be at least 16 characters");
    }
    if (!hook.ca_file.empty()) {
      auto pem = read_file(hook.ca_file, 1 << 20);
      if (!pem) return make_error("[notify.webhooks." + name + "] ca_file: " + pem.error().message);
      s.webhook_ca_pems[name] = *pem;
    }
  }
  if (!cfg.smtp_ca_file.empty()) {
    auto pem = read_file(cfg.smtp_ca_file, 1 << 20);
    if (!pem) return make_error("[notify.email] ca_file: " + pem.error().message);
    s.smtp_ca_pem = *pem;
  }
  return s;
}

Result<nlohmann::json> delivery_job(const Config& cfg, const NotifySecrets& secrets,
                                    const notifications::Notification& n, Micros now) {
  if (n.channel == "email") {
    if (cfg.smtp_url.empty()) return make_error(ErrorCode::kInvalid, "e-mail is not configured ([notify.email])");
    std::vector<std::string> to;
    for (const auto& r : n.recipients)
      if (notifications::is_email_address(r)) to.push_back(r);
    if (to.empty()) {
      std::string note = n.facts.contains("recipients_note") && n.facts["recipients_note"].is_string()
                             ? n.facts["recipients_note"].get<std::string>()
                             : std::string("no recipient");
      return make_error(ErrorCode::kInvalid, "nobody to send it to: " + note);
    }
    std::string text = n.body + "\n\n-- \nbastion, " + gateway_name(cfg) + ". " +
                       (n.seq > 0 ? "Notification " + n.id() + ", key " : std::string("Key ")) + n.key;
    return nlohmann::json{{"channel", "email"},
                          {"url", cfg.smtp_url},
                          {"starttls", cfg.smtp_starttls},
                          {"from", cfg.smtp_from},
                          {"username", cfg.smtp_username},
                          {"password", secrets.smtp_password},
                          {"ca_pem", secrets.smtp_ca_pem},
                          {"to", to},
                          {"subject", n.subject},
                          {"text", text},
                          {"key", n.key},
                          {"now", now}};
  }
  if (n.channel.rfind("webhook:", 0) == 0) {
    std::string name = n.channel.substr(8);
    auto hook = cfg.notify_webhooks.find(name);
    auto secret = secrets.webhook_secrets.find(name);
    if (hook == cfg.notify_webhooks.end() || secret == secrets.webhook_secrets.end()) {
      return make_error(ErrorCode::kInvalid, "webhook " + name + " is not configured ([notify.webhooks." + name + "])");
    }
    auto format = notifications::parse_webhook_format(hook->second.format);
    if (!format) return format.error();
    auto ca = secrets.webhook_ca_pems.find(name);
    return nlohmann::json{{"channel", "webhook"},
                          {"url", hook->second.url},
                          {"secret", secret->second},
                          {"ca_pem", ca == secrets.webhook_ca_pems.end() ? std::string() : ca->second},
                          {"key", n.key},
                          {"body", notifications::webhook_body(
                                       *format, {n.key, n.kind, n.subject, n.body, n.link, n.facts, n.created_at})},
                          {"now", now}};
  }
  return make_error(ErrorCode::kInvalid, "unknown channel " + n.channel);
}

Status perform_delivery(const nlohmann::json& job, const std::function<bool()>& cancelled) {
  try {
    const Micros now = job.at("now").get<Micros>();
    if (job.at("channel") == "email") {
      notifications::SmtpSettings s;
      s.url = job.at("url").get<std::string>();
      s.starttls = job.at("starttls").get<bool>();
      s.from = job.at("from").get<std::string>();
      s.username = job.at("username").get<std::string>();
      s.password = job.at("password").get<std::string>();
      s.ca_pem = job.at("ca_pem").get<std::string>();
      s.cancelled = cancelled;
      return notifications::send_email(
          s,
          {job.at("to").get<std::vector<std::string>>(), job.at("subject").get<std::string>(),
           job.at("text").get<std::string>(), job.at("key").get<std::string>()},
          now);
    }
    notifications::WebhookSettings s;
    s.url = job.at("url").get<std::string>();
    s.secret = job.at("secret").get<std::string>();
    s.ca_pem = job.at("ca_pem").get<std::string>();
    s.cancelled = cancelled;
    return notifications::post_webhook(s, job.at("key").get<std::string>(), job.at("body").get<std::string>(), now);
  } catch (const nlohmann::json::exception& e) {
    return make_error(ErrorCode::kInvalid, std::string("malformed delivery job: ") + e.what());
  }
}

Status deliver(const Config& cfg, const NotifySecrets& secrets, const notifications::Notification& n, Micros now,
               const std::function<bool()>& cancelled) {
  auto job = delivery_job(cfg, secrets, n, now);
  if (!job) return job.error();
  return perform_delivery(*job, cancelled);
}

}  // namespace bastion::gateway
