#include "admin/http_server.h"

#include <http_parser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <climits>
#include <cstring>

#include <fmt/format.h>

namespace tailtrack {

struct AdminServer::Connection {
  AdminServer* owner;
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t write;
  uv_shutdown_t shutdown;
  http_parser parser;
  std::string url;
  size_t received = 0;
  int reject = 0;         // a status decided while parsing the head (405, 413)
  bool complete = false;  // the request is whole
  bool answered = false;  // the response is queued: what comes after is read and ignored
  bool written = false;
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

int OnUrl(http_parser* p, const char* at, size_t length) {
  auto* c = static_cast<AdminServer::Connection*>(p->data);
  // The head's size is bounded by the caller; this only keeps the copy small.
  if (c->url.size() + length <= AdminServer::kMaxRequestBytes) c->url.append(at, length);
  return 0;
}

int OnHeadersComplete(http_parser* p) {
  auto* c = static_cast<AdminServer::Connection*>(p->data);
  if (p->method != HTTP_GET && p->method != HTTP_HEAD) {
    c->reject = 405;
    return -1;  // stops the parser: the body, if any, is not read
  }
  const bool body = (p->flags & F_CHUNKED) || (p->content_length > 0 && p->content_length != ULLONG_MAX);
  if (body) {
    c->reject = 413;
    return -1;
  }
  return 0;
}

int OnMessageComplete(http_parser* p) {
  auto* c = static_cast<AdminServer::Connection*>(p->data);
  c->complete = true;
  http_parser_pause(p, 1);  // one request per connection: whatever follows is ignored
  return 0;
}

const http_parser_settings& Settings() {
  static const http_parser_settings settings = [] {
    http_parser_settings s;
    http_parser_settings_init(&s);
    s.on_url = OnUrl;
    s.on_headers_complete = OnHeadersComplete;
    s.on_message_complete = OnMessageComplete;
    return s;
  }();
  return settings;
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
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
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
    // The client is gone, or has read its answer and closed: done either way.
    self->CloseConnection(c);
    return;
  }
  if (c->answered || nread == 0) return;
  c->received += static_cast<size_t>(nread);
  http_parser_execute(&c->parser, &Settings(), buf->base, static_cast<size_t>(nread));
  const http_errno err = HTTP_PARSER_ERRNO(&c->parser);
  if (c->reject == 405) {
    self->Fail(c, 405, "only GET and HEAD are served");
  } else if (c->reject == 413) {
    self->Fail(c, 413, "a request body is not accepted");
  } else if (c->received > kMaxRequestBytes) {
    self->Fail(c, 431, fmt::format("request head over {} bytes", kMaxRequestBytes));
  } else if (c->complete) {
    std::string_view path = c->url;
    if (const size_t q = path.find_first_of("?#"); q != std::string_view::npos) path = path.substr(0, q);
    self->Respond(c, 0, "", self->handler_(path));
  } else if (err != HPE_OK) {
    self->Fail(c, 400, http_errno_description(err));
  }
}

void AdminServer::Fail(Connection* c, int status, std::string_view reason) {
  AdminResponse response{status, "text/plain; charset=utf-8", fmt::format("{}\n", reason)};
  Respond(c, status, status == 405 ? "Allow: GET, HEAD\r\n" : "", response);
}

void AdminServer::Respond(Connection* c, int status, std::string_view extra_headers, const AdminResponse& response) {
  if (status == 0) status = response.status;
  c->answered = true;
  const bool head = c->parser.method == HTTP_HEAD && c->reject == 0;
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
  if (uv_shutdown(&c->shutdown, reinterpret_cast<uv_stream_t*>(&c->tcp), [](uv_shutdown_t*, int) {}) != 0) {
    c->owner->CloseConnection(c);
  }
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
