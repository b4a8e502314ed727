// The agent's side of systemd's notify protocol (Type=notify): READY=1 once
// the sources are open, WATCHDOG=1 from a loop timer at half WATCHDOG_USEC
// (a stuck loop stops the pings, and systemd restarts the service), a
// STATUS= line with rates every kStatusIntervalMs, RELOADING=1 around a
// reload and STOPPING=1 when the drain begins. Outside systemd (no
// NOTIFY_SOCKET) it starts no timer and sends nothing.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>

#include "core/log.h"
#include "core/systemd_notify.h"

namespace tailtrack {

// What the STATUS= line reports: totals since start (rates are taken
// between two lines) and the present state.
struct ServiceCounters {
  uint64_t lines = 0;
  uint64_t events = 0;  // delivered (or printed, in a dry run)
  uint64_t spool_batches = 0;
  uint64_t spool_bytes = 0;
  std::string collector;  // the collector's state, empty in a dry run
};

class ServiceNotify {
 public:
  static constexpr uint64_t kStatusIntervalMs = 5'000;

  // `counters` is called from the loop at each STATUS= line.
  ServiceNotify(SystemdNotifier notifier, std::function<ServiceCounters()> counters);
  ServiceNotify(const ServiceNotify&) = delete;
  ServiceNotify& operator=(const ServiceNotify&) = delete;

  // Initialises the timers on `loop` (they are closed with the loop's other
  // handles). Call once, before any other call.
  void Init(uv_loop_t* loop);
  // READY=1 and the first STATUS=; starts the watchdog and status timers.
  void Started();
  // RELOADING=1 as a reload begins; Reloaded() (READY=1) when it is done,
  // whether the new configuration was taken or refused.
  void Reloading();
  void Reloaded();
  // STOPPING=1, once; the watchdog keeps pinging through the drain.
  void Stopping();

  const SystemdNotifier& notifier() const { return notifier_; }

 private:
  static void OnWatchdog(uv_timer_t* t);
  static void OnStatus(uv_timer_t* t);
  void SendStatus();
  void Report(bool sent, const std::string& error);

  SystemdNotifier notifier_;
  std::function<ServiceCounters()> counters_;
  uv_timer_t watchdog_timer_;
  uv_timer_t status_timer_;
  bool initialised_ = false;
  bool stopping_ = false;
  ServiceCounters last_;
  int64_t last_ms_ = 0;  // MonotonicMillis() of last_
  LogThrottle log_throttle_;
};

}  // namespace tailtrack
