#include "core/error.h"

#include <fmt/format.h>

namespace tailtrack {

std::string OneLine(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out += c;
    }
  }
  return out;
}

ConfigError::ConfigError(const std::string& file, Mark mark, const std::string& message)
    : std::runtime_error(OneLine(fmt::format("{}:{}:{}: {}", file, mark.line, mark.column, message))),
      file_(file),
      mark_(mark),
      message_(OneLine(message)) {}

}  // namespace tailtrack
