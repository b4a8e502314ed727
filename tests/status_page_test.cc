// The admin status page: self-contained, and alive in a real browser
// (headless Chromium, Debian's `chromium`) against a /status whose totals grow.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
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

// What the page itself asked for: the URLs of the requests whose initiator is
// `origin`, from a Chromium net log (one event per line). The browser's own
// background requests (updates, time) have no such initiator; anything the
// page loads or fetches, from any origin, has.
std::vector<std::string> RequestsFrom(const std::string& net_log, const std::string& origin) {
  std::vector<std::string> urls;
  const std::string initiator = "\"initiator\":\"" + origin + "\"";
  for (size_t at = net_log.find(initiator); at != std::string::npos; at = net_log.find(initiator, at + 1)) {
    const size_t line_end = net_log.find('\n', at);
    const size_t url = net_log.find("\"url\":\"", at);
    if (url == std::string::npos || url > line_end) continue;
    const size_t begin = url + 7;
    urls.push_back(net_log.substr(begin, net_log.find('"', begin) - begin));
  }
  return urls;
}

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
  // `*requests`: the URLs the page asked for (RequestsFrom).
  std::string Load(int budget_ms, std::vector<std::string>* requests = nullptr) {
    TempDir profile;
    Child browser({chromium_, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   "--disable-default-apps", "--disable-extensions", "--user-data-dir=" + profile.path(),
                   "--log-net-log=" + (profile / "net.json"),
                   "--virtual-time-budget=" + std::to_string(budget_ms), "--dump-dom", origin() + "/"});
    const int status = browser.Wait(std::chrono::seconds(90));
    EXPECT_EQ(status, 0) << browser.err();
    if (requests) *requests = RequestsFrom(ReadFile(profile / "net.json"), origin());
    return browser.out();
  }

  std::string origin() const { return "http://" + agent_.address(); }

  std::string chromium_;
  StatusFixture agent_;
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
  std::vector<std::string> requests;
  const std::string first = Load(4000, &requests);
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

  // The page asked its own origin for /status (once a second), and nothing
  // else of anyone: no script, style, font, image or icon from anywhere.
  ASSERT_GE(requests.size(), 3u);
  for (const std::string& url : requests) EXPECT_EQ(url, origin() + "/status");
  for (const std::string& path : agent_.paths()) EXPECT_TRUE(path == "/" || path == "/status") << path;
}

TEST_F(StatusPageInChromium, SaysWhenTheAgentCannotBeReached) {
  agent_.AnswerInstead(503);
  const std::string dom = Load(2500);
  EXPECT_NE(dom.find("cannot reach the agent (HTTP 503)"), std::string::npos) << dom;
  EXPECT_NE(dom.find("<body class=\"stale\">"), std::string::npos) << dom;
}

}  // namespace
}  // namespace tailtrack::testing
