#include "app/service_notify.h"

#include <algorithm>

#include "core/clock.h"

namespace tailtrack {

ServiceNotify::ServiceNotify(SystemdNotifier notifier, std::function<ServiceCounters()> counters)
    : notifier_(std::move(notifier)), counters_(std::move(counters)) {}

void ServiceNotify::Init(uv_loop_t* loop) {
  for (uv_timer_t* t : {&watchdog_timer_, &status_timer_}) {
    uv_timer_init(loop, t);
    t->data = this;
  }
  initialised_ = true;
}

void ServiceNotify::Started() {
  if (!initialised_ || !notifier_.enabled()) return;
  std::string error;
  Report(notifier_.Ready(&error), error);
  last_ = counters_();
  last_ms_ = MonotonicMillis();
  Report(notifier_.Status("started; collector " + (last_.collector.empty() ? "not used (dry run)" : last_.collector),
                          &error),
         error);
  if (const uint64_t usec = notifier_.watchdog_usec(); usec > 0) {
    // Half the deadline, as sd_watchdog_enabled(3) advises: one late tick
    // is not yet a restart.
    const uint64_t every_ms = std::max<uint64_t>(1, usec / 2'000);
    Report(notifier_.Watchdog(&error), error);
    uv_timer_start(&watchdog_timer_, OnWatchdog, every_ms, every_ms);
  }
  uv_timer_start(&status_timer_, OnStatus, kStatusIntervalMs, kStatusIntervalMs);
}

void ServiceNotify::Reloading() {
  if (!initialised_ || !notifier_.enabled()) return;
  std::string error;
  Report(notifier_.Reloading(&error), error);
}

void ServiceNotify::Reloaded() {
  if (!initialised_ || !notifier_.enabled()) return;
  std::string error;
  Report(notifier_.Ready(&error), error);
}

void ServiceNotify::Stopping() {
  if (!initialised_ || !notifier_.enabled() || stopping_) return;
  stopping_ = true;
  uv_timer_stop(&status_timer_);
  std::string error;
  Report(notifier_.Send("STOPPING=1\nSTATUS=draining: sending what was read, then stopping", &error), error);
}

void ServiceNotify::OnWatchdog(uv_timer_t* t) {
  auto* self = static_cast<ServiceNotify*>(t->data);
  std::string error;
  self->Report(self->notifier_.Watchdog(&error), error);
}

void ServiceNotify::OnStatus(uv_timer_t* t) { static_cast<ServiceNotify*>(t->data)->SendStatus(); }

// "120.0 lines/s, 118.5 events/s; spool 0 batches (0 bytes); collector healthy"
void ServiceNotify::SendStatus() {
  const ServiceCounters now = counters_();
  const int64_t now_ms = MonotonicMillis();
  const double seconds = std::max<int64_t>(1, now_ms - last_ms_) / 1000.0;
  const std::string text = fmt::format(
      "{:.1f} lines/s, {:.1f} events/s; spool {} batches ({} bytes); collector {}",
      static_cast<double>(now.lines - last_.lines) / seconds, static_cast<double>(now.events - last_.events) / seconds,
      now.spool_batches, now.spool_bytes, now.collector.empty() ? "not used (dry run)" : now.collector);
  last_ = now;
  last_ms_ = now_ms;
  std::string error;
  Report(notifier_.Status(text, &error), error);
}

void ServiceNotify::Report(bool sent, const std::string& error) {
  if (!sent && log_throttle_.Due("notify")) Log(LogLevel::kWarn, "{}", error);
}

}  // namespace tailtrack
