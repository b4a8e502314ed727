// A stand-in for the agent's admin endpoint, for testing what reads it
// (`tailtrack status`, the status page) without an agent: cpp-httplib on
// 127.0.0.1, serving GET / (the real StatusPageHtml()) and GET /status (a
// fixture in the shared contract's shape whose totals grow with every
// request: 250 lines and 200 events per second of uptime). It records every
// path asked for. Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace tailtrack::testing {

class StatusFixture {
 public:
  static constexpr int kLinesPerSecond = 250;
  static constexpr int kEventsPerSecond = 200;

  StatusFixture();
  ~StatusFixture();
  StatusFixture(const StatusFixture&) = delete;
  StatusFixture& operator=(const StatusFixture&) = delete;

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // The body of the n-th answer to GET /status (n from 1): uptime 10 + n s,
  // lines_read 1000 + 250 n, events_sent 800 + 200 n.
  static std::string StatusJson(int n);
  // From now on GET /status answers `status` with `body` (0: the fixture again).
  void AnswerInstead(int status, std::string body = "not now\n");
  // Paths asked for, in order.
  std::vector<std::string> paths() const;
  // How many times /status was answered with the fixture.
  int served() const;

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mu_;
  std::vector<std::string> paths_;
  int served_ = 0;
  int instead_status_ = 0;
  std::string instead_body_;
};

}  // namespace tailtrack::testing
