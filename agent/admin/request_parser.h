// The admin endpoint's request, parsed from the bytes a client sends, apart
// from any socket (so that it can be tested and fuzzed on its own). Node's
// http-parser (Debian's libhttp-parser-dev) reads the head; the decisions are
// the admin server's: GET and HEAD only (405), no body (413), a head of at
// most kMaxRequestBytes (431), anything http-parser refuses (400).
#pragma once

#include <http_parser.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace tailtrack {

class AdminRequestParser {
 public:
  static constexpr size_t kMaxRequestBytes = 8 * 1024;

  enum class Outcome {
    kIncomplete,  // more bytes are needed
    kRequest,     // a whole GET or HEAD request: path()
    kRefused,     // status() and reason() say why
  };

  AdminRequestParser();
  AdminRequestParser(const AdminRequestParser&) = delete;
  AdminRequestParser& operator=(const AdminRequestParser&) = delete;

  // Reads the next bytes received. Once the outcome is decided, it stays, and
  // what follows is ignored (one request per connection).
  Outcome Feed(const char* data, size_t size);

  // The request's path, without its query string or fragment.
  std::string_view path() const;
  // A HEAD request, not refused for its method or body: its answer (a 400 or
  // 431 too) has no body.
  bool head() const { return parser_.method == HTTP_HEAD && reject_ == 0; }
  // For kRefused: 400, 405, 413 or 431, and one line saying why.
  int status() const { return status_; }
  const std::string& reason() const { return reason_; }

 private:
  static const http_parser_settings& Settings();
  static int OnUrl(http_parser* p, const char* at, size_t length);
  static int OnHeadersComplete(http_parser* p);
  static int OnMessageComplete(http_parser* p);

  http_parser parser_;
  Outcome outcome_ = Outcome::kIncomplete;
  std::string url_;
  size_t received_ = 0;
  int reject_ = 0;         // a status decided while parsing the head (405, 413)
  bool complete_ = false;  // the request is whole
  int status_ = 0;
  std::string reason_;
};

}  // namespace tailtrack
