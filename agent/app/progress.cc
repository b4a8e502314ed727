#include "app/progress.h"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

#include "app/human.h"
#include "core/clock.h"

namespace tailtrack {
namespace {

constexpr int64_t kFirstDrawMs = 500;
constexpr int64_t kRedrawMs = 200;

}  // namespace

std::string ProgressText(uint64_t lines, uint64_t bytes, uint64_t total_bytes, double elapsed_seconds) {
  std::string text = fmt::format("{} lines  {} lines/s  {}", HumanCount(lines),
                                 HumanRate(elapsed_seconds > 0 ? static_cast<double>(lines) / elapsed_seconds : 0),
                                 HumanBytes(bytes));
  if (total_bytes > 0) {
    text += fmt::format(" of {} ({}%)", HumanBytes(total_bytes), std::min<uint64_t>(100, bytes * 100 / total_bytes));
  }
  return text;
}

TerminalProgress::TerminalProgress(uint64_t total_bytes)
    : enabled_(::isatty(STDERR_FILENO) && !::isatty(STDOUT_FILENO)),
      total_bytes_(total_bytes),
      start_ms_(MonotonicMillis()),
      next_draw_ms_(start_ms_ + kFirstDrawMs) {}

TerminalProgress::~TerminalProgress() { Done(); }

void TerminalProgress::Draw(uint64_t lines, uint64_t bytes) {
  const int64_t now = MonotonicMillis();
  if (now < next_draw_ms_) return;
  next_draw_ms_ = now + kRedrawMs;
  // Carriage return, the text, erase the rest of the line: the cursor stays on it.
  const std::string text = ProgressText(lines, bytes, total_bytes_, (now - start_ms_) / 1000.0);
  std::fprintf(stderr, "\r%s\x1b[K", text.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void TerminalProgress::Done() {
  if (!drawn_) return;
  std::fputs("\r\x1b[K", stderr);
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace tailtrack
