// A child process run the way a person runs it at a terminal: stdout or
// stderr (or both) on a pseudo-terminal, the other to a file; stdin from a
// pipe the test writes to. What the child writes to the terminal is
// collected as it comes, on a thread, byte for byte (no newline translation).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace tailtrack::testing {

// Whether this machine can open a pseudo-terminal (a chroot without
// /dev/pts cannot): tests that need one skip, saying so, when it cannot.
bool PseudoTerminalsWork();

class TerminalChild {
 public:
  enum class Terminal { kStdout, kStderr, kBoth };

  // Starts `argv[0]` with `argv`, extra environment `env` ("NAME=value"), on
  // a 120-column, 40-row terminal.
  TerminalChild(const std::vector<std::string>& argv, Terminal terminal, const std::vector<std::string>& env = {});
  ~TerminalChild();  // kills it if still running
  TerminalChild(const TerminalChild&) = delete;
  TerminalChild& operator=(const TerminalChild&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // Waits for the exit and the last bytes on the terminal; the exit status,
  // -1 on timeout (it is then killed), or 128+signal.
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Everything written to the terminal so far.
  std::string terminal() const;
  // The stream that is not on the terminal (empty with kBoth).
  std::string file() const;
  // Writes to the child's stdin; CloseStdin() gives it the end of input.
  bool WriteStdin(const std::string& data);
  void CloseStdin();

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  int master_ = -1;
  int stdin_ = -1;
  TempDir dir_;
  mutable std::mutex mu_;
  std::string terminal_;
  std::thread reader_;
};

}  // namespace tailtrack::testing
