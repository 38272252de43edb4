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
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace bastion::policy
