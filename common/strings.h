// Small text helpers shared by the CLI, command mode and reports.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace bastion {

// The items with `sep` between them ("" for none).
std::string join(const std::vector<std::string>& items, std::string_view sep);

}  // namespace bastion
