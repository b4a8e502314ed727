// tailtrack_chaos: the chaos run (docs/reliability.md, "Chaos run").
//
// While writer threads append self-identifying lines ("writer=w2 seq=1234
// kind=ok pad=...") to a few files at a steady rate, two schedules, drawn
// from one seed, inject faults into a real `tailtrack run`:
//   - the collector (tests/fake_collector.*, in this process): 5xx, 429 with
//     Retry-After, answers slower than collector.timeout, broken connections,
//     random failures, down for a while, and down until the spool's small
//     tmpfs is full (spool.when_full: block);
//   - the agent and its files: the real logrotate (create with the writer
//     reopening a second late, copytruncate, the oldest rotation deleted),
//     a rename-and-recreate by the writer, moved files deleted, kill -9 and
//     restart (sometimes with a rotation while it is down), SIGTERM and
//     restart, SIGHUP with changed rules.
// A few lines are poison: their rule gives them kind "poison-chaos", which
// the collector refuses with 400; they must end in the dead-letter file.
//
// At the end (writers stopped, collector healthy, everything settled) every
// line written must have been accepted at least once, or dead-lettered if it
// is poison; a line accepted again must carry its first messageId; no
// messageId may name two lines; the agent's peak RSS and descriptor count
// must stay under their budgets. Anything else is printed as a violation and
// the exit status is 1 (2 for a usage error).
//
// Two things are arranged so that a loss the agent could not prevent is not
// counted against it: a writer holds its lines while logrotate copytruncates
// its file (logrotate itself loses what is written between its copy and its
// truncate), and a rotation that would delete a file whose lines have not
// all reached the collector (or the dead-letter file) is deferred and
// counted (a file deleted before it was read is lost by any agent).
#include <fcntl.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "fake_collector.h"
#include "test_util.h"

namespace tailtrack::chaos {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using testing::FakeCollector;
using testing::ReceivedRequest;
using testing::ScriptedAnswer;

constexpr char kKey[] = "wk_chaos_5d1f0a9e";
constexpr char kPoison[] = "poison-chaos";
constexpr char kLogrotate[] = "/usr/sbin/logrotate";
constexpr int kRotateCount = 3;          // logrotate keeps w.log.1 .. w.log.3 and deletes the oldest
constexpr int kTimeoutMs = 2000;         // collector.timeout
constexpr int kDrainTimeoutMs = 2000;    // collector.drain_timeout
constexpr uint64_t kTmpfsBytes = 8 << 20;

// ---------------------------------------------------------------------------
// Time and the fault log

const steady_clock::time_point g_start = steady_clock::now();

double Now() { return std::chrono::duration<double>(steady_clock::now() - g_start).count(); }

std::string Fixed(double v, int decimals = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// What happened when: printed as it happens, written into the agent's log
// (so that the agent's lines can be read against the faults), counted by kind.
class FaultLog {
 public:
  void Open(const std::string& agent_log) { fd_ = ::open(agent_log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644); }

  void Note(const std::string& kind, const std::string& detail, bool count = true) {
    const double t = Now();
    const std::string line = "[" + Fixed(t) + "s] " + kind + (detail.empty() ? "" : ": " + detail);
    std::lock_guard lock(mu_);
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    if (fd_ >= 0) {
      const std::string marked = "=== chaos " + line + "\n";
      ssize_t unused = ::write(fd_, marked.data(), marked.size());
      (void)unused;
    }
    if (count) ++counts_[kind];
    timeline_.push_back({t, line});
  }

  std::map<std::string, int> counts() const {
    std::lock_guard lock(mu_);
    return counts_;
  }
  // The notes between t0 and t1 seconds.
  std::vector<std::string> Between(double t0, double t1) const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& [t, line] : timeline_) {
      if (t >= t0 && t <= t1) out.push_back(line);
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  int fd_ = -1;
  std::map<std::string, int> counts_;
  std::vector<std::pair<double, std::string>> timeline_;
};

FaultLog g_faults;

// ---------------------------------------------------------------------------
// The lines

// The line a writer writes as its `seq`th, and what the chaos rule makes of it.
class Lines {
 public:
  Lines(uint64_t seed, int poison_every) : seed_(seed), poison_every_(poison_every) {}

  bool IsPoison(int writer, uint64_t seq) const {
    return SplitMix(seed_ * 31 + (static_cast<uint64_t>(writer) << 40) + seq) % poison_every_ == 0;
  }
  // 48 hex digits that depend on the writer and seq: an event whose pad is
  // not this one was made of a torn or mixed-up line.
  std::string Pad(int writer, uint64_t seq) const {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string pad(48, '0');
    uint64_t x = seed_ ^ (static_cast<uint64_t>(writer) << 56) ^ seq;
    for (int i = 0; i < 3; ++i) {
      x = SplitMix(x);
      for (int j = 0; j < 16; ++j) pad[i * 16 + j] = kHex[(x >> (4 * j)) & 15];
    }
    return pad;
  }
  std::string Line(int writer, uint64_t seq, int64_t wall_ms) const {
    const time_t secs = wall_ms / 1000;
    struct tm tm;
    gmtime_r(&secs, &tm);
    char ts[64];
    std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(wall_ms % 1000));
    return std::string(ts) + " writer=w" + std::to_string(writer) + " seq=" + std::to_string(seq) +
           " kind=" + (IsPoison(writer, seq) ? kPoison : "ok") + " pad=" + Pad(writer, seq) + "\n";
  }

 private:
  uint64_t seed_;
  uint64_t poison_every_;
};

// Finds "writer=wN seq=M" in a line (a log line or an event's JSON is not
// needed here: this reads the files on disk).
bool ParseLine(std::string_view line, int* writer, uint64_t* seq) {
  const size_t w = line.find(" writer=w");
  const size_t s = line.find(" seq=");
  if (w == std::string_view::npos || s == std::string_view::npos) return false;
  *writer = std::atoi(std::string(line.substr(w + 9, 4)).c_str());
  *seq = std::strtoull(std::string(line.substr(s + 5, 20)).c_str(), nullptr, 10);
  return true;
}

// ---------------------------------------------------------------------------
// A writer: one file, one descriptor opened O_APPEND (kept until it is told to
// reopen, as an application does), whole lines in one write(2) every 5 ms.

class Writer {
 public:
  Writer(int index, std::string path, int rate, const Lines& lines)
      : index_(index), path_(std::move(path)), rate_(rate), lines_(lines) {
    fd_ = OpenLog();
    epochs_.push_back({0, 0.0, "opened " + Base(path_)});
  }
  ~Writer() { Stop(); }

