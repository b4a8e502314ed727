// `tailtrack status` (the real binary) against a real HTTP server on loopback
// serving a fixture /status in the shared contract's shape.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "status_fixture.h"
#include "terminal_child.h"
#include "test_util.h"

namespace tailtrack::testing {
namespace {

const std::string kBinary = TAILTRACK_BINARY;

// A loopback port where nothing listens: bound, then closed.
int RefusingPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

size_t Occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(StatusCommand, PrintsTheStateTheNumbersAndTheSources) {
  StatusFixture agent;
  Child status({kBinary, "status", "--admin", agent.address()});
  ASSERT_EQ(status.Wait(), 0) << status.err();
  const std::string out = status.out();
  EXPECT_EQ(status.err(), "");
  // The first answer: 1,250 lines, 1,000 events, 11 s up.
  EXPECT_NE(out.find("tailtrack 0.1.0 at " + agent.address()), std::string::npos) << out;
  EXPECT_NE(out.find("pid 4242"), std::string::npos) << out;
  EXPECT_NE(out.find("ready"), std::string::npos) << out;
  EXPECT_NE(out.find("backing_off"), std::string::npos) << out;
  EXPECT_NE(out.find("https://collector.example"), std::string::npos) << out;
  EXPECT_NE(out.find("last error: HTTP 503 from the collector"), std::string::npos) << out;
  EXPECT_NE(out.find("lines 1,250"), std::string::npos) << out;
  EXPECT_NE(out.find("events sent 1,000"), std::string::npos) << out;
  // One sample: rates are the averages since the start (1,250 lines in 11 s).
  EXPECT_NE(out.find("114 lines/s   90.9 events/s"), std::string::npos) << out;
  EXPECT_NE(out.find("(average since start)"), std::string::npos) << out;
  EXPECT_NE(out.find("3.0 MiB of 1.0 GiB   12 batches   600 events   oldest 1m35s"), std::string::npos) << out;
  // The sources table: lines, lag, files, rules.
  EXPECT_NE(out.find("web"), std::string::npos) << out;
  EXPECT_NE(out.find("1,245  113"), std::string::npos) << out;
  EXPECT_NE(out.find("2.0 KiB"), std::string::npos) << out;
  EXPECT_NE(out.find("3 open / 7"), std::string::npos) << out;
  EXPECT_NE(out.find("signup 40, checkout 955"), std::string::npos) << out;
  EXPECT_NE(out.find("events"), std::string::npos) << out;
  EXPECT_NE(out.find("1 client"), std::string::npos) << out;
  EXPECT_NE(out.find("socket-event 5"), std::string::npos) << out;
  EXPECT_NE(out.find("15:00:01  warn   collector: HTTP 503, backing off <b>1s</b>"), std::string::npos) << out;
  // Not a terminal: no colour, no escape sequence at all.
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << out;
}

TEST(StatusCommand, JsonPrintsTheAnswerAsItCame) {
  StatusFixture agent;
  Child status({kBinary, "status", "--admin", agent.address(), "--json"});
  ASSERT_EQ(status.Wait(), 0) << status.err();
  EXPECT_EQ(status.out(), StatusFixture::StatusJson(1));
}

TEST(StatusCommand, AnAgentNotListeningIsOneLineAndExit1) {
  const std::string address = "127.0.0.1:" + std::to_string(RefusingPort());
  Child status({kBinary, "status", "--admin", address});
  EXPECT_EQ(status.Wait(), 1);
  EXPECT_EQ(status.err(),
            "tailtrack status: cannot reach the agent at " + address + ": Connection refused (is admin.listen set?)\n");
  EXPECT_EQ(status.out(), "");
}

TEST(StatusCommand, ABarePortIsOnLoopback) {
  StatusFixture agent;
  Child status({kBinary, "status", "--admin", std::to_string(agent.port())});
  ASSERT_EQ(status.Wait(), 0) << status.err();
  EXPECT_NE(status.out().find("tailtrack 0.1.0 at " + agent.address()), std::string::npos) << status.out();
}

TEST(StatusCommand, AnAnswerOtherThan200IsOneLineAndExit1) {
  StatusFixture agent;
  agent.AnswerInstead(503);
  Child status({kBinary, "status", "--admin", agent.address()});
  EXPECT_EQ(status.Wait(), 1);
  EXPECT_EQ(status.err(), "tailtrack status: the agent at " + agent.address() + " answered HTTP 503 to GET /status\n");
}

TEST(StatusCommand, SomethingElseAnsweringIsOneLineAndExit1) {
  StatusFixture agent;
  agent.AnswerInstead(200, "<html>a web server, not the agent</html>");
  Child status({kBinary, "status", "--admin", agent.address()});
  EXPECT_EQ(status.Wait(), 1);
  const std::string err = status.err();
  EXPECT_EQ(err.rfind("tailtrack status: the answer from " + agent.address() + " is not JSON (", 0), 0u) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;

  agent.AnswerInstead(200, R"({"version": "9"})");
  Child other({kBinary, "status", "--admin", agent.address()});
  EXPECT_EQ(other.Wait(), 1);
  EXPECT_EQ(other.err(), "tailtrack status: the answer from " + agent.address() +
                             " is not the agent's status (no \"collector\" or \"totals\")\n");
}

TEST(StatusCommand, TheAddressComesFromTheConfiguration) {
  StatusFixture agent;
  TempDir dir;
  const std::string config = dir / "tailtrack.yaml";
  E2eConfig c;
  c.url = "http://127.0.0.1:1";
  c.write_key = "key";
  c.state_dir = dir / "state";
  c.paths = {dir / "app.log"};
  WriteFile(config, E2eConfigYaml(c) + "admin:\n  listen: " + agent.address() + "\n");
  Child status({kBinary, "status", "-c", config});
  ASSERT_EQ(status.Wait(), 0) << status.err();
  EXPECT_NE(status.out().find("tailtrack 0.1.0 at " + agent.address()), std::string::npos) << status.out();

  // --admin wins over the configuration.
  const std::string elsewhere = "127.0.0.1:" + std::to_string(RefusingPort());
  Child other({kBinary, "status", "-c", config, "--admin", elsewhere});
  EXPECT_EQ(other.Wait(), 1);
  EXPECT_NE(other.err().find("cannot reach the agent at " + elsewhere), std::string::npos) << other.err();

  // Port 0: the agent picks one, which the configuration cannot say.
  const std::string any_port = dir / "any-port.yaml";
  WriteFile(any_port, E2eConfigYaml(c) + "admin:\n  listen: 127.0.0.1:0\n");
  Child zero({kBinary, "status", "-c", any_port});
  EXPECT_EQ(zero.Wait(), 1);
  EXPECT_EQ(zero.err(), "tailtrack status: " + any_port + " sets admin.listen to port 0 (any free port); give "
                        "--admin HOST:PORT with the port the agent logged (\"admin endpoint on ...\")\n");

  // A configuration without admin.listen: the agent serves nothing to ask.
  const std::string without = dir / "no-admin.yaml";
  WriteFile(without, E2eConfigYaml(c));
  Child none({kBinary, "status", "-c", without});
  EXPECT_EQ(none.Wait(), 1);
  EXPECT_EQ(none.err(), "tailtrack status: " + without +
                            " sets no admin.listen, so the agent serves no status (set it, or give --admin ADDR)\n");
}

TEST(StatusCommand, ColourOnATerminalUnlessNoColor) {
  if (!PseudoTerminalsWork()) GTEST_SKIP() << "no pseudo-terminal here (is /dev/pts mounted?)";
  StatusFixture agent;
  TerminalChild colour({kBinary, "status", "--admin", agent.address()}, TerminalChild::Terminal::kStdout,
                       {"NO_COLOR=", "TERM=xterm"});
  ASSERT_EQ(colour.Wait(), 0) << colour.file();
  // backing_off in yellow, the title in bold.
  EXPECT_NE(colour.terminal().find("\x1b[33mbacking_off\x1b[0m"), std::string::npos) << colour.terminal();
  EXPECT_NE(colour.terminal().find("\x1b[1mtailtrack 0.1.0"), std::string::npos) << colour.terminal();

  TerminalChild plain({kBinary, "status", "--admin", agent.address()}, TerminalChild::Terminal::kStdout,
                      {"NO_COLOR=1", "TERM=xterm"});
  ASSERT_EQ(plain.Wait(), 0) << plain.file();
  EXPECT_NE(plain.terminal().find("backing_off"), std::string::npos) << plain.terminal();
  EXPECT_EQ(plain.terminal().find('\x1b'), std::string::npos) << plain.terminal();
}

TEST(StatusCommand, WatchRedrawsInPlaceWithRatesFromSuccessiveSamplesUntilCtrlC) {
  if (!PseudoTerminalsWork()) GTEST_SKIP() << "no pseudo-terminal here (is /dev/pts mounted?)";
  StatusFixture agent;
  TerminalChild watch({kBinary, "status", "--admin", agent.address(), "--watch"}, TerminalChild::Terminal::kStdout,
                      {"NO_COLOR=1", "TERM=xterm"});
  // The fixture grows by 250 lines and 200 events per second of its uptime.
  ASSERT_TRUE(Eventually([&] { return watch.terminal().find("250 lines/s   200 events/s   (last 1.0s)") != std::string::npos; },
                         std::chrono::seconds(30)))
      << watch.terminal();
  watch.Signal(SIGINT);
  EXPECT_EQ(watch.Wait(), 0);
  const std::string screen = watch.terminal();
  // The alternate screen, each frame from the top left, and the terminal given back.
  EXPECT_EQ(screen.rfind("\x1b[?1049h\x1b[?25l", 0), 0u) << screen;
  EXPECT_GE(Occurrences(screen, "\x1b[H"), 2u) << screen;
  EXPECT_NE(screen.find("lines 1,500"), std::string::npos) << screen;  // the second sample
  const std::string given_back = "\x1b[?25h\x1b[?1049l";
  ASSERT_GE(screen.size(), given_back.size());
  EXPECT_EQ(screen.substr(screen.size() - given_back.size()), given_back);
}

TEST(StatusCommand, WatchWithoutATerminalPrintsOneTableAfterAnother) {
  StatusFixture agent;
  Child watch({kBinary, "status", "--admin", agent.address(), "--watch"});
  ASSERT_TRUE(Eventually([&] { return Occurrences(watch.out(), "tailtrack 0.1.0 at") >= 2; }, std::chrono::seconds(30)))
      << watch.out();
  watch.Signal(SIGINT);
  EXPECT_EQ(watch.Wait(), 0);
  const std::string out = watch.out();
  EXPECT_NE(out.find("250 lines/s   200 events/s   (last 1.0s)"), std::string::npos) << out;
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << out;
}

TEST(StatusCommand, WatchGoesOnWhenTheAgentGoesAway) {
  StatusFixture agent;
  Child watch({kBinary, "status", "--admin", agent.address(), "--watch"});
  ASSERT_TRUE(Eventually([&] { return agent.served() >= 1; }, std::chrono::seconds(30)));
  agent.AnswerInstead(503);
  ASSERT_TRUE(Eventually([&] { return watch.err().find("answered HTTP 503") != std::string::npos; },
                         std::chrono::seconds(30)));
  agent.AnswerInstead(0);
  const int before = agent.served();
  ASSERT_TRUE(Eventually([&] { return agent.served() > before; }, std::chrono::seconds(30)));
  watch.Signal(SIGINT);
  EXPECT_EQ(watch.Wait(), 0);
}

}  // namespace
}  // namespace tailtrack::testing
