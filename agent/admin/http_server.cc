#include "admin/http_server.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include <fmt/format.h>

namespace tailtrack {

struct AdminServer::Connection {
  AdminServer* owner;
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t write;
  uv_shutdown_t shutdown;
  AdminRequestParser request;
  bool answered = false;  // the response is queued: what comes after is read and ignored
  bool written = false;
  bool peer_done = false;  // the client closed its side after its request: close once the answer is out
  bool closing = false;
  int handles = 0;        // open of tcp and timer
  std::string out;        // the response, alive until written
  char buf[4096];
};

namespace {

std::string_view Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

}  // namespace

bool ResolveListen(const std::string& listen, sockaddr_storage* out, std::string* error) {
  std::string host = "127.0.0.1";
  std::string port = listen;
  if (const size_t colon = listen.rfind(':'); colon != std::string::npos) {
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0 || found == nullptr) {
    *error = fmt::format("cannot resolve {}: {}", host, rc != 0 ? gai_strerror(rc) : "no address");
    return false;
  }
  std::memset(out, 0, sizeof *out);
  std::memcpy(out, found->ai_addr, found->ai_addrlen);
  ::freeaddrinfo(found);
  return true;
}

AdminServer::AdminServer(uv_loop_t* loop, Handler handler, AdminServerOptions options)
    : loop_(loop), handler_(std::move(handler)), options_(options) {}

AdminServer::~AdminServer() = default;

bool AdminServer::Listen(const std::string& listen, std::string* error) {
  sockaddr_storage addr;
  std::string why;
  if (!ResolveListen(listen, &addr, &why)) {
    *error = fmt::format("admin.listen {}: {}", listen, why);
    return false;
  }
  uv_tcp_init(loop_, &server_);
  server_.data = this;
  ++open_handles_;
  listening_ = true;
  int rc = uv_tcp_bind(&server_, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&server_), 64, OnConnectionCb);
  if (rc != 0) {
    *error = fmt::format("admin.listen {}: cannot listen: {}", listen, uv_strerror(rc));
    return false;
  }
  sockaddr_storage bound;
  int len = sizeof bound;
  if (uv_tcp_getsockname(&server_, reinterpret_cast<sockaddr*>(&bound), &len) == 0) {
    port_ = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                        : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  return true;
}

void AdminServer::OnConnectionCb(uv_stream_t* server, int status) {
  if (status == 0) static_cast<AdminServer*>(server->data)->OnConnection();
}

void AdminServer::OnConnection() {
  if (closing_) return;
  auto* c = new Connection{};
  c->owner = this;
  uv_tcp_init(loop_, &c->tcp);
  c->tcp.data = c;
  c->handles = 1;
  ++open_handles_;
  connections_.insert(c);
  if (uv_accept(reinterpret_cast<uv_stream_t*>(&server_), reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0 ||
      connections_.size() > options_.max_connections) {
    // Accepted only to be closed: a pending connection left in the backlog
    // would keep the listener readable and the loop busy.
    ++stats_.rejected;
    c->closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), OnHandleClosed);
    return;
  }
  ++stats_.connections;
  uv_timer_init(loop_, &c->timer);
  c->timer.data = c;
  ++c->handles;
  ++open_handles_;
  uv_timer_start(&c->timer, OnTimeout, options_.timeout_ms, 0);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), OnAlloc, OnRead);
}

void AdminServer::OnAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(h->data);
  *buf = uv_buf_init(c->buf, sizeof c->buf);
}

void AdminServer::OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(s->data);
  AdminServer* self = c->owner;
  if (nread < 0) {
    if (nread == UV_EOF && c->answered && !c->written) {
      // Done sending (shutdown after its request) but not yet done reading:
      // the answer still goes out, then the connection closes.
      c->peer_done = true;
      uv_read_stop(s);
      return;
    }
    // The client is gone, or has read its answer and closed: done either way.
    self->CloseConnection(c);
    return;
  }
  if (c->answered || nread == 0) return;
  switch (c->request.Feed(buf->base, static_cast<size_t>(nread))) {
    case AdminRequestParser::Outcome::kIncomplete: break;
    case AdminRequestParser::Outcome::kRequest: self->Respond(c, 0, "", self->handler_(c->request.path())); break;
    case AdminRequestParser::Outcome::kRefused: self->Fail(c, c->request.status(), c->request.reason()); break;
  }
}

void AdminServer::Fail(Connection* c, int status, std::string_view reason) {
  AdminResponse response{status, "text/plain; charset=utf-8", fmt::format("{}\n", reason)};
  Respond(c, status, status == 405 ? "Allow: GET, HEAD\r\n" : "", response);
}

void AdminServer::Respond(Connection* c, int status, std::string_view extra_headers, const AdminResponse& response) {
  if (status == 0) status = response.status;
  c->answered = true;
  const bool head = c->request.head();
  c->out = fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n"
      "Connection: close\r\n{}\r\n",
      status, Reason(status), response.content_type, response.body.size(), extra_headers);
  if (!head) c->out += response.body;
  uv_buf_t b = uv_buf_init(c->out.data(), static_cast<unsigned>(c->out.size()));
  c->write.data = c;
  if (uv_write(&c->write, reinterpret_cast<uv_stream_t*>(&c->tcp), &b, 1, OnWritten) != 0) CloseConnection(c);
}

void AdminServer::OnWritten(uv_write_t* req, int status) {
  auto* c = static_cast<Connection*>(req->data);
  if (c->closing) return;
  if (status != 0) {
    c->owner->CloseConnection(c);
    return;
  }
  c->written = true;
  // Half-close and read on until the client closes (or the timeout): closing
  // at once with unread request bytes would reset the connection and could
  // lose the answer on its way.
  c->shutdown.data = c;
  auto after = [](uv_shutdown_t* req, int) {
    auto* done = static_cast<Connection*>(req->data);
    if (done->peer_done && !done->closing) done->owner->CloseConnection(done);
  };
  if (uv_shutdown(&c->shutdown, reinterpret_cast<uv_stream_t*>(&c->tcp), after) != 0) c->owner->CloseConnection(c);
}

void AdminServer::OnTimeout(uv_timer_t* t) {
  auto* c = static_cast<Connection*>(t->data);
  if (!c->written) ++c->owner->stats_.timed_out;
  c->owner->CloseConnection(c);
}

void AdminServer::CloseConnection(Connection* c) {
  if (c->closing) return;
  c->closing = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), OnHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), OnHandleClosed);
}

void AdminServer::OnHandleClosed(uv_handle_t* h) {
  auto* c = static_cast<Connection*>(h->data);
  AdminServer* self = c->owner;
  --self->open_handles_;
  if (--c->handles == 0) {
    self->connections_.erase(c);
    delete c;
  }
}

void AdminServer::Close() {
  if (closing_) return;
  closing_ = true;
  if (listening_) uv_close(reinterpret_cast<uv_handle_t*>(&server_), [](uv_handle_t* h) {
    --static_cast<AdminServer*>(h->data)->open_handles_;
  });
  for (Connection* c : std::set<Connection*>(connections_)) CloseConnection(c);
}

}  // namespace tailtrack
