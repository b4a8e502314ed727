#include "core/systemd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <utility>

namespace tailtrack {
namespace {

std::optional<uint64_t> ParseUnsigned(const std::optional<std::string>& text) {
  if (!text || text->empty()) return std::nullopt;
  uint64_t value = 0;
  const char* end = text->data() + text->size();
  const auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

void SetError(std::string* error, std::string text) {
  if (error) *error = std::move(text);
}

}  // namespace

SystemdNotifier SystemdNotifier::FromEnvironment(const Lookup& env, int64_t pid) {
  const Lookup lookup = env ? env : [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    return value ? std::optional<std::string>(value) : std::nullopt;
  };
  std::string socket = lookup("NOTIFY_SOCKET").value_or("");
  uint64_t watchdog = ParseUnsigned(lookup("WATCHDOG_USEC")).value_or(0);
  // WATCHDOG_PID names the process the watchdog is for; absent, it is us.
  if (const auto for_pid = ParseUnsigned(lookup("WATCHDOG_PID"))) {
    if (static_cast<int64_t>(*for_pid) != (pid != 0 ? pid : ::getpid())) watchdog = 0;
  }
  if (socket.empty()) watchdog = 0;
  return SystemdNotifier(std::move(socket), watchdog);
}

SystemdNotifier::SystemdNotifier(std::string socket, uint64_t watchdog_usec)
    : socket_(std::move(socket)), watchdog_usec_(socket_.empty() ? 0 : watchdog_usec) {}

SystemdNotifier::~SystemdNotifier() {
  if (fd_ >= 0) ::close(fd_);
}

SystemdNotifier::SystemdNotifier(SystemdNotifier&& other) noexcept
    : socket_(std::move(other.socket_)), watchdog_usec_(other.watchdog_usec_), fd_(std::exchange(other.fd_, -1)) {}

SystemdNotifier& SystemdNotifier::operator=(SystemdNotifier&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    socket_ = std::move(other.socket_);
    watchdog_usec_ = other.watchdog_usec_;
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

bool SystemdNotifier::Ready(std::string* error) { return Send("READY=1", error); }

bool SystemdNotifier::Reloading(std::string* error) {
  // systemd 253's Type=notify-reload wants the monotonic time beside it;
  // older systemd ignores the extra line.
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const uint64_t usec = static_cast<uint64_t>(now.tv_sec) * 1'000'000 + static_cast<uint64_t>(now.tv_nsec) / 1'000;
  return Send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec), error);
}

bool SystemdNotifier::Stopping(std::string* error) { return Send("STOPPING=1", error); }

bool SystemdNotifier::Watchdog(std::string* error) { return Send("WATCHDOG=1", error); }

bool SystemdNotifier::Status(std::string_view text, std::string* error) {
  std::string line = "STATUS=";
  for (char c : text) line.push_back(c == '\n' || c == '\r' ? ' ' : c);
  return Send(line, error);
}

bool SystemdNotifier::Send(std::string_view state, std::string* error) {
  if (socket_.empty()) return true;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  // "@name" is in the abstract namespace: a leading NUL, and the length
  // counts exactly the name (no terminator).
  const bool abstract = socket_[0] == '@';
  if (socket_.size() >= sizeof(address.sun_path) || (socket_[0] != '/' && !abstract)) {
    SetError(error, "NOTIFY_SOCKET \"" + socket_ + "\" is not an absolute path or an @abstract name");
    return false;
  }
  std::memcpy(address.sun_path, socket_.data(), socket_.size());
  if (abstract) address.sun_path[0] = '\0';
  const socklen_t length =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_.size() + (abstract ? 0 : 1));
  if (fd_ < 0) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) {
      SetError(error, std::string("cannot create a socket for NOTIFY_SOCKET: ") + std::strerror(errno));
      return false;
    }
  }
  const ssize_t sent = ::sendto(fd_, state.data(), state.size(), MSG_NOSIGNAL,
                                reinterpret_cast<const sockaddr*>(&address), length);
  if (sent < 0) {
    SetError(error, "cannot notify systemd at " + socket_ + ": " + std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace tailtrack
