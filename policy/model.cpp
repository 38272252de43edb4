#include "policy/model.h"

namespace bastion::policy {

std::string to_string(PersonState s) {
  switch (s) {
    case PersonState::kActive: return "active";
    case PersonState::kDisabled: return "disabled";
    case PersonState::kLeft: return "left";
    case PersonState::kPending: return "pending";
  }
  return "unknown";
}

bool parse_person_state(const std::string& text, PersonState& out) {
  if (text == "active") out = PersonState::kActive;
  else if (text == "disabled") out = PersonState::kDisabled;
  else if (text == "left") out = PersonState::kLeft;
  else if (text == "pending") out = PersonState::kPending;
  else return false;
  return true;
}

bool is_valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] == '-' || name[0] == '.') return false;
  for (char c : name) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<StepUpRule> parse_step_up(std::string_view text) {
  StepUpRule r;
  if (text == "none") {
    r.kind = StepUpRule::Kind::kNone;
    r.max_age = 0;
    return r;
  }
  if (text == "per-session") {
    r.kind = StepUpRule::Kind::kPerSession;
    r.max_age = 0;
    return r;
  }
  auto d = parse_duration(text);
  if (!d || *d <= 0) {
    return make_error("step-up must be none, per-session or a duration such as 12h (got '" +
                      std::string(text.substr(0, 32)) + "')");
  }
  r.kind = StepUpRule::Kind::kMaxAge;
  r.max_age = *d;
  return r;
}

std::string to_string(const StepUpRule& r) {
  switch (r.kind) {
    case StepUpRule::Kind::kNone: return "none";
    case StepUpRule::Kind::kPerSession: return "per-session";
    case StepUpRule::Kind::kMaxAge: return format_duration(r.max_age);
  }
  return "per-session";
}

StepUpRule stricter(const StepUpRule& a, const StepUpRule& b) {
  using K = StepUpRule::Kind;
  if (a.kind == K::kPerSession || b.kind == K::kNone) return a;
  if (b.kind == K::kPerSession || a.kind == K::kNone) return b;
  return a.max_age <= b.max_age ? a : b;
}

bool step_up_satisfied(const StepUpRule& rule, std::optional<Micros> last, bool this_session, Micros now) {
  switch (rule.kind) {
    case StepUpRule::Kind::kNone: return true;
    case StepUpRule::Kind::kPerSession: return this_session;
    case StepUpRule::Kind::kMaxAge: return this_session || (last && *last <= now && now - *last <= rule.max_age);
  }
  return false;
}

std::string certificate_principal(const Target& t, const std::string& login) {
  return t.principals == "login@target" ? login + "@" + t.name : login;
}

bool is_console_role(const std::string& text) { return text.empty() || text == "auditor" || text == "admin"; }

}  // namespace bastion::policy
