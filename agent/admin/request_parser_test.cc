#include "admin/request_parser.h"

#include <gtest/gtest.h>

#include <string>

namespace tailtrack {
namespace {

using Outcome = AdminRequestParser::Outcome;

TEST(AdminRequestParser, AWholeGetIsARequestForItsPathWithoutTheQuery) {
  AdminRequestParser p;
  const std::string request = "GET /status?format=json HTTP/1.1\r\nHost: localhost\r\n\r\n";
  EXPECT_EQ(p.Feed(request.data(), request.size()), Outcome::kRequest);
  EXPECT_EQ(p.path(), "/status");
  EXPECT_FALSE(p.head());
}

TEST(AdminRequestParser, ARequestCutIntoSingleBytesIsTheSameRequest) {
  AdminRequestParser p;
  const std::string request = "HEAD /metrics HTTP/1.1\r\n\r\n";
  for (size_t i = 0; i + 1 < request.size(); ++i) ASSERT_EQ(p.Feed(&request[i], 1), Outcome::kIncomplete) << i;
  EXPECT_EQ(p.Feed(&request.back(), 1), Outcome::kRequest);
  EXPECT_EQ(p.path(), "/metrics");
  EXPECT_TRUE(p.head());
}

TEST(AdminRequestParser, RefusesOtherMethodsBodiesLongHeadsAndGarbage) {
  const struct {
    std::string request;
    int status;
  } cases[] = {
      {"POST /status HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 405},
      {"GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 413},
      {"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 413},
      {"GET / HTTP/1.1\r\nX: " + std::string(AdminRequestParser::kMaxRequestBytes, 'a'), 431},
      {"\x16\x03\x01 a TLS hello", 400},
  };
  for (const auto& c : cases) {
    AdminRequestParser p;
    EXPECT_EQ(p.Feed(c.request.data(), c.request.size()), Outcome::kRefused) << c.request.substr(0, 40);
    EXPECT_EQ(p.status(), c.status) << c.request.substr(0, 40);
    EXPECT_FALSE(p.reason().empty());
    EXPECT_EQ(p.reason().find('\n'), std::string::npos) << p.reason();
  }
}

TEST(AdminRequestParser, WhatFollowsTheFirstRequestIsIgnored) {
  AdminRequestParser p;
  const std::string request = "GET /healthz HTTP/1.1\r\n\r\nGET /status HTTP/1.1\r\n\r\n";
  EXPECT_EQ(p.Feed(request.data(), request.size()), Outcome::kRequest);
  EXPECT_EQ(p.Feed("garbage", 7), Outcome::kRequest);
  EXPECT_EQ(p.path(), "/healthz");
}

}  // namespace
}  // namespace tailtrack
