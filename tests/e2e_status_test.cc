// End to end: the real agent with admin.listen, lines appended to its file;
// `tailtrack status` and the status page in headless Chromium show the source
// and a line count that grows.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <regex>
#include <string>

#include "fake_collector.h"
#include "test_util.h"

namespace tailtrack::testing {
namespace {

const std::string kBinary = TAILTRACK_BINARY;

std::string Orders(int from, int count) {
  std::string text;
  for (int i = from; i < from + count; ++i) text += ShopOrderLine("e" + std::to_string(i));
  return text;
}

std::string Chromium() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

// The DOM of the page at `url` after `budget_ms` of virtual time in headless Chromium.
std::string PageDom(const std::string& chromium, const std::string& url, int budget_ms) {
  TempDir profile;
  Child browser({chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--user-data-dir=" + profile.path(),
                 "--virtual-time-budget=" + std::to_string(budget_ms), "--dump-dom", url});
  EXPECT_EQ(browser.Wait(std::chrono::seconds(90)), 0) << browser.err();
  return browser.out();
}

TEST(E2eStatus, StatusAndThePageShowTheSourceAndAGrowingLineCount) {
  FakeCollector collector("key");
  TempDir dir;
  const std::string log = dir / "app.log";
  WriteFile(log, Orders(0, 10));
  E2eConfig c;
  c.url = collector.url();
  c.write_key = "key";
  c.state_dir = dir / "state";
  c.paths = {log};
  const std::string config = dir / "tailtrack.yaml";
  WriteFile(config, E2eConfigYaml(c) + "admin:\n  listen: 127.0.0.1:0\n");
  Child agent({kBinary, "run", "-c", config});
  // Port 0: the agent says which port it bound.
  const int port = AdminPort(agent);
  ASSERT_GT(port, 0) << agent.err();
  const std::string address = "127.0.0.1:" + std::to_string(port);

  auto status = [&] {
    Child s({kBinary, "status", "--admin", address});
    EXPECT_EQ(s.Wait(std::chrono::seconds(20)), 0) << s.err();
    return s.out();
  };
  std::string out;
  ASSERT_TRUE(Eventually([&] { return (out = status()).find("events sent 10 ") != std::string::npos; },
                         std::chrono::seconds(30)))
      << out << agent.err();
  EXPECT_NE(out.find("lines 10 "), std::string::npos) << out;
  EXPECT_NE(out.find("\nshop "), std::string::npos) << out;
  EXPECT_NE(out.find("healthy"), std::string::npos) << out;

  AppendFile(log, Orders(10, 20));
  ASSERT_TRUE(Eventually([&] { return (out = status()).find("events sent 30 ") != std::string::npos; },
                         std::chrono::seconds(30)))
      << out << agent.err();
  EXPECT_NE(out.find("lines 30 "), std::string::npos) << out;

  const std::string chromium = Chromium();
  if (chromium.empty()) {
    agent.Signal(SIGTERM);
    agent.Wait(std::chrono::seconds(20));
    GTEST_SKIP() << "no chromium: the page is not checked in a browser here "
                    "(packaging/install-deps.sh installs Debian's chromium; CI runs this test)";
  }
  const std::string first = PageDom(chromium, "http://" + address + "/", 2500);
  EXPECT_NE(first.find("data-source=\"shop\""), std::string::npos) << first;
  EXPECT_NE(first.find("id=\"total-lines\">30<"), std::string::npos) << first;
  EXPECT_NE(first.find("id=\"collector-state\" class=\"state good\">healthy<"), std::string::npos) << first;

  AppendFile(log, Orders(30, 15));
  ASSERT_TRUE(Eventually([&] { return status().find("events sent 45 ") != std::string::npos; },
                         std::chrono::seconds(30)));
  const std::string second = PageDom(chromium, "http://" + address + "/", 2500);
  EXPECT_NE(second.find("id=\"total-lines\">45<"), std::string::npos) << second;

  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(std::chrono::seconds(20)), 0) << agent.err();
}

}  // namespace
}  // namespace tailtrack::testing
