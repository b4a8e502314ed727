#include "core/error.h"

#include <fmt/format.h>

namespace tailtrack {

ConfigError::ConfigError(const std::string& file, Mark mark, const std::string& message)
    : std::runtime_error(fmt::format("{}:{}:{}: {}", file, mark.line, mark.column, message)),
      file_(file),
      mark_(mark),
      message_(message) {}

}  // namespace tailtrack
