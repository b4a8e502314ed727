// systemd's notify protocol (sd_notify(3)) without libsystemd: each state
// change is one datagram of "KEY=value" lines sent to the AF_UNIX socket named
// by $NOTIFY_SOCKET (a path, or "@name" for a name in the abstract namespace).
// Outside systemd (no NOTIFY_SOCKET) every call does nothing and succeeds.
//
// The watchdog: systemd sets WATCHDOG_USEC (and WATCHDOG_PID, the process it
// is meant for) when the unit has WatchdogSec=; the service must send
// WATCHDOG=1 more often than that, or it is killed and restarted.
//
// Sending never blocks: a datagram the socket cannot take at once is dropped
// and reported as an error (systemd reads its socket promptly; a later state
// or ping replaces a lost one). One thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace tailtrack {

class SystemdNotifier {
 public:
  using Lookup = std::function<std::optional<std::string>(const std::string& name)>;

  // NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID of `env` (the process's
  // environment by default), for the process `pid` (getpid() when 0).
  static SystemdNotifier FromEnvironment(const Lookup& env = {}, int64_t pid = 0);

  // `socket`: a path or "@name"; empty for none. `watchdog_usec`: 0 for none.
  SystemdNotifier(std::string socket, uint64_t watchdog_usec);
  SystemdNotifier() = default;
  ~SystemdNotifier();
  SystemdNotifier(SystemdNotifier&& other) noexcept;
  SystemdNotifier& operator=(SystemdNotifier&& other) noexcept;
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  // True when there is a socket to notify.
  bool enabled() const { return !socket_.empty(); }
  const std::string& socket() const { return socket_; }
  // How often systemd expects WATCHDOG=1, in microseconds; 0 when it expects
  // none (no WatchdogSec=, no socket, or the watchdog is for another process).
  uint64_t watchdog_usec() const { return watchdog_usec_; }

  // Each returns false, with a one-line reason in `*error` when given, when
  // the datagram could not be sent.
  bool Ready(std::string* error = nullptr);      // READY=1
  bool Reloading(std::string* error = nullptr);  // RELOADING=1 (then Ready() when the reload is done)
  bool Stopping(std::string* error = nullptr);   // STOPPING=1
  bool Watchdog(std::string* error = nullptr);   // WATCHDOG=1
  // STATUS=text, one line (newlines in `text` become spaces).
  bool Status(std::string_view text, std::string* error = nullptr);
  // Any "KEY=value" lines, as they are.
  bool Send(std::string_view state, std::string* error = nullptr);

 private:
  std::string socket_;
  uint64_t watchdog_usec_ = 0;
  int fd_ = -1;  // opened at the first Send()
};

}  // namespace tailtrack
