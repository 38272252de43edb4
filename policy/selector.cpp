#include "policy/selector.h"

#include <fnmatch.h>

namespace bastion::policy {

Result<TargetSelector> TargetSelector::parse(const std::string& text) {
  if (text.empty() || text.size() > 256) return make_error("target selector must be 1-256 characters");
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == ' ') {
      return make_error("target selector '" + text + "' contains spaces or control characters");
    }
  }
  TargetSelector s;
  s.text_ = text;
  auto eq = text.find('=');
  if (eq == std::string::npos) {
    s.pattern_ = text;
  } else {
    s.label_ = text.substr(0, eq);
    s.pattern_ = text.substr(eq + 1);
    if (!is_valid_name(s.label_) || s.pattern_.empty()) {
      return make_error("target selector '" + text + "': expected a name glob or label=value");
    }
  }
  return s;
}

bool TargetSelector::matches(const Target& t) const {
  if (label_.empty()) return fnmatch(pattern_.c_str(), t.name.c_str(), 0) == 0;
  // The owning customer is selectable like a label (customer=acme, customer=*).
  if (label_ == "customer") return !t.customer.empty() && fnmatch(pattern_.c_str(), t.customer.c_str(), 0) == 0;
  auto it = t.labels.find(label_);
  return it != t.labels.end() && fnmatch(pattern_.c_str(), it->second.c_str(), 0) == 0;
}

}  // namespace bastion::policy
