#include "status_fixture.h"

#include <fmt/format.h>
#include <httplib.h>

#include "admin/status_page.h"

namespace tailtrack::testing {

std::string StatusFixture::StatusJson(int n) {
  const int lines = 1000 + kLinesPerSecond * n;
  const int events = 800 + kEventsPerSecond * n;
  // Seconds of the clock, from uptime: 15:00:00 + 10 + n.
  const int now_s = 10 + n;
  return fmt::format(R"({{
  "version": "0.1.0", "pid": 4242, "started_at": "2026-11-30T15:00:00.000Z", "uptime_seconds": {uptime}.0,
  "now": "2026-11-30T15:{now_m:02}:{now_s:02}.000Z",
  "ready": true, "ready_reason": "ready",
  "config": {{"path": "/etc/tailtrack/tailtrack.yaml", "loaded_at": "2026-11-30T15:00:00.000Z", "reloads": 2,
             "reload_failures": 0, "last_reload_error": null}},
  "collector": {{"url": "https://collector.example", "state": "backing_off", "in_flight": 1,
                "last_delivery_at": "2026-11-30T15:00:05.000Z", "last_error": "HTTP 503 from the collector",
                "requests": {requests}, "failed_attempts": 3}},
  "totals": {{"lines_read": {lines}, "bytes_read": {bytes}, "events_sent": {events}, "batches_sent": {batches},
             "dead_letters": 0, "dropped_events": 0, "unmatched_lines": 10}},
  "memory": {{"batches_waiting": 2, "rss_bytes": 20971520}},
  "spool": {{"enabled": true, "dir": "/var/lib/tailtrack/spool", "bytes": 3145728, "max_bytes": 1073741824,
            "batches": 12, "events": 600, "oldest_age_seconds": 95.5}},
  "sources": [
    {{"name": "web", "type": "file", "format": "text", "paused": false,
     "lines_read": {web_lines}, "bytes_read": {bytes}, "unmatched_lines": 10, "lag_bytes": 2048,
     "files_watched": 7, "files_open": 3,
     "files": [{{"path": "/var/log/app/web.log", "offset": 1000, "size": 3048, "lag_bytes": 2048, "open": true}}],
     "files_not_listed": 0,
     "rules": [{{"name": "signup", "matched": 40}}, {{"name": "checkout", "matched": {checkouts}}}]}},
    {{"name": "events", "type": "unix", "path": "/run/tailtrack/events.sock", "paused": false,
     "lines_read": 5, "bytes_read": 300, "unmatched_lines": 0, "clients": 1, "dropped_lines": 0,
     "rules": [{{"name": "socket-event", "matched": 5}}]}}
  ],
  "last_errors": [{{"at": "2026-11-30T15:00:01.000Z", "level": "warn", "message": "collector: HTTP 503, backing off <b>1s</b>"}}]
}}
)",
                     fmt::arg("uptime", 10 + n), fmt::arg("now_m", now_s / 60), fmt::arg("now_s", now_s % 60),
                     fmt::arg("requests", 10 + n), fmt::arg("lines", lines), fmt::arg("bytes", lines * 100),
                     fmt::arg("events", events), fmt::arg("batches", events / 50), fmt::arg("web_lines", lines - 5),
                     fmt::arg("checkouts", events - 45));
}

StatusFixture::StatusFixture() : server_(std::make_unique<httplib::Server>()) {
  server_->set_logger([this](const httplib::Request& req, const httplib::Response&) {
    std::lock_guard<std::mutex> lock(mu_);
    paths_.push_back(req.path);
  });
  server_->Get("/", [](const httplib::Request&, httplib::Response& res) {
    const std::string_view page = StatusPageHtml();
    res.set_content(std::string(page), "text/html; charset=utf-8");
  });
  server_->Get("/status", [this](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    if (instead_status_ != 0) {
      res.status = instead_status_;
      res.set_content(instead_body_, "text/plain");
      return;
    }
    res.set_content(StatusJson(++served_), "application/json");
  });
  port_ = server_->bind_to_any_port("127.0.0.1");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

StatusFixture::~StatusFixture() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

void StatusFixture::AnswerInstead(int status, std::string body) {
  std::lock_guard<std::mutex> lock(mu_);
  instead_status_ = status;
  instead_body_ = std::move(body);
}

std::vector<std::string> StatusFixture::paths() const {
  std::lock_guard<std::mutex> lock(mu_);
  return paths_;
}

int StatusFixture::served() const {
  std::lock_guard<std::mutex> lock(mu_);
  return served_;
}

}  // namespace tailtrack::testing
