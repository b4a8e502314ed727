#include "fake_collector.h"

#include <httplib.h>
#include <simdjson.h>

#include "core/clock.h"

namespace tailtrack::testing {

FakeCollector::FakeCollector(std::string write_key, int port)
    : write_key_(std::move(write_key)), server_(std::make_unique<httplib::Server>()) {
  server_->set_payload_max_length(64 << 20);
  server_->set_tcp_nodelay(true);  // else Nagle and delayed ACKs cost 40 ms an answer
  server_->set_keep_alive_max_count(1000000);
  server_->Post("/v1/capture", [this](const httplib::Request& req, httplib::Response& res) {
    ReceivedRequest r;
    r.write_key = req.get_header_value("X-Write-Key");
    r.content_type = req.get_header_value("Content-Type");
    r.content_encoding = req.get_header_value("Content-Encoding");
    r.user_agent = req.get_header_value("User-Agent");
    r.body = req.body;  // cpp-httplib has already gunzipped it
    r.wire_bytes = req.has_header("Content-Length") ? std::stoul(req.get_header_value("Content-Length")) : 0;
    r.received_ms = WallClockMillis();

    ScriptedAnswer answer;
    bool scripted = false;
    {
      std::lock_guard lock(mu_);
      if (!script_.empty()) {
        answer = script_.front();
        script_.pop_front();
        scripted = true;
      }
    }
    int status = 201;
    std::string message;
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    simdjson::dom::array batch;
    if (r.write_key != write_key_) {
      status = 401;
      message = "missing or invalid write key";
    } else if (parser.parse(r.body).get(doc) || doc["batch"].get_array().get(batch)) {
      status = 400;
      message = "invalid request body";
    } else {
      for (simdjson::dom::element e : batch) r.events.push_back(simdjson::minify(e));
      std::string_view sent_at;
      if (!doc["sentAt"].get_string().get(sent_at)) r.sent_at = std::string(sent_at);
    }
    if (scripted) {
      if (answer.delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(answer.delay_ms));
      status = answer.drop ? 0 : answer.status;
      message = "scripted";
    }
    r.status = status;
    if (answer.drop) {
      // Promise a body and break off: the client sees a broken connection.
      res.set_content_provider(
          1000, "application/json", [](size_t, size_t, httplib::DataSink&) { return false; });
    } else {
      res.status = status;
      if (!answer.retry_after.empty()) res.set_header("Retry-After", answer.retry_after);
      res.set_content(status / 100 == 2 ? R"({"status":"success"})" : R"({"error":")" + message + R"("})",
                      "application/json");
    }
    std::function<void(const ReceivedRequest&)> hook;
    {
      std::lock_guard lock(mu_);
      requests_.push_back(r);
      hook = on_request_;
    }
    if (hook) hook(r);
    changed_.notify_all();
  });
  port_ = port == 0 ? server_->bind_to_any_port("127.0.0.1") : (server_->bind_to_port("127.0.0.1", port) ? port : -1);
  if (port_ > 0) {
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    // stop() is a no-op on a server that is not running yet: wait for it, so
    // that a short test cannot leave the listener running forever.
    while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

FakeCollector::~FakeCollector() { Stop(); }

void FakeCollector::Stop() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

std::string FakeCollector::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

void FakeCollector::Script(ScriptedAnswer answer) {
  std::lock_guard lock(mu_);
  script_.push_back(std::move(answer));
}

void FakeCollector::OnRequest(std::function<void(const ReceivedRequest&)> fn) {
  std::lock_guard lock(mu_);
  on_request_ = std::move(fn);
}

std::vector<ReceivedRequest> FakeCollector::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

size_t FakeCollector::accepted_events() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& r : requests_) {
    if (r.status / 100 == 2) n += r.events.size();
  }
  return n;
}

std::vector<std::string> FakeCollector::accepted_event_list() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> all;
  for (const auto& r : requests_) {
    if (r.status / 100 == 2) all.insert(all.end(), r.events.begin(), r.events.end());
  }
  return all;
}

bool FakeCollector::WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mu_);
  while (true) {
    lock.unlock();
    if (pred()) return true;
    lock.lock();
    if (std::chrono::steady_clock::now() >= deadline) break;
    changed_.wait_for(lock, std::chrono::milliseconds(50));
  }
  lock.unlock();
  return pred();
}

bool FakeCollector::WaitForEvents(size_t n, std::chrono::milliseconds timeout) {
  return WaitFor([&] { return accepted_events() >= n; }, timeout);
}

}  // namespace tailtrack::testing
