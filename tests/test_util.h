// Helpers for tests: temporary directories, files, a uv loop to step, and the
// tailtrack binary run as a child process.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <string>
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
  std::string out() const;
  std::string err() const;

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  TempDir dir_;
};

}  // namespace tailtrack::testing
