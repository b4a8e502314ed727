#include "admin/request_parser.h"

#include <climits>

#include <fmt/format.h>

namespace tailtrack {

AdminRequestParser::AdminRequestParser() {
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
}

int AdminRequestParser::OnUrl(http_parser* p, const char* at, size_t length) {
  auto* self = static_cast<AdminRequestParser*>(p->data);
  // The head's size is bounded by Feed(); this only keeps the copy small.
  if (self->url_.size() + length <= kMaxRequestBytes) self->url_.append(at, length);
  return 0;
}

int AdminRequestParser::OnHeadersComplete(http_parser* p) {
  auto* self = static_cast<AdminRequestParser*>(p->data);
  if (p->method != HTTP_GET && p->method != HTTP_HEAD) {
    self->reject_ = 405;
    return -1;  // stops the parser: the body, if any, is not read
  }
  const bool body = (p->flags & F_CHUNKED) || (p->content_length > 0 && p->content_length != ULLONG_MAX);
  if (body) {
    self->reject_ = 413;
    return -1;
  }
  return 0;
}

int AdminRequestParser::OnMessageComplete(http_parser* p) {
  static_cast<AdminRequestParser*>(p->data)->complete_ = true;
  http_parser_pause(p, 1);  // one request per connection: whatever follows is ignored
  return 0;
}

const http_parser_settings& AdminRequestParser::Settings() {
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

AdminRequestParser::Outcome AdminRequestParser::Feed(const char* data, size_t size) {
  if (outcome_ != Outcome::kIncomplete || size == 0) return outcome_;
  received_ += size;
  http_parser_execute(&parser_, &Settings(), data, size);
  const http_errno err = HTTP_PARSER_ERRNO(&parser_);
  auto refuse = [&](int status, std::string reason) {
    outcome_ = Outcome::kRefused;
    status_ = status;
    reason_ = std::move(reason);
  };
  if (reject_ == 405) {
    refuse(405, "only GET and HEAD are served");
  } else if (reject_ == 413) {
    refuse(413, "a request body is not accepted");
  } else if (received_ > kMaxRequestBytes) {
    refuse(431, fmt::format("request head over {} bytes", kMaxRequestBytes));
  } else if (complete_) {
    outcome_ = Outcome::kRequest;
  } else if (err != HPE_OK) {
    refuse(400, http_errno_description(err));
  }
  return outcome_;
}

std::string_view AdminRequestParser::path() const {
  std::string_view path = url_;
  if (const size_t q = path.find_first_of("?#"); q != std::string_view::npos) path = path.substr(0, q);
  return path;
}

}  // namespace tailtrack
