// The admin endpoint's HTTP/1.1 server: a uv_tcp_t listener on the agent's
// own loop, requests parsed with Node's http-parser (Debian's
// libhttp-parser-dev), answered by a handler that maps a path to a response.
//
// It is made so that nothing a client does can stall the pipeline or exhaust
// the agent:
//   - GET and HEAD only (405 with Allow otherwise); no body (413);
//   - a request's head is at most kMaxRequestBytes (431 past it);
//   - at most max_connections at once: more are accepted and closed at once;
//   - each connection lives at most `timeout_ms` from accept to the end of
//     its response, so a slowloris client, or one that never reads its
//     answer, loses its slot;
//   - responses are queued with uv_write, never written blocking;
//   - one request per connection: the response says `Connection: close`.
// The handler runs on the loop, synchronously: it must be quick (it reads
// counters; it never does I/O).
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>

#include "admin/request_parser.h"

namespace tailtrack {

struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

struct AdminServerOptions {
  size_t max_connections = 32;
  uint64_t timeout_ms = 10'000;
};

class AdminServer {
 public:
  static constexpr size_t kMaxRequestBytes = AdminRequestParser::kMaxRequestBytes;

  // `path` is the request's path without its query string.
  using Handler = std::function<AdminResponse(std::string_view path)>;

  AdminServer(uv_loop_t* loop, Handler handler, AdminServerOptions options = {});
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds and listens on `listen`: HOST:PORT, [IPV6]:PORT, or a bare PORT
  // (127.0.0.1). False with *error (one line, without a location) when the
  // address cannot be resolved or bound.
  bool Listen(const std::string& listen, std::string* error);
  // The port bound (useful after listening on port 0), 0 before Listen().
  int port() const { return port_; }

  // Stops listening and closes every connection, answered or not. The object
  // may be destroyed once the loop has run the close callbacks (closed()).
  void Close();
  bool closed() const { return open_handles_ == 0; }

  struct Stats {
    uint64_t connections = 0;  // accepted and served
    uint64_t rejected = 0;     // over max_connections: closed at once
    uint64_t timed_out = 0;    // closed by the timeout before their answer was written
  };
  const Stats& stats() const { return stats_; }

  struct Connection;  // one client's socket, timer and parser (internal)

 private:
  void OnConnection();
  void Respond(Connection* c, int status, std::string_view extra_headers, const AdminResponse& response);
  void Fail(Connection* c, int status, std::string_view reason);
  void CloseConnection(Connection* c);

  static void OnConnectionCb(uv_stream_t* server, int status);
  static void OnAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void OnWritten(uv_write_t* req, int status);
  static void OnTimeout(uv_timer_t* t);
  static void OnHandleClosed(uv_handle_t* h);

  uv_loop_t* loop_;
  Handler handler_;
  AdminServerOptions options_;
  uv_tcp_t server_;
  bool listening_ = false;
  bool closing_ = false;
  int port_ = 0;
  int open_handles_ = 0;
  std::set<Connection*> connections_;
  Stats stats_;
};

// Parses `listen` as admin.listen is written into an address for bind(2).
// False with *error when it cannot be resolved.
bool ResolveListen(const std::string& listen, struct sockaddr_storage* out, std::string* error);

}  // namespace tailtrack
