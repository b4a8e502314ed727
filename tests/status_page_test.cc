// The admin status page: self-contained, and alive in a real browser
// (headless Chromium, Debian's `chromium`) against a /status whose totals grow.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "admin/status_page.h"
#include "status_fixture.h"
#include "test_util.h"

namespace tailtrack::testing {
namespace {

// The browser on PATH, or "" when there is none.
std::string FindChromium() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    for (size_t start = 0; start <= dirs.size();) {
      size_t end = dirs.find(':', start);
      if (end == std::string::npos) end = dirs.size();
      const std::string candidate = dirs.substr(start, end - start) + "/" + name;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
      start = end + 1;
    }
  }
  return "";
}

// A TCP listener on loopback that records the first line of every
// connection and closes it: given to the browser as its proxy, it sees any
// request the page makes to another origin (the page's own origin, on
// loopback, does not go through a proxy).
class RequestRecorder {
 public:
  RequestRecorder() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    ::listen(fd_, 16);
    thread_ = std::thread([this] { Run(); });
  }
  ~RequestRecorder() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  std::vector<std::string> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  void Run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      std::string line;
      char c;
      pollfd in{client, POLLIN, 0};
      while (line.size() < 2000 && ::poll(&in, 1, 1000) > 0 && ::read(client, &c, 1) == 1 && c != '\n') line += c;
      ::close(client);
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(line.empty() ? "(a connection)" : line);
    }
  }
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<std::string> requests_;
};

// The text of the element with id `id` in a serialised DOM (up to its first child tag).
std::string TextOf(const std::string& dom, const std::string& id) {
  size_t at = dom.find("id=\"" + id + "\"");
  if (at == std::string::npos) return "(no #" + id + ")";
  at = dom.find('>', at);
  return dom.substr(at + 1, dom.find('<', at) - at - 1);
}

// "1,234" -> 1234.
long Number(const std::string& text) {
  std::string digits;
  for (char c : text) if (c >= '0' && c <= '9') digits += c;
  return digits.empty() ? -1 : std::stol(digits);
}

class StatusPageInChromium : public ::testing::Test {
 protected:
  void SetUp() override {
    chromium_ = FindChromium();
    if (chromium_.empty()) {
      GTEST_SKIP() << "no chromium on PATH: the status page is not checked in a browser here "
                      "(packaging/install-deps.sh installs Debian's chromium; CI runs this test)";
    }
  }

  // Loads the page and lets it run `budget_ms` of virtual time (its
  // one-second polls happen in that time); returns the DOM as it then is.
  std::string Load(int budget_ms) {
    TempDir profile;
    Child browser({chromium_, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   "--disable-default-apps", "--disable-extensions", "--user-data-dir=" + profile.path(),
                   "--proxy-server=http://127.0.0.1:" + std::to_string(recorder_.port()),
                   "--virtual-time-budget=" + std::to_string(budget_ms), "--dump-dom",
                   "http://" + agent_.address() + "/"});
    const int status = browser.Wait(std::chrono::seconds(90));
    EXPECT_EQ(status, 0) << browser.err();
    return browser.out();
  }

  std::string chromium_;
  StatusFixture agent_;
  RequestRecorder recorder_;
};

TEST(StatusPage, IsOneSelfContainedPage) {
  const std::string page(StatusPageHtml());
  EXPECT_EQ(page.rfind("<!doctype html>", 0), 0u);
  EXPECT_NE(page.find("</html>"), std::string::npos);
  // Nothing from elsewhere: no script, style, font or image by address.
  for (const char* outside : {"http://", "https://", "src=", "@import", "url(", "<link rel=\"stylesheet\""}) {
    EXPECT_EQ(page.find(outside), std::string::npos) << outside;
  }
  // The one link is the empty icon that spares the browser a request for /favicon.ico.
  EXPECT_NE(page.find("<link rel=\"icon\" href=\"data:,\">"), std::string::npos);
}

TEST_F(StatusPageInChromium, ShowsTheSourcesAndNumbersThatChangeAsTotalsGrow) {
  const std::string first = Load(4000);
  ASSERT_NE(first.find("data-source=\"web\""), std::string::npos) << first;
  EXPECT_NE(first.find("data-source=\"events\""), std::string::npos) << first;
  EXPECT_EQ(TextOf(first, "version"), "0.1.0");
  EXPECT_EQ(TextOf(first, "ready"), "ready");
  EXPECT_EQ(TextOf(first, "collector-state"), "backing off");
  EXPECT_NE(first.find("id=\"collector-state\" class=\"state warn\""), std::string::npos) << first;
  // Rates from successive samples: the fixture grows 250 lines and 200 events a second.
  EXPECT_EQ(TextOf(first, "rate-lines"), "250");
  EXPECT_EQ(TextOf(first, "rate-events"), "200");
  EXPECT_EQ(TextOf(first, "chart-peak"), "200/s");
  EXPECT_EQ(TextOf(first, "spool-bytes"), "3.0 MiB of 1.0 GiB");
  EXPECT_EQ(TextOf(first, "spool-oldest"), "1m35s");
  EXPECT_NE(first.find("3 / 7"), std::string::npos) << first;
  EXPECT_NE(first.find("checkout "), std::string::npos) << first;
  // A log message is text, never markup.
  EXPECT_NE(first.find("backing off &lt;b&gt;1s&lt;/b&gt;"), std::string::npos) << first;
  const long lines_first = Number(TextOf(first, "total-lines"));
  EXPECT_GT(lines_first, 1000);

  const std::string second = Load(3000);
  const long lines_second = Number(TextOf(second, "total-lines"));
  EXPECT_GT(lines_second, lines_first) << second;
  EXPECT_GT(Number(TextOf(second, "total-events")), Number(TextOf(first, "total-events")));

  // The page asked its own origin for itself and /status, and nothing else anywhere.
  for (const std::string& path : agent_.paths()) EXPECT_TRUE(path == "/" || path == "/status") << path;
  EXPECT_EQ(recorder_.requests(), std::vector<std::string>{});
}

TEST_F(StatusPageInChromium, SaysWhenTheAgentCannotBeReached) {
  agent_.AnswerInstead(503);
  const std::string dom = Load(2500);
  EXPECT_NE(dom.find("cannot reach the agent (HTTP 503)"), std::string::npos) << dom;
  EXPECT_NE(dom.find("<body class=\"stale\">"), std::string::npos) << dom;
}

}  // namespace
}  // namespace tailtrack::testing
