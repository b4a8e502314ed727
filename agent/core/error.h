// Errors a user can cause in the configuration.
//
// Exceptions are for the control path only (loading and compiling the
// configuration); the data path reports through return values and counters.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace tailtrack {

// A 1-based position in the configuration file, kept on every parsed value so
// that errors found after loading (rule compilation, files that cannot be
// read) still point at the line that caused them.
struct Mark {
  int line = 0;
  int column = 0;
  bool operator==(const Mark&) const = default;
};

// One readable line: "FILE:LINE:COLUMN: message". Commands print what() and
// exit 78 (EX_CONFIG).
// `text` with its line breaks written as \n and \r: an error quotes what the
// user wrote (a regex, a template, a ${VAR} reference), and stays one line.
std::string OneLine(std::string_view text);

class ConfigError : public std::runtime_error {
 public:
  ConfigError(const std::string& file, Mark mark, const std::string& message);

  const std::string& file() const { return file_; }
  Mark mark() const { return mark_; }
  const std::string& message() const { return message_; }

 private:
  std::string file_;
  Mark mark_;
  std::string message_;
};

// sysexits.h EX_CONFIG: the systemd unit's RestartPreventExitStatus relies on it.
inline constexpr int kExitConfig = 78;

}  // namespace tailtrack
