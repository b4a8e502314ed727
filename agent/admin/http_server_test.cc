#include "admin/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>
#include <vector>

#include "test_util.h"

namespace tailtrack {
namespace {

using ::tailtrack::testing::RunLoopToEnd;
using ::tailtrack::testing::RunLoopUntil;

// A client socket connected to 127.0.0.1:port, with a 10 s receive timeout.
int Connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

void SendAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return;  // the server may close early (431): what it answered is still read
    done += static_cast<size_t>(n);
  }
}

// Everything the server sends until it closes (or 10 s pass).
std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  while (true) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override { uv_loop_init(&loop_); }
  void TearDown() override {
    if (server_) server_->Close();
    RunLoopToEnd(&loop_);
    server_.reset();
    uv_loop_close(&loop_);
  }

  void Start(AdminServerOptions options = {}) {
    server_ = std::make_unique<AdminServer>(
        &loop_,
        [this](std::string_view path) {
          paths_.emplace_back(path);
          if (path == "/missing") return AdminResponse{404, "text/plain; charset=utf-8", "not here\n"};
          return AdminResponse{200, "application/json", "{\"path\":\"" + std::string(path) + "\"}"};
        },
        options);
    std::string error;
    ASSERT_TRUE(server_->Listen("0", &error)) << error;
    ASSERT_GT(server_->port(), 0);
  }

  // Sends `request` on a new connection and returns all that comes back,
  // running the loop meanwhile.
  std::string Exchange(const std::string& request) {
    const int port = server_->port();
    auto reply = std::async(std::launch::async, [port, request] {
      const int fd = Connect(port);
      if (fd < 0) return std::string("connect failed");
      SendAll(fd, request);
      std::string out = ReadAll(fd);
      ::close(fd);
      return out;
    });
    RunLoopUntil(&loop_, [&] { return reply.wait_for(std::chrono::seconds(0)) == std::future_status::ready; },
                 std::chrono::seconds(20));
    return reply.get();
  }

  uv_loop_t loop_;
  std::unique_ptr<AdminServer> server_;
  std::vector<std::string> paths_;
};

