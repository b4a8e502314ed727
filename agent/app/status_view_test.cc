#include "app/status_view.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <sstream>

namespace tailtrack {
namespace {

std::string Status(int pid, double uptime, uint64_t lines, uint64_t events, uint64_t web_lines) {
  return fmt::format(R"json({{"version": "0.1.0", "pid": {}, "uptime_seconds": {}, "now": null, "ready": false,
    "ready_reason": "collector unauthorized (401)",
    "collector": {{"url": "https://c.example", "state": "unauthorized", "in_flight": 0, "last_delivery_at": null}},
    "totals": {{"lines_read": {}, "events_sent": {}}},
    "spool": {{"enabled": false}},
    "sources": [{{"name": "web", "type": "file", "lines_read": {}, "lag_bytes": 0, "files_open": 1,
                  "files_watched": 1, "paused": true, "rules": []}}],
    "last_errors": []}})json",
                     pid, uptime, lines, events, web_lines);
}

std::string Render(const std::string& json, const StatusSample& previous, StatusSample* sample,
                   StatusViewOptions options = {}) {
  std::string out, error;
  EXPECT_TRUE(RenderStatus(json, previous, options, &out, sample, &error)) << error;
  return out;
}

TEST(StatusView, RatesAreOverTheTimeBetweenTwoSamplesOfOneAgent) {
  StatusSample first, second;
  const std::string alone = Render(Status(7, 100, 1000, 500, 1000), {}, &first);
  EXPECT_NE(alone.find("10.0 lines/s   5.0 events/s   (average since start)"), std::string::npos) << alone;
  const std::string both = Render(Status(7, 102, 1600, 900, 1600), first, &second);
  EXPECT_NE(both.find("300 lines/s   200 events/s   (last 2.0s)"), std::string::npos) << both;
  // The source's own rate, in its row.
  EXPECT_NE(both.find("1,600  300"), std::string::npos) << both;
}

TEST(StatusView, ARestartedAgentStartsItsRatesAgain) {
  StatusSample first, second;
  Render(Status(7, 100, 1000, 500, 1000), {}, &first);
  // Another pid, fewer lines: not a rate of -900 lines over the interval.
  const std::string out = Render(Status(8, 2, 100, 50, 100), first, &second);
  EXPECT_NE(out.find("50.0 lines/s   25.0 events/s   (average since start)"), std::string::npos) << out;
}

TEST(StatusView, SaysWhatIsWrongAndWhatIsOff) {
  StatusSample sample;
  const std::string out = Render(Status(7, 100, 1000, 500, 1000), {}, &sample);
  EXPECT_NE(out.find("not ready: collector unauthorized (401)"), std::string::npos) << out;
  EXPECT_NE(out.find("nothing delivered yet"), std::string::npos) << out;
  EXPECT_NE(out.find("spool     off"), std::string::npos) << out;
  EXPECT_NE(out.find("web (paused)"), std::string::npos) << out;
}

TEST(StatusView, LinesAreCutToTheTerminalWidthAndNoColourRunsOn) {
  StatusSample sample;
  const std::string out =
      Render(Status(7, 100, 1000, 500, 1000), {}, &sample, StatusViewOptions{.colour = true, .address = "", .width = 20});
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    size_t visible = 0;
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '\x1b') i = line.find('m', i);
      else if ((static_cast<unsigned char>(line[i]) & 0xC0) != 0x80) ++visible;
    }
    EXPECT_LE(visible, 20u) << line;
    // The last escape in a line is a reset: no colour runs on into the next.
    if (const size_t last = line.rfind('\x1b'); last != std::string::npos) {
      EXPECT_EQ(line.substr(last, 4), "\x1b[0m") << line;
    }
  }
  EXPECT_NE(out.find("\x1b[31munauthoriz\x1b[0m\n"), std::string::npos) << out;  // cut, and reset
}

TEST(StatusView, AnythingElseIsRefusedWithTheReason) {
  std::string out, error;
  StatusSample sample;
  EXPECT_FALSE(RenderStatus("<html>", {}, {}, &out, &sample, &error));
  EXPECT_EQ(error.rfind("not JSON (", 0), 0u) << error;
  EXPECT_FALSE(RenderStatus("[1, 2]", {}, {}, &out, &sample, &error));
  EXPECT_EQ(error, "not the agent's status (no \"collector\" or \"totals\")");
}

}  // namespace
}  // namespace tailtrack