  void Start() { thread_ = std::thread([this] { Run(); }); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  int index() const { return index_; }
  const std::string& path() const { return path_; }
  // No line is written while the returned lock is held.
  std::unique_lock<std::mutex> Hold() { return std::unique_lock<std::mutex>(mu_); }
  // The next lines go to a fresh open(2) of the path `delay_ms` from now.
  void ReopenIn(int delay_ms) {
    std::lock_guard lock(mu_);
    reopen_at_ = steady_clock::now() + milliseconds(delay_ms);
  }
  // Renames the file to `to` and goes on in a new file at the path (a
  // rename-and-recreate done by the application itself). Caller holds Hold().
  bool RenameAwayLocked(const std::string& to) {
    if (::rename(path_.c_str(), to.c_str()) != 0) return false;
    ::close(fd_);
    fd_ = OpenLog();
    epochs_.push_back({written_.load(), Now(), "renamed to " + Base(to) + ", new " + Base(path_)});
    return true;
  }
  void NoteEpochLocked(const std::string& what) { epochs_.push_back({written_.load(), Now(), what}); }
  // Writes the next `n` lines at once, in one write(2), ahead of the steady
  // rate (which then waits until it has caught up). Caller holds Hold().
  void WriteLocked(uint64_t n) {
    const uint64_t next = written_.load(), end = next + n;
    const int64_t wall =
        std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::string chunk;
    for (uint64_t s = next; s < end; ++s) chunk += lines_.Line(index_, s, wall);
    size_t done = 0;
    while (done < chunk.size()) {
      const ssize_t k = ::write(fd_, chunk.data() + done, chunk.size() - done);
      if (k < 0) {
        if (errno == EINTR) continue;
        std::fprintf(stderr, "chaos: writer %d cannot write %s: %s\n", index_, path_.c_str(), std::strerror(errno));
        std::abort();
      }
      done += static_cast<size_t>(k);
    }
    const int32_t ms = static_cast<int32_t>(Now() * 1000);
    times_.resize(end, ms);
    written_ = end;
  }
  int rate() const { return rate_; }

  uint64_t written() const { return written_.load(); }
  // When line `seq` was written (seconds since the start) and what its file
  // had last gone through.
  std::pair<double, std::string> Where(uint64_t seq) {
    std::lock_guard lock(mu_);
    const double t = seq < times_.size() ? times_[seq] / 1000.0 : -1;
    std::string what;
    for (const auto& e : epochs_) {
      if (e.from_seq <= seq) what = e.what + " at " + Fixed(e.at) + "s";
    }
    return {t, what};
  }

 private:
  struct Epoch {
    uint64_t from_seq;
    double at;
    std::string what;
  };
  static std::string Base(const std::string& p) { return std::filesystem::path(p).filename().string(); }
  int OpenLog() { return ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644); }

