// A real HTTP collector on loopback for tests, on cpp-httplib: the seed's
// API (POST /v1/capture with X-Write-Key), answering 201 {"status":"success"},
// 400 for a body that is not JSON with a `batch` array, 401 for a wrong or
// missing key; and, when scripted, any other answer: a status with an
// optional Retry-After, a delay, or a dropped connection.
//
// It serves on its own threads; every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace tailtrack::testing {

// One answer to give instead of the normal one.
struct ScriptedAnswer {
  int status = 201;
  std::string retry_after;  // sent as Retry-After when not empty
  int delay_ms = 0;         // wait before answering
  bool drop = false;        // break the connection instead of answering

  static ScriptedAnswer Status(int status, std::string retry_after = "") {
    return {status, std::move(retry_after), 0, false};
  }
  static ScriptedAnswer Slow(int delay_ms, int status = 201) { return {status, "", delay_ms, false}; }
  static ScriptedAnswer Drop() { return {0, "", 0, true}; }
};

struct ReceivedRequest {
  std::string write_key;         // X-Write-Key as received
  std::string content_type;
  std::string content_encoding;
  std::string user_agent;
  std::string body;              // after gunzip
  size_t wire_bytes = 0;         // the body as it came (compressed or not)
  std::vector<std::string> events;  // each element of `batch`, as JSON text
  std::string sent_at;           // empty when absent
  int status = 0;                // what was answered (0: dropped)
  int64_t received_ms = 0;       // wall clock
};

class FakeCollector {
 public:
  // Binds 127.0.0.1 (port 0: any free port) and starts serving.
  explicit FakeCollector(std::string write_key, int port = 0);
  ~FakeCollector();
  FakeCollector(const FakeCollector&) = delete;
  FakeCollector& operator=(const FakeCollector&) = delete;

  int port() const { return port_; }
  std::string url() const;

  // Answers to give to the next requests, in order, before the normal ones.
  void Script(ScriptedAnswer answer);

  // Called (on a server thread) for every request after it is answered.
  void OnRequest(std::function<void(const ReceivedRequest&)> fn);

  std::vector<ReceivedRequest> requests() const;
  // Events in requests that were answered 2xx.
  size_t accepted_events() const;
  std::vector<std::string> accepted_event_list() const;

  // Waits until pred() holds (checked at each request and every 50 ms) or
  // `timeout` passes; returns pred().
  bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  bool WaitForEvents(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10));

  void Stop();

 private:
  std::string write_key_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<ScriptedAnswer> script_;
  std::vector<ReceivedRequest> requests_;
  std::function<void(const ReceivedRequest&)> on_request_;
};

}  // namespace tailtrack::testing
