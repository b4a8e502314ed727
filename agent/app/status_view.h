// The agent's /status JSON (docs/admin.md) as a compact table for a person:
// what `tailtrack status` prints. Pure: text in, text out, no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace tailtrack {

struct StatusViewOptions {
  bool colour = false;   // ANSI colours (a terminal without NO_COLOR)
  std::string address;   // where the status came from, for the title line
  int width = 0;         // > 0: every line is cut to this many columns
};

// The totals of one sample, kept to compute rates against the next one.
struct StatusSample {
  bool valid = false;
  int64_t pid = 0;
  double uptime_seconds = 0;
  uint64_t lines_read = 0;
  uint64_t events_sent = 0;
  std::map<std::string, uint64_t> source_lines;  // by source name
};

// Renders `json`, the body of GET /status, into `*out` (lines ending in
// '\n') and fills `*sample`. With a valid `previous` sample of the same
// agent (same pid, earlier uptime), rates are over the time between the two;
// otherwise they are averages since the agent started, and say so.
// False, with the reason in `*error`, when `json` is not the status JSON.
bool RenderStatus(std::string_view json, const StatusSample& previous, const StatusViewOptions& options,
                  std::string* out, StatusSample* sample, std::string* error);

}  // namespace tailtrack