  void Run() {
    const auto start = steady_clock::now();
    while (!stop_) {
      {
        std::lock_guard lock(mu_);
        const auto now = steady_clock::now();
        if (reopen_at_ && now >= *reopen_at_) {
          reopen_at_.reset();
          ::close(fd_);
          fd_ = OpenLog();
          epochs_.push_back({written_.load(), Now(), "reopened " + Base(path_)});
        }
        const double elapsed = std::chrono::duration<double>(now - start).count();
        const uint64_t due = static_cast<uint64_t>(elapsed * rate_);
        const uint64_t next = written_.load();
        if (due > next) WriteLocked(std::min(due, next + 5000) - next);
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
  }

  const int index_;
  const std::string path_;
  const int rate_;
  const Lines& lines_;
  std::mutex mu_;
  int fd_ = -1;
  std::optional<steady_clock::time_point> reopen_at_;
  std::vector<int32_t> times_;  // ms since the start, per seq
  std::vector<Epoch> epochs_;
  std::atomic<uint64_t> written_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// ---------------------------------------------------------------------------
// The books: what the collector accepted and what was dead-lettered, per line.

struct MessageId {
  uint64_t file_id = 0, offset = 0;
  uint32_t rule = 0;
  bool parsed = false;
  std::string text() const {
    char buf[80];
    std::snprintf(buf, sizeof buf, "tt-%016" PRIx64 "-%" PRIx64 "-%08x", file_id, offset, rule);
    return buf;
  }
  bool operator==(const MessageId& o) const {
    return file_id == o.file_id && offset == o.offset && rule == o.rule && parsed == o.parsed;
  }
};

MessageId ParseMessageId(std::string_view id) {
  MessageId m;
  // "tt-<16 hex file id>-<hex offset>-<8 hex rule>"
  if (id.substr(0, 3) != "tt-") {
    m.file_id = std::hash<std::string_view>()(id);
    return m;
  }
  const std::string s(id.substr(3));
  char* end = nullptr;
  m.file_id = std::strtoull(s.c_str(), &end, 16);
  if (*end != '-') return m;
  m.offset = std::strtoull(end + 1, &end, 16);
  if (*end != '-') return m;
  m.rule = static_cast<uint32_t>(std::strtoul(end + 1, &end, 16));
  m.parsed = *end == '\0';
  return m;
}

class Ledger {
 public:
  Ledger(int writers, const Lines& lines) : lines_(lines), by_writer_(writers) {}

  // Every request the collector answered (on a collector thread).
  void OnRequest(const ReceivedRequest& r) {
    if (r.status / 100 != 2) return;
    simdjson::dom::parser parser;
    std::lock_guard lock(mu_);
    for (const auto& text : r.events) {
      ++accepted_events_;
      simdjson::dom::element e;
      std::string_view id, name, writer, kind, pad;
      int64_t seq = -1;
      if (parser.parse(text).get(e) || e["messageId"].get_string().get(id) || e["event"].get_string().get(name) ||
          e["properties"]["writer"].get_string().get(writer) || e["properties"]["seq"].get_int64().get(seq) ||
          e["properties"]["kind"].get_string().get(kind) || e["properties"]["pad"].get_string().get(pad)) {
        Example(unknown_examples_, ++unknown_, text);
        continue;
      }
      const int w = writer.size() > 1 && writer[0] == 'w' ? std::atoi(std::string(writer.substr(1)).c_str()) : -1;
      if (w < 0 || w >= static_cast<int>(by_writer_.size()) || seq < 0 ||
          pad != lines_.Pad(w, static_cast<uint64_t>(seq)) ||
          (kind == kPoison) != lines_.IsPoison(w, static_cast<uint64_t>(seq))) {
        Example(corrupt_examples_, ++corrupt_, text);
        continue;
      }
      const bool tick = name == "Chaos Tick";
      const uint64_t key = (static_cast<uint64_t>(w) << 48) | (static_cast<uint64_t>(seq) << 1) | (tick ? 1 : 0);
      const MessageId mid = ParseMessageId(id);
      const uint64_t id_hash = std::hash<std::string_view>()(id);
      auto [owner, fresh] = id_owner_.try_emplace(id_hash, key);
      if (!fresh && owner->second != key) {
        Example(foreign_examples_, ++foreign_,
                std::string(id) + " names " + KeyText(owner->second) + " and " + KeyText(key));
      }
      if (tick) {
        ++tick_events_;
        continue;
      }
      auto& states = by_writer_[w];
      if (states.size() <= static_cast<size_t>(seq)) states.resize(static_cast<size_t>(seq) + 1);
      State& st = states[seq];
      if (st.deliveries == 0) {
        st.first = mid;
      } else if (st.first == mid) {
        ++dup_same_;
      } else {
        if (dup_other_ == 0) first_other_at_ = Now();
        auto& range = other_ranges_.try_emplace(w, UINT64_MAX, 0).first->second;
        range.first = std::min(range.first, static_cast<uint64_t>(seq));
        range.second = std::max(range.second, static_cast<uint64_t>(seq));
        Example(other_id_examples_, ++dup_other_,
                KeyText(key) + " first as " + st.first.text() + ", again as " + std::string(id) + " at " + Fixed(Now()) + "s");
      }
      ++st.deliveries;
      if (kind == kPoison) ++poison_accepted_;
    }
  }

  // Reads the dead-letter files (each time whole: they stay small).
  void ScanDeadLetters(const std::vector<std::string>& paths) {
    simdjson::dom::parser parser;
    for (const auto& path : paths) {
      std::ifstream in(path);
      std::lock_guard lock(mu_);
      for (std::string line; std::getline(in, line);) {
        simdjson::dom::element e;
        std::string_view writer, kind, reason;
        int64_t seq = -1;
        if (parser.parse(line).get(e) || e["event"]["properties"]["writer"].get_string().get(writer) ||
            e["event"]["properties"]["seq"].get_int64().get(seq) ||
            e["event"]["properties"]["kind"].get_string().get(kind) || seq < 0) {
          continue;  // a torn last line, or not one of ours: counted at the end if it stays
        }
        const int w = std::atoi(std::string(writer.substr(1)).c_str());
        if (w < 0 || w >= static_cast<int>(by_writer_.size())) continue;
        auto& states = by_writer_[w];
        if (states.size() <= static_cast<size_t>(seq)) states.resize(static_cast<size_t>(seq) + 1);
        State& st = states[seq];
        if (st.dead) continue;
        st.dead = true;
        if (kind != kPoison) {
          st.dead_good = true;
          if (e["reason"].get_string().get(reason)) reason = "(no reason)";
          Example(dead_good_examples_, ++dead_good_, "w" + std::to_string(w) + " seq=" + std::to_string(seq) +
                                                         " reason: " + std::string(reason));
        }
      }
    }
  }

  bool Settled(int w, uint64_t seq) const {
    std::lock_guard lock(mu_);
    const auto& states = by_writer_[w];
    if (seq >= states.size()) return false;
    return states[seq].deliveries > 0 || states[seq].dead;
  }

  struct Totals {
    uint64_t written = 0, poison_written = 0, delivered = 0, dead_lettered = 0, lost = 0;
    uint64_t accepted_events = 0, dup_same = 0, dup_other = 0, foreign = 0, unknown = 0, corrupt = 0, phantom = 0;
    uint64_t dead_good = 0, poison_accepted = 0, poison_accepted_only = 0, tick_events = 0;
    double first_other_at = -1;
    std::map<int, std::pair<uint64_t, uint64_t>> other_ranges;
    std::vector<std::pair<int, uint64_t>> lost_lines;  // the first few
    std::vector<std::string> other_id_examples, foreign_examples, unknown_examples, corrupt_examples, dead_good_examples;
  };

  Totals Count(const std::vector<uint64_t>& written) const {
    std::lock_guard lock(mu_);
    Totals t;
    for (size_t w = 0; w < by_writer_.size(); ++w) {
      const auto& states = by_writer_[w];
      for (uint64_t s = 0; s < written[w]; ++s) {
        ++t.written;
        const bool poison = lines_.IsPoison(static_cast<int>(w), s);
        if (poison) ++t.poison_written;
        const State* st = s < states.size() ? &states[s] : nullptr;
        if (st && st->deliveries > 0 && !poison) ++t.delivered;
        if (st && st->dead && poison) ++t.dead_lettered;
        if (st && st->deliveries > 0 && !st->dead && poison) ++t.poison_accepted_only;
        if (!st || (st->deliveries == 0 && !st->dead)) {
          ++t.lost;
          if (t.lost_lines.size() < 10) t.lost_lines.push_back({static_cast<int>(w), s});
        }
      }
      for (uint64_t s = written[w]; s < states.size(); ++s) {
        if (states[s].deliveries > 0 || states[s].dead) ++t.phantom;  // a line nobody wrote
      }
    }
    t.accepted_events = accepted_events_;
    t.dup_same = dup_same_;
    t.dup_other = dup_other_;
    t.foreign = foreign_;
    t.unknown = unknown_;
    t.corrupt = corrupt_;
    t.dead_good = dead_good_;
    t.poison_accepted = poison_accepted_;
    t.tick_events = tick_events_;
    t.other_id_examples = other_id_examples_;
    t.first_other_at = first_other_at_;
    t.other_ranges = other_ranges_;
    t.foreign_examples = foreign_examples_;
    t.unknown_examples = unknown_examples_;
    t.corrupt_examples = corrupt_examples_;
    t.dead_good_examples = dead_good_examples_;
    return t;
  }

 private:
  struct State {
    MessageId first;  // the messageId it was first accepted under
    uint32_t deliveries = 0;
    bool dead = false, dead_good = false;
  };
  static std::string KeyText(uint64_t key) {
    return "w" + std::to_string(key >> 48) + " seq=" + std::to_string((key & ((1ull << 48) - 1)) >> 1) +
           ((key & 1) ? " (tick rule)" : "");
  }
  static void Example(std::vector<std::string>& v, uint64_t, std::string_view text) {
    if (v.size() < 10) v.emplace_back(text.substr(0, 600));
  }

  const Lines& lines_;
  mutable std::mutex mu_;
  std::vector<std::vector<State>> by_writer_;
  std::unordered_map<uint64_t, uint64_t> id_owner_;  // hash of a messageId -> the line (and rule) it names
  uint64_t accepted_events_ = 0, dup_same_ = 0, dup_other_ = 0, foreign_ = 0, unknown_ = 0, corrupt_ = 0;
  uint64_t dead_good_ = 0, poison_accepted_ = 0, tick_events_ = 0;
  double first_other_at_ = -1;  // when the first line came again under another id
  std::map<int, std::pair<uint64_t, uint64_t>> other_ranges_;  // per writer, the seqs that did (lowest, highest)
  std::vector<std::string> other_id_examples_, foreign_examples_, unknown_examples_, corrupt_examples_,
      dead_good_examples_;
};

// ---------------------------------------------------------------------------
// The agent: started, killed and restarted; its stdout and stderr appended to
// one log across restarts.

class Agent {
 public:
  Agent(std::string binary, std::string config, std::string log)
      : binary_(std::move(binary)), config_(std::move(config)), log_(std::move(log)) {}
  ~Agent() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  bool Start() {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    const pid_t pid = testing::Spawn({binary_, "run", "-c", config_}, {}, &actions);
    posix_spawn_file_actions_destroy(&actions);
    if (pid <= 0) return false;
    pid_ = pid;
    ++starts_;
    return true;
  }
  pid_t pid() const { return pid_.load(); }
  int starts() const { return starts_; }
  void Signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  void Kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }
  // SIGTERM, then the exit status (128+signal when killed by one), or -1
  // when it did not exit within `timeout` (it is then killed).
  int Terminate(milliseconds timeout) {
    if (pid_ <= 0) return 0;
    ::kill(pid_, SIGTERM);
    const auto deadline = steady_clock::now() + timeout;
    while (true) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = 0;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      if (steady_clock::now() >= deadline) {
        Kill9();
        return -1;
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
  }
  // The exit status when the agent exited by itself, else nothing.
  std::optional<int> Exited() {
    int st = 0;
    if (pid_ > 0 && ::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = 0;
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    return std::nullopt;
  }

 private:
  std::string binary_, config_, log_;
  std::atomic<pid_t> pid_{0};
  int starts_ = 0;
};

// Peak resident memory and descriptors of whichever agent process runs.
class Sampler {
 public:
  explicit Sampler(const Agent& agent) : agent_(agent) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Sampler() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  uint64_t peak_rss_kib() const { return peak_rss_; }
  uint64_t max_fds() const { return max_fds_; }

 private:
  void Run() {
    while (!stop_) {
      const pid_t pid = agent_.pid();
      if (pid > 0) {
        std::ifstream status("/proc/" + std::to_string(pid) + "/status");
        for (std::string line; std::getline(status, line);) {
          if (line.rfind("VmHWM:", 0) == 0 || line.rfind("VmRSS:", 0) == 0) {
            peak_rss_ = std::max<uint64_t>(peak_rss_, std::strtoull(line.c_str() + 6, nullptr, 10));
          }
        }
        std::error_code ec;
        uint64_t fds = 0;
        for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
             !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
          ++fds;
        }
        max_fds_ = std::max<uint64_t>(max_fds_, fds);
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
  }

  const Agent& agent_;
  std::atomic<uint64_t> peak_rss_{0}, max_fds_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// ---------------------------------------------------------------------------
// The run

struct Options {
  double minutes = 2.5;
  uint64_t seed = 0;
  bool seed_given = false;
  std::string binary;
  std::string json;
  std::string workdir;  // default: a fresh directory under $TMPDIR
  bool keep = false;     // keep the work directory even when the run passes
  bool discard = false;  // remove it even when the run fails (the run's own test)
  int writers = 4;
  int rate = 150;  // lines per second per writer
  int poison_every = 400;
  double rss_budget_mib = 64;
  std::set<std::string> without;  // fault kinds never injected (--without)
  double settle_timeout = 300;  // seconds after the faults for every line to be settled
  int fd_budget = 0;  // 0: 64 + the files a writer can have on disk, times writers
};

std::string ConfigYaml(const std::string& dir, const std::string& url, bool tmpfs, int variant, int writers) {
  std::string y =
      "# Written by tailtrack_chaos; variant " + std::to_string(variant) + " (SIGHUP switches between them).\n"
      "collector:\n"
      "  url: " + url + "\n"
      "  write_key: " + kKey + "\n"
      "  timeout: " + std::to_string(kTimeoutMs) + "ms\n"
      "  max_in_flight: 4\n"
      "  drain_timeout: " + std::to_string(kDrainTimeoutMs) + "ms\n"
      "  retry:\n"
      "    initial_backoff: 100ms\n"
      "    max_backoff: 2s\n"
      "batch:\n"
      "  max_events: 100\n"
      "  max_bytes: 64KiB\n"
      "  flush_interval: 200ms\n"
      "state_dir: " + dir + "/state\n"
      "spool:\n"
      "  dir: " + dir + "/spool\n"
      // On the 8 MiB tmpfs the file system fills before max_bytes (ENOSPC is
      // a full spool); without it, max_bytes is the limit.
      "  max_bytes: " + std::string(tmpfs ? "16MiB" : "8MiB") + "\n"
      "  when_full: block\n"
      "dead_letter:\n"
      "  max_bytes: 256MiB\n"
      "sources:\n"
      "  - name: chaos\n"
      "    type: file\n"
      "    paths: [";
  // Half the files by their own name only, half with a glob that also
  // matches their rotations and moved copies.
  for (int w = 0; w < writers; ++w) {
    y += std::string(w ? ", " : "") + "\"" + dir + "/logs/w" + std::to_string(w) + ".log" + (w % 2 ? "*" : "") + "\"";
  }
  y += "]\n"
       "    start_at: beginning\n"
       "    poll_interval: 250ms\n"
       "    rotate_wait: 3s\n"
       "rules:\n";
  if (variant == 2) {
    y += "  - name: chaos-tick\n"
         "    sources: [chaos]\n"
         "    regex: '^(?P<ts>\\S+) writer=(?P<w>\\S+) seq=(?P<seq>\\d*0) kind=(?P<kind>\\S+) pad=(?P<pad>\\S+)$'\n"
         "    continue: true\n"
         "    event:\n"
         "      type: track\n"
         "      event: Chaos Tick\n"
         "      userId: \"{{ w }}\"\n"
         "      timestamp: \"{{ ts }}\"\n"
         "      properties:\n"
         "        writer: \"{{ w }}\"\n"
         "        seq: \"{{ seq | int }}\"\n"
         "        kind: \"{{ kind }}\"\n"
         "        pad: \"{{ pad }}\"\n";
  }
  y += "  - name: chaos-line\n"
       "    sources: [chaos]\n"
       "    regex: '^(?P<ts>\\S+) writer=(?P<w>\\S+) seq=(?P<seq>\\d+) kind=(?P<kind>\\S+) pad=(?P<pad>\\S+)$'\n"
       "    event:\n"
       "      type: track\n"
       "      event: Chaos Line\n"
       "      userId: \"{{ w }}\"\n"
       "      timestamp: \"{{ ts }}\"\n"
       "      properties:\n"
       "        writer: \"{{ w }}\"\n"
       "        seq: \"{{ seq | int }}\"\n"
       "        kind: \"{{ kind }}\"\n"
       "        pad: \"{{ pad }}\"\n";
  if (variant == 1) {
    y += "      context:\n"
         "        chaos_variant: reloaded\n";
  }
  return y;
}

void WriteAtomically(const std::string& path, const std::string& content) {
  testing::WriteFile(path + ".tmp", content);
  std::filesystem::rename(path + ".tmp", path);
}

double UsedFraction(const std::string& spool, bool tmpfs, uint64_t max_bytes) {
  if (tmpfs) {
    struct statvfs vfs;
    if (::statvfs(spool.c_str(), &vfs) != 0 || vfs.f_blocks == 0) return 0;
    return 1.0 - static_cast<double>(vfs.f_bavail) / static_cast<double>(vfs.f_blocks);
  }
  return static_cast<double>(testing::TotalSize(testing::FindFiles(spool, ""))) / static_cast<double>(max_bytes);
}

class Run {
 public:
  explicit Run(const Options& o) : o_(o), lines_(o.seed, o.poison_every), ledger_(o.writers, lines_) {}

  int Main() {
    if (!Setup()) return 1;
    collector_.KeepCountsOnly();
    collector_.RefuseEventsContaining(kPoison);
    collector_.OnRequest([this](const ReceivedRequest& r) { ledger_.OnRequest(r); });
    for (auto& w : writers_) w->Start();
    if (!agent_->Start()) {
      std::fprintf(stderr, "chaos: cannot start %s\n", o_.binary.c_str());
      return 1;
    }
    Sampler sampler(*agent_);
    chaos_end_ = Now() + o_.minutes * 60;
    g_faults.Note("start", "agent pid " + std::to_string(agent_->pid()) + ", " + std::to_string(o_.writers) +
                               " writers x " + std::to_string(o_.rate) + " lines/s, chaos for " +
                               Fixed(o_.minutes * 60) + "s",
                  false);
    std::thread collector_chaos([this] { CollectorChaos(); });
    AgentChaos();  // on this thread: it owns the agent process
    collector_chaos.join();
    Finish(sampler);
    sampler.Stop();
    return Report(sampler);
  }

  ~Run() {
    if (tmpfs_) ::umount2((dir_ + "/spool").c_str(), MNT_DETACH);
    if (owns_dir_ && (o_.discard || (!o_.keep && !failed_))) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

 private:
  bool Setup() {
    if (!std::filesystem::exists(kLogrotate)) {
      std::fprintf(stderr, "chaos: %s is missing (packaging/install-deps.sh installs logrotate)\n", kLogrotate);
      return false;
    }
    if (o_.workdir.empty()) {
      std::string tmpl = (std::filesystem::temp_directory_path() / "tailtrack-chaos-XXXXXX").string();
      if (!mkdtemp(tmpl.data())) return false;
      dir_ = tmpl;
      owns_dir_ = true;
    } else {
      dir_ = o_.workdir;
      std::filesystem::create_directories(dir_);
    }
    std::filesystem::create_directories(dir_ + "/logs");
    std::filesystem::create_directories(dir_ + "/spool");
    tmpfs_ = ::mount("tmpfs", (dir_ + "/spool").c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=8m,mode=0700") == 0;
    spool_limit_ = tmpfs_ ? kTmpfsBytes : (8u << 20);
    if (!tmpfs_) {
      std::printf("chaos: cannot mount a tmpfs for the spool (%s): using spool.max_bytes 8MiB on %s instead\n",
                  std::strerror(errno), dir_.c_str());
    }
    agent_log_ = dir_ + "/agent.log";
    g_faults.Open(agent_log_);
    config_ = dir_ + "/tailtrack.yaml";
    WriteAtomically(config_, ConfigYaml(dir_, collector_.url(), tmpfs_, 0, o_.writers));
    for (int w = 0; w < o_.writers; ++w) {
      writers_.push_back(
          std::make_unique<Writer>(w, dir_ + "/logs/w" + std::to_string(w) + ".log", o_.rate, lines_));
    }
    moved_.resize(o_.writers);
    agent_ = std::make_unique<Agent>(o_.binary, config_, agent_log_);
    std::printf("chaos: seed %" PRIu64 ", work directory %s, spool %s\n", o_.seed, dir_.c_str(),
                tmpfs_ ? "on an 8 MiB tmpfs" : "on disk, 8 MiB");
    return true;
  }

  // Sleeps up to `secs`, less when the chaos period ends first.
  bool Pause(double secs) {
    const double until = std::min(Now() + secs, chaos_end_);
    while (Now() < until) std::this_thread::sleep_for(milliseconds(20));
    return Now() < chaos_end_;
  }

  template <typename Kind>
  class Schedule {
   public:
    // Kinds named in `without` are never drawn.
    Schedule(std::vector<std::pair<Kind, std::string>> kinds, std::vector<int> weights, uint64_t seed,
             const std::set<std::string>& without)
        : weights_(std::move(weights)), rng_(seed) {
      for (size_t i = 0; i < kinds.size(); ++i) {
        kinds_.push_back(kinds[i].first);
        if (without.count(kinds[i].second)) weights_[i] = 0;
        if (weights_[i] > 0) first_.push_back(kinds[i].first);
      }
      std::shuffle(first_.begin(), first_.end(), rng_);  // each kind once, then at random
    }
    bool empty() const { return std::all_of(weights_.begin(), weights_.end(), [](int w) { return w == 0; }); }
    Kind Next() {
      if (!first_.empty()) {
        Kind k = first_.back();
        first_.pop_back();
        return k;
      }
      std::discrete_distribution<int> pick(weights_.begin(), weights_.end());
      return kinds_[pick(rng_)];
    }
    double Uniform(double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng_); }
    int Int(int a, int b) { return std::uniform_int_distribution<int>(a, b)(rng_); }

   private:
    std::vector<Kind> kinds_, first_;
    std::vector<int> weights_;
    std::mt19937_64 rng_;
  };

  // --- The collector's faults ---

  enum class CollectorFault { k5xx, k429, kSlow, kDrop, kRandom, kDown, kSpoolFill };

  void CollectorChaos() {
    Schedule<CollectorFault> s({{CollectorFault::k5xx, "http-5xx"},
                                {CollectorFault::k429, "http-429"},
                                {CollectorFault::kSlow, "slow"},
                                {CollectorFault::kDrop, "dropped-connections"},
                                {CollectorFault::kRandom, "random-failures"},
                                {CollectorFault::kDown, "collector-down"},
                                {CollectorFault::kSpoolFill, "spool-fill"}},
                               {3, 3, 3, 3, 3, 2, 1}, o_.seed * 2 + 1, o_.without);
    if (s.empty()) return;
    while (Pause(s.Uniform(2, 5))) {
      switch (s.Next()) {
        case CollectorFault::k5xx: {
          const int status = 500 + s.Int(0, 4);
          g_faults.Note("http-5xx", "every request answered " + std::to_string(status));
          collector_.FailAll(ScriptedAnswer::Status(status));
          Pause(s.Uniform(1, 4));
          break;
        }
        case CollectorFault::k429: {
          const int secs = s.Int(1, 2);
          g_faults.Note("http-429", "Retry-After: " + std::to_string(secs));
          collector_.FailAll(ScriptedAnswer::Status(429, std::to_string(secs)));
          Pause(s.Uniform(1, 3));
          break;
        }
        case CollectorFault::kSlow: {
          const int delay = kTimeoutMs + s.Int(500, 1500);
          g_faults.Note("slow", "answers 201 after " + std::to_string(delay) + " ms (collector.timeout " +
                                    std::to_string(kTimeoutMs) + " ms)");
          collector_.FailAll(ScriptedAnswer::Slow(delay));
          Pause(s.Uniform(2, 5));
          break;
        }
        case CollectorFault::kDrop:
          g_faults.Note("dropped-connections", "every request's connection broken");
          collector_.FailAll(ScriptedAnswer::Drop());
          Pause(s.Uniform(1, 3));
          break;
        case CollectorFault::kRandom: {
          const double fraction = s.Uniform(0.2, 0.6);
          g_faults.Note("random-failures", Fixed(fraction * 100, 0) + "% of requests 503 or broken");
          collector_.FailRandomly(fraction, o_.seed + static_cast<uint64_t>(Now() * 1000));
          Pause(s.Uniform(3, 8));
          break;
        }
        case CollectorFault::kDown:
          g_faults.Note("collector-down", "");
          collector_.Stop();
          Pause(s.Uniform(2, 8));
          collector_.Restart();
          break;
        case CollectorFault::kSpoolFill:
          SpoolFill();
          break;
      }
      collector_.Heal();
      if (!collector_.serving()) collector_.Restart();
      g_faults.Note("collector-healthy", "", false);
    }
  }

  // The collector down until the spool is full, then a while longer with the
  // agent blocked (files are the buffer), then up again.
  void SpoolFill() {
    const std::string spool = dir_ + "/spool";
    g_faults.Note("spool-fill", "collector down until the spool is full");
    collector_.Stop();
    const double give_up = Now() + 120;
    double used = 0;
    while ((used = UsedFraction(spool, tmpfs_, spool_limit_)) < 0.9 && Now() < give_up && Now() < chaos_end_) {
      std::this_thread::sleep_for(milliseconds(200));
    }
    if (used >= 0.9) {
      g_faults.Note("spool-full", Fixed(used * 100, 0) + "% used; held full for 5 s");
      const double until = Now() + 5;
      while (Now() < until) std::this_thread::sleep_for(milliseconds(50));
    } else {
      g_faults.Note("spool-fill-incomplete", "only " + Fixed(used * 100, 0) + "% used when it ended", false);
    }
    collector_.Restart();
  }

  // --- The agent's and the files' faults ---

  enum class AgentFault {
    kRotateCreate, kRotateCopy, kTruncateBurst, kWriterRename, kDeleteMoved, kKill9, kKill9RotateDown, kTerm, kHup
  };

  void AgentChaos() {
    Schedule<AgentFault> s({{AgentFault::kRotateCreate, "logrotate-create"},
                            {AgentFault::kRotateCopy, "logrotate-copytruncate"},
                            {AgentFault::kTruncateBurst, "truncate-burst"},
                            {AgentFault::kWriterRename, "writer-rename"},
                            {AgentFault::kDeleteMoved, "delete-moved"},
                            {AgentFault::kKill9, "kill-9"},
                            {AgentFault::kKill9RotateDown, "kill-9-rotate-while-down"},
                            {AgentFault::kTerm, "sigterm"},
                            {AgentFault::kHup, "sighup"}},
                           {4, 4, 2, 2, 2, 2, 1, 2, 2}, o_.seed * 2 + 2, o_.without);
    while (Pause(s.Uniform(1.5, 4))) {
      CheckAlive();
      if (s.empty()) continue;
      Writer& w = *writers_[s.Int(0, o_.writers - 1)];
      switch (s.Next()) {
        case AgentFault::kRotateCreate:
          Logrotate(w, /*copytruncate=*/false);
          break;
        case AgentFault::kRotateCopy:
          Logrotate(w, /*copytruncate=*/true);
          break;
        case AgentFault::kTruncateBurst:
          // A small file truncated while the agent reads along, and written
          // past its old size at once: half a second after a copytruncate,
          // another, right followed by a second's worth of lines in one write.
          Logrotate(w, /*copytruncate=*/true);
          Pause(0.5);
          Logrotate(w, /*copytruncate=*/true, /*burst=*/true);
          break;
        case AgentFault::kWriterRename: {
          const std::string to = w.path() + "-moved-" + std::to_string(++moves_);
          auto hold = w.Hold();
          if (w.RenameAwayLocked(to)) {
            moved_[w.index()].push_back(to);
            g_faults.Note("writer-rename", "w" + std::to_string(w.index()) + ".log renamed to " +
                                               std::filesystem::path(to).filename().string() + " and recreated");
          } else {
            Harness("rename " + w.path() + ": " + std::strerror(errno));
          }
          break;
        }
        case AgentFault::kDeleteMoved:
          DeleteMoved(w);
          break;
        case AgentFault::kKill9: {
          g_faults.Note("kill-9", "pid " + std::to_string(agent_->pid()));
          agent_->Kill9();
          Pause(s.Uniform(0, 1.5));
          StartAgent();
          break;
        }
        case AgentFault::kKill9RotateDown: {
          g_faults.Note("kill-9", "pid " + std::to_string(agent_->pid()) + ", then a rotation while it is down");
          agent_->Kill9();
          Logrotate(w, s.Int(0, 1) == 1);
          Pause(s.Uniform(0.5, 1.5));
          StartAgent();
          break;
        }
        case AgentFault::kTerm: {
          g_faults.Note("sigterm", "pid " + std::to_string(agent_->pid()));
          const int status = agent_->Terminate(milliseconds(kDrainTimeoutMs + 30'000));
          if (status != 0) {
            Finding("SIGTERM: the agent " +
                    (status < 0 ? std::string("did not exit within 32 s (killed)") : "exited " + std::to_string(status)));
          }
          StartAgent();
          break;
        }
        case AgentFault::kHup: {
          variant_ = (variant_ + 1 + s.Int(0, 1)) % 3;
          static const char* kWhat[] = {"the base rules", "a property added to context", "a second rule added"};
          WriteAtomically(config_, ConfigYaml(dir_, collector_.url(), tmpfs_, variant_, o_.writers));
          g_faults.Note("sighup", std::string("rules changed: ") + kWhat[variant_]);
          agent_->Signal(SIGHUP);
          break;
        }
      }
    }
  }

  void StartAgent() {
    if (!agent_->Start()) {
      Harness("cannot start the agent again");
      return;
    }
    g_faults.Note("agent-started", "pid " + std::to_string(agent_->pid()), false);
  }

  void CheckAlive() {
    if (auto status = agent_->Exited()) {
      Finding("the agent exited by itself with status " + std::to_string(*status) + "; restarted");
      StartAgent();
    }
  }

  // True when every line in `path` reached the collector or the dead-letter file.
  bool AllSettled(const std::string& path) {
    ledger_.ScanDeadLetters(DeadLetterFiles());
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
      int w = 0;
      uint64_t seq = 0;
      if (ParseLine(line, &w, &seq) && !ledger_.Settled(w, seq)) return false;
    }
    return true;
  }

  void Logrotate(Writer& w, bool copytruncate, bool burst = false) {
    const std::string name = "w" + std::to_string(w.index()) + ".log";
    const std::string oldest = w.path() + "." + std::to_string(kRotateCount);
    if (std::filesystem::exists(oldest) && !AllSettled(oldest)) {
      g_faults.Note("rotation-deferred", name + "." + std::to_string(kRotateCount) +
                                             " would be deleted before all its lines were delivered");
      return;
    }
    const std::string conf = dir_ + "/logrotate.conf";
    testing::WriteFile(conf, w.path() + " {\n    rotate " + std::to_string(kRotateCount) + "\n    " +
                                 (copytruncate ? "copytruncate" : "create") +
                                 "\n    missingok\n    nocompress\n}\n");
    const bool deletes = std::filesystem::exists(oldest);
    std::string out;
    int status = 0;
    if (copytruncate) {
      // logrotate loses what is written between its copy and its truncate:
      // the writer waits, so that the run counts only the agent's losses.
      auto hold = w.Hold();
      status = RunLogrotate(conf, &out);
      w.NoteEpochLocked(burst ? "logrotate copytruncate, then a burst" : "logrotate copytruncate");
      if (burst && status == 0) w.WriteLocked(static_cast<uint64_t>(w.rate()));
    } else {
      status = RunLogrotate(conf, &out);
      auto hold = w.Hold();
      w.NoteEpochLocked("logrotate create (still writing into the rotated file)");
    }
    if (status != 0) {
      Harness("logrotate exited " + std::to_string(status) + ": " + out);
      return;
    }
    if (!copytruncate) w.ReopenIn(1000);  // the application reopens its log a second late
    g_faults.Note(burst ? "truncate-burst" : copytruncate ? "logrotate-copytruncate" : "logrotate-create",
                  name + (burst ? ": copytruncate 0.5 s after the last, then a second's lines in one write"
                                : copytruncate ? "" : ", the writer reopens 1 s later") +
                      (deletes ? ", " + name + "." + std::to_string(kRotateCount) + " deleted" : ""));
    if (deletes) g_faults.Note("rotation-deleted", name + "." + std::to_string(kRotateCount));
  }

  int RunLogrotate(const std::string& conf, std::string* out) {
    const std::string out_path = dir_ + "/logrotate.out";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    const pid_t pid = testing::Spawn({kLogrotate, "-f", "-s", dir_ + "/logrotate.state", conf}, {}, &actions);
    posix_spawn_file_actions_destroy(&actions);
    if (pid <= 0) return -1;
    int st = 0;
    ::waitpid(pid, &st, 0);
    *out = testing::ReadFile(out_path);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }

  void DeleteMoved(Writer& w) {
    auto& moved = moved_[w.index()];
    if (moved.empty()) {
      // Nothing moved yet: move one now, to be deleted later.
      auto hold = w.Hold();
      const std::string to = w.path() + "-moved-" + std::to_string(++moves_);
      if (w.RenameAwayLocked(to)) {
        moved.push_back(to);
        g_faults.Note("writer-rename", std::filesystem::path(to).filename().string());
      }
      return;
    }
    const std::string victim = moved.front();
    const std::string name = std::filesystem::path(victim).filename().string();
    if (!AllSettled(victim)) {
      g_faults.Note("deletion-deferred", name + " holds lines not yet delivered");
      return;
    }
    std::filesystem::remove(victim);
    moved.erase(moved.begin());
    g_faults.Note("delete-moved", name);
  }

  std::vector<std::string> DeadLetterFiles() const {
    return {dir_ + "/state/dead-letter.jsonl.1", dir_ + "/state/dead-letter.jsonl"};
  }

  // --- The end ---

  void Finish(const Sampler&) {
    g_faults.Note("chaos-over", "collector healed; writers stopped; waiting until everything is settled", false);
    collector_.Heal();
    if (!collector_.serving()) collector_.Restart();
    CheckAlive();
    if (agent_->pid() <= 0) StartAgent();
    std::vector<uint64_t> written;
    for (auto& w : writers_) {
      w->Stop();
      written.push_back(w->written());
    }
    written_ = written;
    // Generous: the spool replays in seconds; a miss here is a loss, reported.
    const double deadline = Now() + o_.settle_timeout;
    while (Now() < deadline) {
      ledger_.ScanDeadLetters(DeadLetterFiles());
      if (ledger_.Count(written).lost == 0) break;
      CheckAlive();
      std::this_thread::sleep_for(milliseconds(500));
    }
    settled_after_ = Now() - chaos_end_;
    std::this_thread::sleep_for(milliseconds(1500));  // time for a wrong re-send to arrive
    const int status = agent_->Terminate(milliseconds(kDrainTimeoutMs + 30'000));
    if (status != 0) Finding("final SIGTERM: the agent exited " + std::to_string(status));
    g_faults.Note("agent-stopped", "exit " + std::to_string(status), false);
    ledger_.ScanDeadLetters(DeadLetterFiles());
  }

  // An unexpected event in the agent's behaviour: a violation.
  void Finding(const std::string& what) {
    g_faults.Note("FINDING", what, false);
    std::lock_guard lock(mu_);
    findings_.push_back(what);
  }
  // The run itself went wrong (logrotate failed...): also fails the run.
  void Harness(const std::string& what) {
    g_faults.Note("HARNESS-ERROR", what, false);
    std::lock_guard lock(mu_);
    harness_errors_.push_back(what);
  }

  // Lines of the agent's log between the chaos notes of [t0, t1].
  std::vector<std::string> AgentLogExcerpt(double t0, double t1, size_t max_lines) const {
    std::ifstream in(agent_log_);
    std::vector<std::string> out;
    double t = 0;
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("=== chaos [", 0) == 0) t = std::atof(line.c_str() + 11);
      if (t >= t0 && t <= t1) out.push_back(line);
    }
    if (out.size() > max_lines) out.erase(out.begin(), out.end() - static_cast<ptrdiff_t>(max_lines));
    return out;
  }

  int Report(const Sampler& sampler) {
    const Ledger::Totals t = ledger_.Count(written_);
    const double peak_mib = sampler.peak_rss_kib() / 1024.0;
    const uint64_t fd_bound = o_.fd_budget > 0
                                  ? static_cast<uint64_t>(o_.fd_budget)
                                  : 64 + static_cast<uint64_t>(o_.writers) * (1 + kRotateCount + 4);
    std::vector<std::string> violations;
    auto check = [&](bool bad, const std::string& what) {
      if (bad) violations.push_back(what);
    };
    check(t.lost > 0, std::to_string(t.lost) + " lines lost (neither delivered nor dead-lettered)");
    check(t.dup_other > 0, std::to_string(t.dup_other) + " deliveries under another messageId than the line's first");
    check(t.foreign > 0, std::to_string(t.foreign) + " messageIds naming two different lines");
    check(t.unknown + t.corrupt + t.phantom > 0,
          std::to_string(t.unknown + t.corrupt + t.phantom) + " events that are no line written (torn, mixed up or unknown)");
    check(t.dead_good > 0, std::to_string(t.dead_good) + " good lines dead-lettered");
    check(peak_mib > o_.rss_budget_mib, "peak RSS " + Fixed(peak_mib) + " MiB over the budget of " +
                                            Fixed(o_.rss_budget_mib, 0) + " MiB");
    check(sampler.max_fds() > fd_bound, std::to_string(sampler.max_fds()) + " descriptors, over the bound of " +
                                            std::to_string(fd_bound));
    for (const auto& f : findings_) violations.push_back(f);
    for (const auto& h : harness_errors_) violations.push_back("harness: " + h);

    const auto faults = g_faults.counts();
    std::printf("\n==== chaos summary (seed %" PRIu64 ", %.1f min of faults, settled %.1f s after) ====\n", o_.seed,
                o_.minutes, settled_after_);
    std::printf("lines written            %" PRIu64 " (%" PRIu64 " poison)\n", t.written, t.poison_written);
    std::printf("delivered                %" PRIu64 " (good lines accepted at least once)\n", t.delivered);
    std::printf("dead-lettered (poison)   %" PRIu64 "\n", t.dead_lettered);
    std::printf("lost                     %" PRIu64 "\n", t.lost);
    std::printf("duplicates (same id)     %" PRIu64 "\n", t.dup_same);
    std::printf("again under another id   %" PRIu64 "\n", t.dup_other);
    std::printf("foreign-id duplicates    %" PRIu64 "\n", t.foreign);
    std::printf("torn/unknown events      %" PRIu64 "\n", t.unknown + t.corrupt + t.phantom);
    std::printf("good lines dead-lettered %" PRIu64 "\n", t.dead_good);
    std::printf("poison accepted (slow)   %" PRIu64 " (a slow 201 after the agent gave up; re-sent, then refused)"
                ", %" PRIu64 " of them not dead-lettered\n",
                t.poison_accepted, t.poison_accepted_only);
    std::printf("second-rule events       %" PRIu64 "\n", t.tick_events);
    std::printf("events accepted          %" PRIu64 " in %zu requests\n", t.accepted_events, collector_.request_count());
    std::printf("peak RSS                 %.1f MiB (budget %.0f MiB)\n", peak_mib, o_.rss_budget_mib);
    std::printf("max descriptors          %" PRIu64 " (bound %" PRIu64 ")\n", sampler.max_fds(), fd_bound);
    std::printf("agent starts             %d\n", agent_->starts());
    std::printf("spool                    %s\n", tmpfs_ ? "8 MiB tmpfs" : "disk, spool.max_bytes 8MiB (no tmpfs)");
    std::printf("faults:");
    for (const auto& [kind, n] : faults) std::printf(" %s=%d", kind.c_str(), n);
    std::printf("\n");

    auto examples = [](const char* title, const std::vector<std::string>& v) {
      if (v.empty()) return;
      std::printf("%s:\n", title);
      for (const auto& e : v) std::printf("  %s\n", e.c_str());
    };
    examples("again under another messageId (first examples)", t.other_id_examples);
    if (t.first_other_at >= 0) {
      std::printf("again under another messageId, by writer:");
      for (const auto& [w, r] : t.other_ranges) std::printf(" w%d seq %" PRIu64 "..%" PRIu64, w, r.first, r.second);
      std::printf("\nfaults before the first of them (at %.1fs):\n", t.first_other_at);
      for (const auto& f : g_faults.Between(t.first_other_at - 15, t.first_other_at + 1)) std::printf("  %s\n", f.c_str());
      std::printf("agent log before it:\n");
      for (const auto& l : AgentLogExcerpt(t.first_other_at - 15, t.first_other_at + 1, 60)) {
        std::printf("  %s\n", l.c_str());
      }
    }
    examples("foreign-id duplicates", t.foreign_examples);
    examples("unknown events", t.unknown_examples);
    examples("torn or mixed-up events", t.corrupt_examples);
    examples("good lines dead-lettered", t.dead_good_examples);
    if (!t.lost_lines.empty()) {
      std::printf("lost lines (first %zu):\n", t.lost_lines.size());
      double first_t = -1;
      for (const auto& [w, seq] : t.lost_lines) {
        const auto [when, what] = writers_[w]->Where(seq);
        if (first_t < 0) first_t = when;
        std::printf("  w%d seq=%" PRIu64 " written at %.1fs, after: %s\n", w, seq, when, what.c_str());
      }
      std::printf("faults around the first lost line:\n");
      for (const auto& f : g_faults.Between(first_t - 10, first_t + 5)) std::printf("  %s\n", f.c_str());
      std::printf("agent log around it:\n");
      for (const auto& l : AgentLogExcerpt(first_t - 10, first_t + 5, 60)) std::printf("  %s\n", l.c_str());
    }
    if (violations.empty()) {
      std::printf("result: PASS\n");
    } else {
      failed_ = true;
      std::printf("result: FAIL\n");
      for (const auto& v : violations) std::printf("  violation: %s\n", v.c_str());
      if (!o_.discard) std::printf("work directory kept: %s (agent log: %s)\n", dir_.c_str(), agent_log_.c_str());
    }
    if (o_.keep && violations.empty()) std::printf("work directory kept: %s\n", dir_.c_str());
    if (!o_.json.empty()) WriteJson(t, faults, violations, peak_mib, sampler.max_fds(), fd_bound);
    return violations.empty() ? 0 : 1;
  }

  static std::string JsonString(const std::string& s) {
    std::string out = "\"";
    for (const char c : s) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out += c;
      }
    }
    return out + "\"";
  }

  void WriteJson(const Ledger::Totals& t, const std::map<std::string, int>& faults,
                 const std::vector<std::string>& violations, double peak_mib, uint64_t max_fds, uint64_t fd_bound) {
    std::string j = "{\n";
    auto num = [&](const char* k, auto v) { j += "  \"" + std::string(k) + "\": " + std::to_string(v) + ",\n"; };
    j += "  \"result\": " + JsonString(violations.empty() ? "pass" : "fail") + ",\n";
    num("seed", o_.seed);
    j += "  \"minutes\": " + Fixed(o_.minutes, 2) + ",\n";
    num("writers", o_.writers);
    num("lines_per_second_per_writer", o_.rate);
    num("lines_written", t.written);
    num("poison_written", t.poison_written);
    num("delivered", t.delivered);
    num("dead_lettered", t.dead_lettered);
    num("lost", t.lost);
    num("duplicates_same_id", t.dup_same);
    num("again_under_another_id", t.dup_other);
    num("foreign_id_duplicates", t.foreign);
    num("torn_or_unknown_events", t.unknown + t.corrupt + t.phantom);
    num("good_lines_dead_lettered", t.dead_good);
    num("poison_accepted_by_slow_answers", t.poison_accepted);
    num("poison_accepted_not_dead_lettered", t.poison_accepted_only);
    num("events_accepted", t.accepted_events);
    j += "  \"peak_rss_mib\": " + Fixed(peak_mib, 2) + ",\n";
    j += "  \"rss_budget_mib\": " + Fixed(o_.rss_budget_mib, 0) + ",\n";
    num("max_fds", max_fds);
    num("fd_bound", fd_bound);
    num("agent_starts", agent_->starts());
    j += "  \"spool_tmpfs\": " + std::string(tmpfs_ ? "true" : "false") + ",\n";
    j += "  \"settled_after_seconds\": " + Fixed(settled_after_, 1) + ",\n";
    j += "  \"faults\": {";
    bool first = true;
    for (const auto& [kind, n] : faults) {
      j += std::string(first ? "" : ", ") + JsonString(kind) + ": " + std::to_string(n);
      first = false;
    }
    j += "},\n  \"violations\": [";
    for (size_t i = 0; i < violations.size(); ++i) j += (i ? ", " : "") + JsonString(violations[i]);
    j += "]\n}\n";
    testing::WriteFile(o_.json, j);
  }

  const Options o_;
  const Lines lines_;
  Ledger ledger_;
  FakeCollector collector_{kKey};
  std::string dir_, config_, agent_log_;
  bool owns_dir_ = false, tmpfs_ = false, failed_ = false;
  uint64_t spool_limit_ = 0;
  std::vector<std::unique_ptr<Writer>> writers_;
  std::vector<std::vector<std::string>> moved_;
  int moves_ = 0;
  int variant_ = 0;
  std::unique_ptr<Agent> agent_;
  double chaos_end_ = 0, settled_after_ = 0;
  std::vector<uint64_t> written_;
  std::mutex mu_;
  std::vector<std::string> findings_, harness_errors_;
};

int Usage(const char* why) {
  std::fprintf(stderr,
               "tailtrack_chaos: %s\n"
               "usage: tailtrack_chaos [--minutes N | --long] [--seed S] [--binary PATH] [--json FILE] [--keep | --discard]\n"
               "                       [--workdir DIR] [--writers N] [--rate LINES_PER_S] [--rss-budget-mib N]\n"
               "                       [--settle-timeout SECS] [--without KIND,...]\n"
               "fault kinds: http-5xx http-429 slow dropped-connections random-failures collector-down spool-fill\n"
               "             logrotate-create logrotate-copytruncate truncate-burst writer-rename delete-moved kill-9\n"
               "             kill-9-rotate-while-down sigterm sighup\n",
               why);
  return 2;
}

}  // namespace
}  // namespace tailtrack::chaos

int main(int argc, char** argv) {
  using namespace tailtrack::chaos;
  Options o;
  bool minutes_given = false, long_profile = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--long") {
      long_profile = true;
    } else if (a == "--keep") {
      o.keep = true;
    } else if (a == "--discard") {
      o.discard = true;
    } else if (a == "--help" || a == "-h") {
      Usage("the chaos run");
      return 0;
    } else if (!(v = value())) {
      return Usage(("unknown option or missing value: " + a).c_str());
    } else if (a == "--minutes") {
      o.minutes = std::atof(v);
      minutes_given = true;
    } else if (a == "--seed") {
      o.seed = std::strtoull(v, nullptr, 10);
      o.seed_given = true;
    } else if (a == "--binary") {
      o.binary = v;
    } else if (a == "--json") {
      o.json = v;
    } else if (a == "--workdir") {
      o.workdir = v;
    } else if (a == "--writers") {
      o.writers = std::atoi(v);
    } else if (a == "--rate") {
      o.rate = std::atoi(v);
    } else if (a == "--without") {
      std::stringstream names(v);
      static const std::set<std::string> kKinds = {
          "http-5xx", "http-429", "slow", "dropped-connections", "random-failures", "collector-down", "spool-fill",
          "logrotate-create", "logrotate-copytruncate", "truncate-burst", "writer-rename", "delete-moved", "kill-9",
          "kill-9-rotate-while-down", "sigterm", "sighup"};
      for (std::string name; std::getline(names, name, ',');) {
        if (!kKinds.count(name)) return Usage(("unknown fault kind in --without: " + name).c_str());
        o.without.insert(name);
      }
    } else if (a == "--settle-timeout") {
      o.settle_timeout = std::atof(v);
    } else if (a == "--rss-budget-mib") {
      o.rss_budget_mib = std::atof(v);
    } else {
      return Usage(("unknown option: " + a).c_str());
    }
  }
  if (long_profile && !minutes_given) o.minutes = 30;
  if (!(o.minutes > 0) || o.writers < 1 || o.writers > 16 || o.rate < 1) return Usage("bad --minutes, --writers or --rate");
  if (!o.seed_given) o.seed = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) % 1000000;
  if (o.binary.empty()) {
    // Beside this program, as CMake builds them.
    o.binary = (std::filesystem::canonical("/proc/self/exe").parent_path() / "tailtrack").string();
  }
  if (::access(o.binary.c_str(), X_OK) != 0) return Usage(("no tailtrack binary at " + o.binary).c_str());
  signal(SIGPIPE, SIG_IGN);
  Run run(o);
  return run.Main();
}
