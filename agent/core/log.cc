#include "core/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>

#include "core/clock.h"

namespace tailtrack {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
constexpr std::string_view kNames[] = {"debug", "info", "warn", "error"};
}  // namespace

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }

void LogLine(LogLevel level, std::string_view message) {
  std::string line;
  line.reserve(message.size() + 48);
  line += FormatIsoMillis(WallClockMillis());
  line += ' ';
  line += kNames[static_cast<int>(level)];
  line += ' ';
  // One message is one line, whatever it holds.
  for (char c : message) line += (c == '\n' || c == '\r') ? ' ' : c;
  line += '\n';
  // One write(2) so that lines from several threads never interleave.
  ssize_t unused = ::write(STDERR_FILENO, line.data(), line.size());
  (void)unused;
}

bool LogThrottle::Due(std::string_view cause) { return Due(cause, MonotonicMillis()); }

bool LogThrottle::Due(std::string_view cause, int64_t now_ms) {
  auto [it, fresh] = last_ms_.try_emplace(std::string(cause), now_ms);
  if (fresh) return true;
  if (now_ms - it->second < kWindowMs) return false;
  it->second = now_ms;
  return true;
}

void LogThrottle::Forget(std::string_view cause) { last_ms_.erase(std::string(cause)); }

}  // namespace tailtrack
