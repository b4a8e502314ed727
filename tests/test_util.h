// Helpers for tests: temporary directories, files, a uv loop to step, and the
// tailtrack binary run as a child process.
#pragma once

#include <spawn.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace tailtrack::testing {

// A fresh directory, removed with everything in it at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, const std::string& content);
void AppendFile(const std::string& path, const std::string& content);
std::string ReadFile(const std::string& path);
// The non-empty lines of a file, without their newlines.
std::vector<std::string> ReadLines(const std::string& path);

// Runs `loop` until pred() holds or `timeout` passes; returns pred().
bool RunLoopUntil(uv_loop_t* loop, const std::function<bool()>& pred,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Runs `loop` until it has no handles left to close (after Close() calls).
void RunLoopToEnd(uv_loop_t* loop);

// Polls pred() every 10 ms until it holds or `timeout` passes.
bool Eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Starts `argv[0]` with `argv`, this process's environment plus `env`
// ("NAME=value"), the file actions given, and no signal blocked; its pid, or
// -1 when it cannot be started.
pid_t Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
            const posix_spawn_file_actions_t* actions);

// A child process with its stdout and stderr captured to files.
class Child {
 public:
  // Starts `argv[0]` with `argv`, extra environment `env` ("NAME=value").
  Child(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});
  ~Child();  // kills it if still running
  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // Waits for the exit; returns the exit status, or -1 on timeout (it is then killed), or 128+signal.
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // True while the process has not exited (an exit is then kept for Wait()).
  bool Running();
  std::string out() const;
  std::string err() const;

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  TempDir dir_;
};

// Regular files under `dir` (and its subdirectories) whose names end with
// `suffix`, sorted by path; none when `dir` does not exist.
std::vector<std::string> FindFiles(const std::string& dir, const std::string& suffix);
// The size of a file, 0 when it cannot be stat'ed; and the sum over files.
uint64_t FileSize(const std::string& path);
uint64_t TotalSize(const std::vector<std::string>& paths);

// Appends lines to a file at a steady rate on its own thread, the way an
// application logs: through one descriptor opened O_APPEND (so that after a
// copytruncate it writes at the new end) and kept until Reopen() (so that
// after a rename it goes on writing into the renamed file, as an application
// does until it is told to reopen its log). Each 5 ms it writes, in one
// write(2), the lines due by then: line(0), line(1), ...
class LineWriter {
 public:
  LineWriter(std::string path, std::function<std::string(int)> line, int lines_per_second);
  ~LineWriter();  // Stop()
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;

  // The next lines go to a fresh open(2) of the path (created if missing).
  void Reopen();
  // Stops writing and joins the thread; idempotent.
  void Stop();
  // Lines completely written so far: line(0) to line(written() - 1).
  int written() const { return written_.load(); }

 private:
  void Run();

  std::string path_;
  std::function<std::string(int)> line_;
  int rate_;
  std::atomic<int> written_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> reopen_{false};
  std::thread thread_;
};

// --- The shop application of the end-to-end tests ---

// A log line of the shop application that E2eConfigYaml's rule maps to a
// track "Order Completed" event with properties.order_id = `token` (a token
// unique to the line, \S+), newline included.
std::string ShopOrderLine(const std::string& token);
// The tokens of the ShopOrderLine lines in `text`, in order.
std::vector<std::string> ShopOrderTokens(const std::string& text);

// An agent configuration for end-to-end tests: one file source `shop` with
// the order-completed rule. Values are written to the YAML as they are given;
// an empty one leaves its key out (the agent's default).
// Connects to the Unix socket at `path` (`type`: SOCK_STREAM or SOCK_DGRAM,
// with SOCK_NONBLOCK if wanted); -1 when nobody listens (yet).
int ConnectUnix(const std::string& path, int type = SOCK_STREAM);

// One ready-made event line for a socket source, with `id` as its userId.
std::string SocketEventLine(const std::string& id);

// The port of the admin endpoint `agent` bound (admin.listen on port 0: it
// says which in its log); 0 if it has not said so within `timeout`.
int AdminPort(const Child& agent, std::chrono::milliseconds timeout = std::chrono::seconds(20));

// A process's peak resident memory (VmHWM), in bytes; 0 when unknown.
uint64_t PeakRss(pid_t pid);

struct E2eConfig {
  std::string url;
  std::string write_key;        // exactly one of write_key and write_key_file
  std::string write_key_file;
  std::string timeout = "2s";
  std::string max_in_flight = "4";
  std::string drain_timeout = "500ms";
  std::string initial_backoff = "50ms";
  std::string max_backoff = "500ms";
  std::string max_events = "50";
  std::string max_bytes = "500KiB";
  std::string flush_interval = "100ms";
  std::string state_dir;        // required
  std::string spool_dir;
  std::string spool_max_bytes;
  std::string when_full;        // drop_oldest | block
  std::string fsync;            // true | false
  std::vector<std::string> paths;
  std::string start_at = "beginning";
  std::string poll_interval = "250ms";
  std::string rotate_wait;
};
std::string E2eConfigYaml(const E2eConfig& c);

}  // namespace tailtrack::testing