TEST_F(AdminServerTest, AGetIsAnsweredWithTheHandlersStatusTypeAndBodyAndConnectionClose) {
  Start();
  const std::string reply = Exchange("GET /status?pretty=1 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << reply;
  EXPECT_NE(reply.find("Content-Type: application/json\r\n"), std::string::npos) << reply;
  EXPECT_NE(reply.find("Content-Length: 18\r\n"), std::string::npos) << reply;
  EXPECT_NE(reply.find("Connection: close\r\n"), std::string::npos) << reply;
  EXPECT_TRUE(reply.ends_with("\r\n\r\n{\"path\":\"/status\"}")) << reply;
  EXPECT_EQ(paths_, std::vector<std::string>{"/status"});  // without the query string

  const std::string missing = Exchange("GET /missing HTTP/1.0\r\n\r\n");
  EXPECT_EQ(missing.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u) << missing;
  EXPECT_TRUE(missing.ends_with("not here\n")) << missing;
}

TEST_F(AdminServerTest, AHeadGetsTheHeadersOfTheGetWithoutItsBody) {
  Start();
  const std::string reply = Exchange("HEAD /x HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << reply;
  EXPECT_NE(reply.find("Content-Length: 13\r\n"), std::string::npos) << reply;
  EXPECT_TRUE(reply.ends_with("\r\n\r\n")) << reply;
}

TEST_F(AdminServerTest, OtherMethodsGet405WithAllowAndNeverReachTheHandler) {
  Start();
  for (const std::string method : {"POST", "PUT", "DELETE", "OPTIONS"}) {
    const std::string reply = Exchange(method + " /status HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
    EXPECT_EQ(reply.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u) << method << ": " << reply;
    EXPECT_NE(reply.find("Allow: GET, HEAD\r\n"), std::string::npos) << reply;
  }
  EXPECT_TRUE(paths_.empty());
}

TEST_F(AdminServerTest, AGetWithABodyGets413) {
  Start();
  const std::string reply = Exchange("GET /status HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(reply.rfind("HTTP/1.1 413 ", 0), 0u) << reply;
  EXPECT_TRUE(paths_.empty());
}

TEST_F(AdminServerTest, ARequestHeadOverTheLimitGets431) {
  Start();
  const std::string big(AdminServer::kMaxRequestBytes + 100, 'a');
  const std::string reply = Exchange("GET /status HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 431 ", 0), 0u) << reply.substr(0, 200);
  EXPECT_TRUE(paths_.empty());
}

TEST_F(AdminServerTest, GarbageGets400) {
  Start();
  const std::string reply = Exchange("this is not http\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << reply;
}

TEST_F(AdminServerTest, ASlowClientIsCutOffAtTheTimeoutAndFreesItsSlot) {
  Start({/*max_connections=*/1, /*timeout_ms=*/300});
  // Half a request line, then nothing: the server closes it without an answer.
  const auto start = std::chrono::steady_clock::now();
  const std::string reply = Exchange("GET /sta");
  EXPECT_EQ(reply, "");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(8));
  EXPECT_EQ(server_->stats().timed_out, 1u);
  // The only slot is free again.
  EXPECT_EQ(Exchange("GET /ok HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200 OK", 0), 0u);
}

TEST_F(AdminServerTest, ConnectionsOverTheLimitAreClosedAtOnceWhileTheOthersAreServed) {
  Start({/*max_connections=*/2, /*timeout_ms=*/30'000});
  const int port = server_->port();
  // Two idle connections hold both slots.
  const int a = Connect(port), b = Connect(port);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_TRUE(RunLoopUntil(&loop_, [&] { return server_->stats().connections == 2; }));
  // A third is accepted and closed without an answer, long before any timeout.
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Exchange("GET /x HTTP/1.1\r\n\r\n"), "");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(8));
  EXPECT_EQ(server_->stats().rejected, 1u);
  // A client holding a slot is still served.
  auto reply = std::async(std::launch::async, [a] {
    SendAll(a, "GET /held HTTP/1.1\r\n\r\n");
    return ReadAll(a);
  });
  RunLoopUntil(&loop_, [&] { return reply.wait_for(std::chrono::seconds(0)) == std::future_status::ready; });
  EXPECT_EQ(reply.get().rfind("HTTP/1.1 200 OK", 0), 0u);
  ::close(a);
  ::close(b);
}

TEST_F(AdminServerTest, APortInUseIsAnErrorNamingTheAddress) {
  Start();
  AdminServer second(&loop_, [](std::string_view) { return AdminResponse{}; });
  std::string error;
  const std::string listen = "127.0.0.1:" + std::to_string(server_->port());
  EXPECT_FALSE(second.Listen(listen, &error));
  EXPECT_EQ(error, "admin.listen " + listen + ": cannot listen: address already in use");
  second.Close();
  RunLoopUntil(&loop_, [&] { return second.closed(); });
}

TEST_F(AdminServerTest, AHostThatCannotBeResolvedIsAnError) {
  AdminServer server(&loop_, [](std::string_view) { return AdminResponse{}; });
  std::string error;
  EXPECT_FALSE(server.Listen("no-such-host.invalid:9464", &error));
  EXPECT_EQ(error.rfind("admin.listen no-such-host.invalid:9464: cannot resolve no-such-host.invalid", 0), 0u)
      << error;
}

TEST(ResolveListen, ABarePortIsLoopbackAndBracketsHoldAnIpv6Address) {
  sockaddr_storage addr;
  std::string error;
  ASSERT_TRUE(ResolveListen("9464", &addr, &error)) << error;
  ASSERT_EQ(addr.ss_family, AF_INET);
  const auto* v4 = reinterpret_cast<const sockaddr_in*>(&addr);
  EXPECT_EQ(ntohl(v4->sin_addr.s_addr), INADDR_LOOPBACK);
  EXPECT_EQ(ntohs(v4->sin_port), 9464);
  ASSERT_TRUE(ResolveListen("[::1]:9465", &addr, &error)) << error;
  ASSERT_EQ(addr.ss_family, AF_INET6);
  EXPECT_EQ(ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port), 9465);
}

}  // namespace
}  // namespace tailtrack
