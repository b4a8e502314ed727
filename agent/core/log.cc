#include "core/log.h"

#include <unistd.h>

#include <atomic>
#include <algorithm>
#include <array>
#include <chrono>
#include <mutex>
#include <string>

#include "core/clock.h"

namespace tailtrack {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
constexpr std::string_view kNames[] = {"debug", "info", "warn", "error"};

// The recent warnings and errors: a ring written under a lock (a log line may
// come from any thread; warnings are rare, so the lock costs nothing that matters).
std::mutex g_recent_mu;
std::array<LogRecord, kRecentProblems> g_recent;
size_t g_recent_next = 0;  // total recorded; the slot of the next is g_recent_next % size

void Remember(int64_t at_ms, LogLevel level, std::string_view message) {
  std::lock_guard lock(g_recent_mu);
  LogRecord& r = g_recent[g_recent_next++ % g_recent.size()];
  r.at_ms = at_ms;
  r.level = level;
  r.message.assign(message);
}
}  // namespace

std::vector<LogRecord> RecentProblems() {
  std::lock_guard lock(g_recent_mu);
  std::vector<LogRecord> out;
  const size_t n = std::min(g_recent_next, g_recent.size());
  for (size_t i = g_recent_next - n; i < g_recent_next; ++i) out.push_back(g_recent[i % g_recent.size()]);
  return out;
}

std::string_view LogLevelName(LogLevel level) { return kNames[static_cast<int>(level)]; }

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }

void LogLine(LogLevel level, std::string_view message) {
  const int64_t now = WallClockMillis();
  std::string line;
  line.reserve(message.size() + 48);
  line += FormatIsoMillis(now);
  line += ' ';
  line += kNames[static_cast<int>(level)];
  line += ' ';
  const size_t start = line.size();
  // One message is one line, whatever it holds.
  for (char c : message) line += (c == '\n' || c == '\r') ? ' ' : c;
  line += '\n';
  // One write(2) so that lines from several threads never interleave.
  ssize_t unused = ::write(STDERR_FILENO, line.data(), line.size());
  (void)unused;
  if (level >= LogLevel::kWarn) Remember(now, level, std::string_view(line).substr(start, line.size() - 1 - start));
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
