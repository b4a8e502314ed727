#include "terminal_child.h"

#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>


namespace tailtrack::testing {

bool PseudoTerminalsWork() {
  int master = -1, slave = -1;
  if (::openpty(&master, &slave, nullptr, nullptr, nullptr) != 0) return false;
  ::close(master);
  ::close(slave);
  return true;
}


TerminalChild::TerminalChild(const std::vector<std::string>& argv, Terminal terminal,
                             const std::vector<std::string>& env) {
  int slave = -1;
  struct winsize size{};
  size.ws_row = 40;
  size.ws_col = 120;
  if (::openpty(&master_, &slave, nullptr, nullptr, &size) != 0) return;
  // Raw output: the test sees exactly the bytes written ("\n", not "\r\n").
  struct termios mode{};
  ::tcgetattr(slave, &mode);
  ::cfmakeraw(&mode);
  ::tcsetattr(slave, TCSANOW, &mode);
  int in[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return;
  ::signal(SIGPIPE, SIG_IGN);  // a child that exits early fails WriteStdin, not the test binary
  stdin_ = in[1];

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  const std::string file = dir_ / "file";
  if (terminal == Terminal::kStderr) {
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  } else {
    posix_spawn_file_actions_adddup2(&actions, slave, STDOUT_FILENO);
  }
  if (terminal == Terminal::kStdout) {
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  } else {
    posix_spawn_file_actions_adddup2(&actions, slave, STDERR_FILENO);
  }
  pid_ = Spawn(argv, env, &actions);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(slave);  // the child holds the only copies now: its exit ends the reads with EIO

  reader_ = std::thread([this] {
    char buf[4096];
    while (true) {
      const ssize_t n = ::read(master_, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      std::lock_guard<std::mutex> lock(mu_);
      terminal_.append(buf, static_cast<size_t>(n));
    }
  });
}

TerminalChild::~TerminalChild() {
  if (pid_ > 0 && status_ == -1) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  CloseStdin();
  if (reader_.joinable()) reader_.join();
  if (master_ >= 0) ::close(master_);
}

void TerminalChild::Signal(int sig) {
  if (pid_ > 0 && status_ == -1) ::kill(pid_, sig);
}

int TerminalChild::Wait(std::chrono::milliseconds timeout) {
  if (status_ != -1) return status_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int st = 0;
    const pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      status_ = -1;
      pid_ = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (reader_.joinable()) reader_.join();
  return status_;
}

std::string TerminalChild::terminal() const {
  std::lock_guard<std::mutex> lock(mu_);
  return terminal_;
}

std::string TerminalChild::file() const {
  std::string out;
  if (::access((dir_ / "file").c_str(), F_OK) == 0) out = ReadFile(dir_ / "file");
  return out;
}

bool TerminalChild::WriteStdin(const std::string& data) {
  size_t done = 0;
  while (stdin_ >= 0 && done < data.size()) {
    const ssize_t n = ::write(stdin_, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return stdin_ >= 0;
}

void TerminalChild::CloseStdin() {
  if (stdin_ >= 0) ::close(stdin_);
  stdin_ = -1;
}

}  // namespace tailtrack::testing
