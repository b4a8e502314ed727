#include "core/error.h"

#include <fmt/format.h>

namespace tailtrack {

namespace {

// A message quotes what the user wrote (a regex, a template), which may hold
// line breaks; the error stays one line, with them written as \n and \r.
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

}  // namespace

ConfigError::ConfigError(const std::string& file, Mark mark, const std::string& message)
    : std::runtime_error(OneLine(fmt::format("{}:{}:{}: {}", file, mark.line, mark.column, message))),
      file_(file),
      mark_(mark),
      message_(OneLine(message)) {}

}  // namespace tailtrack
