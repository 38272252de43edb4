#include "gateway/sshd/command_mode.h"

#include <sstream>

#include "common/strings.h"
#include "policy/decision.h"

namespace bastion::gateway {
namespace {

using policy::Elevation;
using policy::ElevationState;

// Never echo control characters back to a terminal.
std::string printable(std::string s, size_t max = 64) {
  if (s.size() > max) s = s.substr(0, max) + "...";
  for (auto& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return s;
}

CommandResult usage(const std::string& text) { return {"error: " + text + "\n", 2, false}; }
CommandResult refused(const std::string& reason) { return {"denied: " + reason + "\n", 1, false}; }

CommandResult help(const CommandContext& ctx) {
  const std::string& gw = ctx.gateway_host;
  return {
      "commands:\n"
      "  targets                     where you can go now, and what you may request\n"
      "  whoami                      who the gateway thinks you are, and how you logged in\n"
      "  request LOGIN@TARGET --for DURATION --reason TEXT\n"
      "                              ask a customer for time-limited access (e.g. --for 30m)\n"
      "  requests                    requests waiting for your decision, and your own\n"
      "  approve ID [--for DURATION] consent to a request (optionally for less time)\n"
      "  deny ID --reason TEXT       refuse a request, saying why\n"
      "  revoke ID [--reason TEXT]   end a grant or withdraw a request\n"
      "  grants                      your active grants and when they end\n"
      "  confirm-key CODE            confirm the security key you registered from an invitation\n"
      "                              (CODE was shown on the registration page)\n"
      "  help                        this text\n"
      "  exit                        leave (interactive mode)\n"
      "to connect: ssh LOGIN@TARGET@" +
          gw + "\n",
      0, false};
}

CommandResult whoami(CommandContext& ctx) {
  const auto& p = *ctx.person;
  std::ostringstream os;
  os << "person:  " << p.name << "\n"
     << "state:   " << policy::to_string(p.state) << "\n"
     << "roles:   " << (p.roles.empty() ? "(none)" : join(p.roles, ", ")) << "\n"
     << "key:     " << ctx.key_fingerprint << "\n"
     << "from:    " << ctx.source << "\n";
  return {os.str(), 0, false};
}

CommandResult targets(CommandContext& ctx) {
  auto roles = ctx.repo->roles_of(*ctx.person);
  auto all = ctx.repo->list_targets();
  auto mine = ctx.repo->list_elevations(ctx.person->name, true);
  if (!roles || !all || !mine) return {"error: cannot read policy right now\n", 1, false};
  Micros now = ctx.clock->now();
  std::ostringstream os;
  int n = 0;
  for (const auto& t : *all) {
    auto logins = policy::logins_for(*roles, t);
    for (const auto& e : *mine) {
      if (e.target == t.name && e.active_at(now) && std::find(logins.begin(), logins.end(), e.login) == logins.end()) {
        logins.push_back(e.login);
      }
    }
    auto requestable = policy::requestable_logins(*roles, t);
    if (logins.empty() && requestable.empty()) continue;
    os << t.name;
    if (!logins.empty()) {
      os << "  logins: " << join(logins, ",") << "  e.g. ssh " << logins.front() << "@" << t.name << "@"
         << ctx.gateway_host;
    }
    if (!requestable.empty()) {
      os << "  may request: " << join(requestable, ",") << " (customer " << (t.customer.empty() ? "-" : t.customer)
         << ")";
    }
    os << "\n";
    ++n;
  }
  if (n == 0) os << "no targets: you hold no role that selects a target\n";
  return {os.str(), 0, false};
}

// Options after positional words: --for DURATION, --reason TEXT... (the
// reason takes every word up to the next option, because ssh joins the
// remote command's words with spaces and drops the client's quoting).
struct Options {
  std::vector<std::string> positional;
  std::optional<Micros> duration;
  std::optional<std::string> reason;
};

Result<Options> parse_options(const std::vector<std::string>& words, size_t from) {
  Options o;
  for (size_t i = from; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w == "--for") {
      if (i + 1 >= words.size()) return make_error("--for needs a duration (30m, 2h, 90s)");
      auto d = parse_duration(words[++i]);
      if (!d) return make_error("--for: " + d.error().message);
      o.duration = *d;
    } else if (w == "--reason") {
      std::string text;
      while (i + 1 < words.size() && words[i + 1] != "--for" && words[i + 1] != "--reason") {
        text += (text.empty() ? "" : " ") + words[++i];
      }
      if (text.empty()) return make_error("--reason needs text");
      o.reason = text;
    } else if (w.rfind("--", 0) == 0) {
      return make_error("unknown option " + printable(w));
    } else {
      o.positional.push_back(w);
    }
  }
  return o;
}

std::string describe(const Elevation& e, Micros now) {
  std::ostringstream os;
  ElevationState st = e.state_at(now);
  os << e.id << "  " << e.user << "  " << e.destination() << "  ";
  switch (st) {
    case ElevationState::kPending: {
      os << "pending (" << format_duration(e.duration) << ", expires " << format_utc_seconds(e.expires_at) << ")";
      int consents = 0;
      for (const auto& a : e.approvals) os << (consents++ ? ", " : "  approved so far by ") << a.approver;
      break;
    }
    case ElevationState::kApproved:
      os << (e.break_glass ? "BREAK-GLASS grant " : "grant ") << e.grant_id << " until "
         << format_utc_seconds(e.ends_at) << " (approved by " << e.decided_by << ")";
      break;
    case ElevationState::kDenied: os << "denied by " << e.decided_by << ": " << e.decision_reason; break;
    case ElevationState::kExpired:
      os << (e.grant_id.empty() ? "expired without a decision" : "grant " + e.grant_id + " expired");
      break;
    case ElevationState::kRevoked:
      os << "revoked by " << e.ended_by << (e.end_reason.empty() ? "" : ": " + e.end_reason);
      break;
  }
  os << "\n      reason: " << e.reason << "\n";
  return os.str();
}

Actor actor_of(const CommandContext& ctx) { return {ctx.person->name, false, ctx.session_id, ctx.source}; }

void changed(CommandContext& ctx) {
  if (ctx.on_elevation_change) ctx.on_elevation_change();
}

CommandResult request(CommandContext& ctx, const std::vector<std::string>& words) {
  auto o = parse_options(words, 1);
  if (!o) return usage(o.error().message);
  if (o->positional.size() != 1 || !o->duration || !o->reason) {
    return usage("usage: request LOGIN@TARGET --for DURATION --reason TEXT");
  }
  auto e = ctx.elevation->request(actor_of(ctx), o->positional[0], *o->duration, *o->reason);
  if (!e) return refused(e.error().message);
  changed(ctx);
  return {"requested " + e->id + ": " + e->destination() + " for " + format_duration(e->duration) +
              ", waiting for consent from customer " + e->customer + " (expires " + format_utc_seconds(e->expires_at) +
              ")\nsee it with: ssh " + ctx.person->name + "@" + ctx.gateway_host + " requests\n",
          0, false};
}

CommandResult requests(CommandContext& ctx) {
  auto waiting = ctx.elevation->awaiting(ctx.person->name);
  auto mine = ctx.repo->list_elevations(ctx.person->name, false);
  if (!waiting || !mine) return {"error: cannot read requests right now\n", 1, false};
  Micros now = ctx.clock->now();
  std::ostringstream os;
  os << "waiting for your decision:\n";
  if (waiting->empty()) os << "  (none)\n";
  for (const auto& e : *waiting) {
    os << "  " << describe(e, now) << "      approve: ssh " << ctx.person->name << "@" << ctx.gateway_host
       << " approve " << e.id << " [--for DURATION]   deny: ... deny " << e.id << " --reason TEXT\n";
  }
  os << "your requests:\n";
  int n = 0;
  for (const auto& e : *mine) {
    if (n++ >= 20) break;
    os << "  " << describe(e, now);
  }
  if (mine->empty()) os << "  (none)\n";
  return {os.str(), 0, false};
}

CommandResult grants(CommandContext& ctx) {
  auto mine = ctx.repo->list_elevations(ctx.person->name, true);
  if (!mine) return {"error: cannot read grants right now\n", 1, false};
  Micros now = ctx.clock->now();
  std::ostringstream os;
  for (const auto& e : *mine) {
    if (!e.active_at(now)) continue;
    os << e.grant_id << "  " << e.destination() << "  until " << format_utc_seconds(e.ends_at) << " ("
       << format_duration(e.ends_at - now) << " left)  request " << e.id << (e.break_glass ? "  BREAK-GLASS" : "")
       << "\n"
       << "      connect: ssh " << e.destination() << "@" << ctx.gateway_host << "\n";
  }
  if (os.str().empty()) os << "no active grants\n";
  return {os.str(), 0, false};
}

CommandResult decide_cmd(CommandContext& ctx, const std::vector<std::string>& words) {
  const std::string& cmd = words[0];
  auto o = parse_options(words, 1);
  if (!o) return usage(o.error().message);
  if (o->positional.size() != 1) return usage("usage: " + cmd + " ID" + (cmd == "deny" ? " --reason TEXT" : ""));
  const std::string& id = o->positional[0];
  Result<Elevation> e = make_error("unreachable");
  if (cmd == "approve") {
    if (o->reason) return usage("approve takes no --reason");
    // SECURITY: consent is given by a person who just touched their security
    // key, not by whoever holds a copy of their SSH key.
    if (!ctx.require_step_up) return refused("approving needs a security-key step-up, which is not available here");
    // The step-up page names what is approved: who gets which login where,
    // for how long, and why.
    std::string purpose = "approve " + id;
    if (auto found = ctx.repo->find_elevation(id); found && *found) {
      const Elevation& r = **found;
      purpose += ": " + r.user + " gets " + r.login + "@" + r.target + " for " +
                 format_duration(o->duration.value_or(r.duration)) + " (" + r.reason + ")";
    }
    e = ctx.elevation->approve(actor_of(ctx), id, o->duration,
                               [&ctx, &purpose] { return ctx.require_step_up(purpose); });
  } else if (cmd == "deny") {
    if (o->duration) return usage("deny takes no --for");
    if (!o->reason) return usage("usage: deny ID --reason TEXT (the requester sees the reason)");
    e = ctx.elevation->deny(actor_of(ctx), id, *o->reason);
  } else {
    if (o->duration) return usage("revoke takes no --for");
    e = ctx.elevation->revoke(actor_of(ctx), id, o->reason.value_or(""));
  }
  if (!e) return refused(e.error().message);
  changed(ctx);
  Micros now = ctx.clock->now();
  std::string out;
  if (cmd == "approve") {
    out = e->state_at(now) == ElevationState::kApproved
              ? "approved " + e->id + ": grant " + e->grant_id + " lets " + e->user + " use " + e->destination() +
                    " until " + format_utc_seconds(e->ends_at) + "\n"
              : "approval recorded for " + e->id + "; it still needs more approvals\n";
  } else if (cmd == "deny") {
    out = "denied " + e->id + " (" + e->user + " will see your reason)\n";
  } else {
    out = "revoked " + (e->grant_id.empty() ? e->id : e->grant_id) + " (" + e->destination() + " for " + e->user +
          "); its live sessions end now\n";
  }
  return {out, 0, false};
}

CommandResult confirm_key(CommandContext& ctx, const std::vector<std::string>& words) {
  if (words.size() != 2) return usage("usage: confirm-key CODE (the code shown after registering your security key)");
  if (!ctx.confirm_key) return refused("confirming a security key is not available here");
  auto r = ctx.confirm_key(words[1]);
  if (!r) return refused(r.error().message);
  return {*r, 0, false};
}

}  // namespace

Result<std::vector<std::string>> split_words(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quote) {
      if (c == quote) quote = 0;
      else if (c == '\\' && quote == '"' && i + 1 < line.size()) cur += line[++i];
      else cur += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == '\\' && i + 1 < line.size()) {
      cur += line[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word) out.push_back(std::move(cur));
      cur.clear();
      in_word = false;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (quote) return make_error("unterminated quote");
  if (in_word) out.push_back(std::move(cur));
  return out;
}

CommandResult run_command(const std::string& raw, CommandContext& ctx) {
  if (raw.size() > 2048) return usage("command line too long");
  auto words = split_words(raw);
  if (!words) return usage(words.error().message);
  if (words->empty()) return {"", 0, false};
  const std::string& cmd = (*words)[0];
  bool simple = cmd == "help" || cmd == "whoami" || cmd == "targets" || cmd == "exit" || cmd == "quit" ||
                cmd == "logout" || cmd == "requests" || cmd == "grants";
  if (simple && words->size() > 1) return usage(cmd + " takes no arguments (try `help`)");
  if (cmd == "help") return help(ctx);
  if (cmd == "whoami") return whoami(ctx);
  if (cmd == "targets") return targets(ctx);
  if (cmd == "exit" || cmd == "quit" || cmd == "logout") return {"", 0, true};
  if (cmd == "confirm-key") return confirm_key(ctx, *words);
  if (ctx.elevation != nullptr) {
    if (cmd == "request") return request(ctx, *words);
    if (cmd == "requests") return requests(ctx);
    if (cmd == "grants") return grants(ctx);
    if (cmd == "approve" || cmd == "deny" || cmd == "revoke") return decide_cmd(ctx, *words);
  }
  return usage("unknown command '" + printable(cmd) + "' (try `help`)");
}

}  // namespace bastion::gateway
