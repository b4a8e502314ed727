// Progress of a long job on a terminal: one line on stderr, redrawn in place
// a few times a second and erased at the end. When stderr is not a terminal
// it writes nothing at all, so that pipes, files and logs see no change; nor
// when stdout is a terminal too, where the job's own output shows it going
// and would be torn by a line redrawn under it.
#pragma once

#include <cstdint>
#include <string>

namespace tailtrack {

// "1,234,567 lines  812,000 lines/s  120.5 MiB of 456.7 MiB (26%)"; without
// a total (stdin), "1,234,567 lines  812,000 lines/s  120.5 MiB".
std::string ProgressText(uint64_t lines, uint64_t bytes, uint64_t total_bytes, double elapsed_seconds);

class TerminalProgress {
 public:
  // `total_bytes`: the input's size when known (a regular file), else 0.
  explicit TerminalProgress(uint64_t total_bytes);
  ~TerminalProgress();  // Done()
  TerminalProgress(const TerminalProgress&) = delete;
  TerminalProgress& operator=(const TerminalProgress&) = delete;

  // Called per line; cheap: it reads the clock once every 1,024 calls, and
  // draws only after the first half second, so that a short job shows nothing.
  void Update(uint64_t lines, uint64_t bytes) {
    if (enabled_ && (++calls_ & 1023) == 0) Draw(lines, bytes);
  }
  // Erases the line, if one was drawn. Idempotent.
  void Done();

 private:
  void Draw(uint64_t lines, uint64_t bytes);

  bool enabled_;
  bool drawn_ = false;
  uint64_t calls_ = 0;
  uint64_t total_bytes_;
  int64_t start_ms_;
  int64_t next_draw_ms_;
};

}  // namespace tailtrack
