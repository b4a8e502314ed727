#include "checkpoint/state_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tailtrack {
namespace {

// The holder's pid as it wrote it, or "unknown" (it may not have written it yet).
std::string HolderPid(int fd) {
  char buf[32];
  const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return "unknown";
  std::string pid(buf, static_cast<size_t>(n));
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) return "unknown";
  return pid;
}

}  // namespace

std::unique_ptr<StateLock> StateLock::Acquire(const std::string& state_dir, std::string* error) {
  std::string path = state_dir + "/lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = path + ": cannot open: " + std::strerror(errno);
    return nullptr;
  }
  int rc;
  do rc = ::flock(fd, LOCK_EX | LOCK_NB);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    if (errno == EWOULDBLOCK) {
      *error = "state_dir " + state_dir + " is in use by another tailtrack (pid " + HolderPid(fd) +
               "); two agents on one state would both send";
    } else {
      *error = path + ": cannot lock: " + std::strerror(errno);
    }
    ::close(fd);
    return nullptr;
  }
  // The pid is only for the message above; failing to write it is not a reason to stop.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0) {
    [[maybe_unused]] const ssize_t n = ::pwrite(fd, pid.data(), pid.size(), 0);
  }
  return std::unique_ptr<StateLock>(new StateLock(std::move(path), fd));
}

StateLock::~StateLock() {
  ::close(fd_);  // releases the lock
}

}  // namespace tailtrack
