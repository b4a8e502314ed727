// `tailtrack spool -c FILE [--verify]`: what waits on disk, for a person.
//
// Reads the segments and the dead-letter file and changes nothing: it does
// not hold the state lock, so it may run beside the agent: a segment the
// agent deletes meanwhile is left out. A segment without its seal is damage
// (cut short, or its writer was killed), except the newest one while an agent
// holds the state lock: that one is being written, and may end in a torn
// record.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "app/commands.h"
#include "app/human.h"
#include "config/loader.h"
#include "core/clock.h"
#include "spool/dead_letter.h"
#include "spool/spool.h"

namespace tailtrack {
namespace {

constexpr size_t kSegmentRowsShown = 20;

// How long ago `created_ms` was; "-" when unknown.
std::string HumanAge(int64_t created_ms, int64_t now_ms) {
  if (created_ms == 0) return "-";
  return HumanSeconds(static_cast<double>(std::max<int64_t>(0, now_ms - created_ms)) / 1000.0);
}

// The size and line count of `path`, read in pieces; false when it does not exist.
bool CountLines(const std::string& path, uint64_t* bytes, uint64_t* lines, std::string* error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) *error = std::strerror(errno);
    return false;
  }
  *bytes = *lines = 0;
  char buf[64 * 1024];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) {
    *bytes += static_cast<uint64_t>(n);
    *lines += static_cast<uint64_t>(std::count(buf, buf + n, '\n'));
  }
  if (n < 0) *error = std::strerror(errno);
  ::close(fd);
  return n == 0;
}

// Whether a process holds {state_dir}/lock (checkpoint/state_lock.h), tried
// with a shared lock that is let go at once. A missing or unreadable lock
// file is no agent; the file is not created. (An agent starting in the few
// microseconds the shared lock is held would find the state in use and stop.)
bool AgentHoldsStateLock(const std::string& state_dir) {
  const int fd = ::open((state_dir + "/lock").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  int rc;
  do rc = ::flock(fd, LOCK_SH | LOCK_NB);
  while (rc != 0 && errno == EINTR);
  const bool held = rc != 0 && errno == EWOULDBLOCK;
  ::close(fd);  // lets go of the shared lock, if it was taken
  return held;
}

void PrintDeadLetters(const std::string& path) {
  for (const std::string& file : {path, path + ".1"}) {
    uint64_t bytes = 0, lines = 0;
    std::string error;
    if (CountLines(file, &bytes, &lines, &error)) {
      std::printf("dead letters %s: %s, lines %llu\n", file.c_str(), HumanBytes(bytes).c_str(),
                  static_cast<unsigned long long>(lines));
    } else if (!error.empty()) {
      std::printf("dead letters %s: cannot read: %s\n", file.c_str(), error.c_str());
    } else if (file == path) {
      std::printf("dead letters %s: none\n", file.c_str());
    }
  }
}

}  // namespace

int SpoolCommand(const SpoolCommandOptions& options) {
  Config config;
  try {
    // Nothing is sent: the write key need not be at hand, as for `test`.
    config = LoadConfig(options.config_path, ProcessEnv(), LoadOptions{.require_write_key = false});
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return kExitConfig;
  }

  std::vector<SpoolSegmentReport> reports;
  std::string error;
  if (!InspectSpool(config.spool.dir, &reports, &error, AgentHoldsStateLock(config.state_dir))) {
    std::fprintf(stderr, "tailtrack: %s\n", error.c_str());
    return 1;
  }
  const int64_t now = WallClockMillis();
  uint64_t batches = 0, events = 0, bytes = 0, damaged = 0;
  int64_t oldest = 0;
  for (const SpoolSegmentReport& r : reports) {
    batches += r.batches;
    events += r.events;
    bytes += r.bytes;
    damaged += r.damaged;
    if (r.oldest_ms != 0 && (oldest == 0 || r.oldest_ms < oldest)) oldest = r.oldest_ms;
  }

  if (reports.empty()) {
    std::printf("spool %s: empty\n", config.spool.dir.c_str());
  } else {
    std::printf("spool %s\n", config.spool.dir.c_str());
    std::printf("  %-24s %9s %10s %10s  %s\n", "SEGMENT", "BATCHES", "EVENTS", "BYTES", "OLDEST");
    for (size_t i = 0; i < reports.size() && i < kSegmentRowsShown; ++i) {
      const SpoolSegmentReport& r = reports[i];
      std::printf("  %-24s %9llu %10llu %10s  %s%s\n",
                  std::filesystem::path(r.path).filename().c_str(), static_cast<unsigned long long>(r.batches),
                  static_cast<unsigned long long>(r.events), HumanBytes(r.bytes).c_str(),
                  HumanAge(r.oldest_ms, now).c_str(), r.damaged ? "  (damaged)" : "");
    }
    if (reports.size() > kSegmentRowsShown) std::printf("  ... and %zu more\n", reports.size() - kSegmentRowsShown);
    std::printf("  total: segments %zu, batches %llu, events %llu, %s, oldest %s\n", reports.size(),
                static_cast<unsigned long long>(batches), static_cast<unsigned long long>(events),
                HumanBytes(bytes).c_str(), HumanAge(oldest, now).c_str());
  }
  PrintDeadLetters(DeadLetterPath(config));

  if (!options.verify) {
    if (damaged > 0) std::printf("damage in %llu places (--verify lists them)\n", static_cast<unsigned long long>(damaged));
    return 0;
  }
  if (damaged == 0) {
    std::printf("verify: every checksum is sound\n");
    return 0;
  }
  std::printf("verify: damage in %llu places\n", static_cast<unsigned long long>(damaged));
  for (const SpoolSegmentReport& r : reports) {
    for (const std::string& line : r.damage) std::printf("  %s\n", line.c_str());
    if (r.damaged > r.damage.size()) {
      std::printf("  %s: and %llu more\n", r.path.c_str(), static_cast<unsigned long long>(r.damaged - r.damage.size()));
    }
  }
  return 1;
}

}  // namespace tailtrack
