// Target selectors used by roles: either a glob on the target name
// ("prod*", "db-?", "*") or a label match "key=value" (value may be a glob).
#pragma once

#include <string>

#include "common/result.h"
#include "policy/model.h"

namespace bastion::policy {

class TargetSelector {
 public:
  static Result<TargetSelector> parse(const std::string& text);
  [[nodiscard]] bool matches(const Target& t) const;
  [[nodiscard]] const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::string label_;    // empty: name glob
  std::string pattern_;  // glob on the name or on the label's value
};

}  // namespace bastion::policy
