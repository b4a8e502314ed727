#include "test_util.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <sys/un.h>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

extern char** environ;

namespace tailtrack::testing {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "tailtrack-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) std::abort();
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

void AppendFile(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary | std::ios::app) << content;
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool RunLoopUntil(uv_loop_t* loop, const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  // A ticking timer so that each UV_RUN_ONCE returns within 10 ms.
  uv_timer_t tick;
  uv_timer_init(loop, &tick);
  uv_timer_start(&tick, [](uv_timer_t*) {}, 10, 10);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool ok = pred();
  while (!ok && std::chrono::steady_clock::now() < deadline) {
    uv_run(loop, UV_RUN_ONCE);
    ok = pred();
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);
  return ok;
}

void RunLoopToEnd(uv_loop_t* loop) {
  uv_run(loop, UV_RUN_DEFAULT);
}

bool Eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

pid_t Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
            const posix_spawn_file_actions_t* actions) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  env_strings.insert(env_strings.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (const auto& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  // The test runner's threads may block signals; the child starts with none blocked.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  if (posix_spawn(&pid, args[0], actions, &attr, args.data(), envp.data()) != 0) pid = -1;
  posix_spawnattr_destroy(&attr);
  return pid;
}

Child::Child(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, (dir_ / "stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, (dir_ / "stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_ = Spawn(argv, env, &actions);
  posix_spawn_file_actions_destroy(&actions);
}

Child::~Child() {
  if (pid_ > 0 && status_ == -1) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

void Child::Signal(int sig) {
  if (pid_ > 0 && status_ == -1) kill(pid_, sig);
}

int Child::Wait(std::chrono::milliseconds timeout) {
  if (status_ != -1) return status_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int st = 0;
    const pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return status_;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      status_ = -2;
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

bool Child::Running() {
  if (pid_ <= 0 || status_ != -1) return false;
  int st = 0;
  if (waitpid(pid_, &st, WNOHANG) == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return false;
  }
  return true;
}

std::string Child::out() const { return ReadFile(dir_ / "stdout"); }
std::string Child::err() const { return ReadFile(dir_ / "stderr"); }

std::vector<std::string> FindFiles(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> found;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;
    const std::string path = it->path().string();
    if (path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0) {
      found.push_back(path);
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

uint64_t TotalSize(const std::vector<std::string>& paths) {
  uint64_t total = 0;
  for (const auto& p : paths) total += FileSize(p);
  return total;
}

LineWriter::LineWriter(std::string path, std::function<std::string(int)> line, int lines_per_second)
    : path_(std::move(path)), line_(std::move(line)), rate_(lines_per_second) {
  thread_ = std::thread([this] { Run(); });
}

LineWriter::~LineWriter() { Stop(); }

void LineWriter::Reopen() { reopen_ = true; }

void LineWriter::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void LineWriter::Run() {
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  const auto start = std::chrono::steady_clock::now();
  while (!stop_) {
    if (reopen_.exchange(false)) {
      if (fd >= 0) ::close(fd);
      fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    }
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    const int due = static_cast<int>(elapsed.count() * rate_ / 1000);
    std::string chunk;
    for (int i = written_; i < due; ++i) chunk += line_(i);
    if (!chunk.empty() && fd >= 0) {
      // Lines are whole in each write; a short write (a full disk) is not
      // expected here, and would be a test bug to see.
      const ssize_t n = ::write(fd, chunk.data(), chunk.size());
      if (n == static_cast<ssize_t>(chunk.size())) written_ = due;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (fd >= 0) ::close(fd);
}

std::string ShopOrderLine(const std::string& token) {
  return "2026-01-20T06:30:00.123Z INFO order completed order_id=" + token + " user_id=user_" + token +
         " total=99.99 currency=USD\n";
}

std::vector<std::string> ShopOrderTokens(const std::string& text) {
  static const std::regex kToken(" order completed order_id=(\\S+) ");
  std::vector<std::string> tokens;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kToken); it != std::sregex_iterator(); ++it) {
    tokens.push_back((*it)[1].str());
  }
  return tokens;
}

std::string E2eConfigYaml(const E2eConfig& c) {
  auto opt = [](const std::string& indent, const std::string& key, const std::string& value) {
    return value.empty() ? std::string() : indent + key + ": " + value + "\n";
  };
  std::string y = "collector:\n";
  y += "  url: " + c.url + "\n";
  y += opt("  ", "write_key", c.write_key);
  y += opt("  ", "write_key_file", c.write_key_file);
  y += opt("  ", "timeout", c.timeout);
  y += opt("  ", "max_in_flight", c.max_in_flight);
  y += opt("  ", "drain_timeout", c.drain_timeout);
  if (!c.initial_backoff.empty() || !c.max_backoff.empty()) {
    y += "  retry:\n";
    y += opt("    ", "initial_backoff", c.initial_backoff);
    y += opt("    ", "max_backoff", c.max_backoff);
  }
  y += "batch:\n";
  y += opt("  ", "max_events", c.max_events);
  y += opt("  ", "max_bytes", c.max_bytes);
  y += opt("  ", "flush_interval", c.flush_interval);
  y += "state_dir: " + c.state_dir + "\n";
  const std::string spool =
      opt("  ", "dir", c.spool_dir) + opt("  ", "max_bytes", c.spool_max_bytes) +
      opt("  ", "when_full", c.when_full) + opt("  ", "fsync", c.fsync);
  if (!spool.empty()) y += "spool:\n" + spool;
  y += "sources:\n"
       "  - name: shop\n"
       "    type: file\n"
       "    paths: [";
  for (size_t i = 0; i < c.paths.size(); ++i) y += (i ? ", \"" : "\"") + c.paths[i] + "\"";
  y += "]\n";
  y += opt("    ", "start_at", c.start_at);
  y += opt("    ", "poll_interval", c.poll_interval);
  y += opt("    ", "rotate_wait", c.rotate_wait);
  y += "    format: text\n"
       "rules:\n"
       "  - name: order-completed\n"
       "    sources: [shop]\n"
       "    regex: '^(?P<ts>\\S+) INFO order completed order_id=(?P<order_id>\\S+) "
       "user_id=(?P<user_id>\\S+) total=(?P<total>[0-9.]+) currency=(?P<currency>[A-Z]{3})'\n"
       "    event:\n"
       "      type: track\n"
       "      event: Order Completed\n"
       "      userId: \"{{ user_id }}\"\n"
       "      timestamp: \"{{ ts }}\"\n"
       "      properties:\n"
       "        order_id: \"{{ order_id }}\"\n"
       "        total: \"{{ total | number }}\"\n"
       "        currency: \"{{ currency }}\"\n"
       "      context:\n"
       "        channel: web\n";
  return y;
}

int ConnectUnix(const std::string& path, int type) {
  const int fd = ::socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string SocketEventLine(const std::string& id) {
  return R"({"type":"track","event":"Socket Test","userId":")" + id + R"("})" "\n";
}

int AdminPort(const Child& agent, std::chrono::milliseconds timeout) {
  static const std::regex kPort("admin endpoint on \\S+ \\(port (\\d+)\\)");
  int port = 0;
  Eventually(
      [&] {
        const std::string err = agent.err();
        std::smatch m;
        if (!std::regex_search(err, m, kPort)) return false;
        port = std::stoi(m[1]);
        return true;
      },
      timeout);
  return port;
}

uint64_t PeakRss(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;  // "VmHWM:   1234 kB"
  }
  return 0;
}

}  // namespace tailtrack::testing
