// The agent's own log: one line per message on stderr, with a UTC time and a
// level. Never pass the write key to it.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tailtrack {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
void LogLine(LogLevel level, std::string_view message);

// The last kRecentProblems warn and error lines logged, oldest first, for
// the admin endpoint's /status (`last_errors`).
inline constexpr size_t kRecentProblems = 10;
struct LogRecord {
  int64_t at_ms = 0;  // wall clock
  LogLevel level = LogLevel::kWarn;
  std::string message;
};
std::vector<LogRecord> RecentProblems();
std::string_view LogLevelName(LogLevel level);

template <typename... Args>
void Log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
  if (!LogEnabled(level)) return;
  LogLine(level, fmt::format(format, std::forward<Args>(args)...));
}

// "At most once per cause per window": for warnings that a stuck condition
// (a refusing collector, a file that cannot be opened, a full pipeline) would
// otherwise repeat on every attempt. Causes are short keys ("http 503",
// "open /var/log/x.log"); the window counts on the monotonic clock, so a
// wall-clock step neither silences nor repeats a warning. One thread.
class LogThrottle {
 public:
  static constexpr int64_t kWindowMs = 60'000;

  // True when a message for `cause` may be logged now; it is then recorded.
  bool Due(std::string_view cause);
  // The same at a given MonotonicMillis() value.
  bool Due(std::string_view cause, int64_t now_ms);
  // Forgets `cause`: its next message is logged at once.
  void Forget(std::string_view cause);

 private:
  std::unordered_map<std::string, int64_t> last_ms_;  // cause -> when it was last logged
};

}  // namespace tailtrack
