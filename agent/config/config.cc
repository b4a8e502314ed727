#include "config/config.h"

namespace tailtrack {

std::optional<size_t> Config::FindSource(std::string_view name) const {
  for (size_t i = 0; i < sources.size(); ++i) {
    if (sources[i].name == name) return i;
  }
  return std::nullopt;
}

}  // namespace tailtrack
