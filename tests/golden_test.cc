// The golden events of the spec: `tailtrack test` on each golden input prints
// exactly the events of its .events.jsonl (compared as JSON values, without
// messageId and context.library, which tailtrack adds).
#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "event/canonical.h"
#include "test_util.h"

namespace tailtrack {
namespace {

struct CommandRun {
  int status = -1;
  std::vector<std::string> lines;
};

// Runs a shell command; stdout lines are kept, stderr goes to the test log.
CommandRun RunCommand(const std::string& command) {
  CommandRun run;
  FILE* p = popen(command.c_str(), "r");
  if (!p) return run;
  char* buf = nullptr;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&buf, &cap, p)) > 0) {
    std::string line(buf, static_cast<size_t>(n));
    if (!line.empty() && line.back() == '\n') line.pop_back();
    run.lines.push_back(line);
  }
  std::free(buf);
  const int status = pclose(p);
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

const std::string kData = std::string(TAILTRACK_SOURCE_DIR) + "/tests/data/spec";

std::string TestCommandFor(const std::string& source, const std::string& input) {
  return std::string(TAILTRACK_BINARY) + " test -c " + kData + "/example-config.yaml --source " + source + " " +
         kData + "/golden/" + input;
}

void ExpectGolden(const std::string& source, const std::string& input, const std::string& golden) {
  const CommandRun run = RunCommand(TestCommandFor(source, input));
  ASSERT_EQ(run.status, 0);
  const auto want = testing::ReadLines(kData + "/golden/" + golden);
  ASSERT_EQ(run.lines.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    std::string w, g;
    ASSERT_TRUE(json::CanonicalEvent(want[i], true, &w)) << w;
    ASSERT_TRUE(json::CanonicalEvent(run.lines[i], true, &g)) << g << "\n" << run.lines[i];
    EXPECT_EQ(g, w) << "event " << i + 1 << " of " << input;

    // What canonical leaves out is there too.
    simdjson::dom::parser parser;
    const auto event = parser.parse(run.lines[i]);
    std::string_view id, library;
    ASSERT_EQ(event["messageId"].get(id), simdjson::SUCCESS);
    EXPECT_LE(id.size(), 100u);
    ASSERT_EQ(event["context"]["library"]["name"].get(library), simdjson::SUCCESS);
    EXPECT_EQ(library, "tailtrack");
  }
}

TEST(Golden, ShopLogGivesTheGoldenEvents) { ExpectGolden("shop", "shop.log", "shop.events.jsonl"); }
TEST(Golden, AccessLogGivesTheGoldenEvents) { ExpectGolden("web", "access.log", "access.events.jsonl"); }
TEST(Golden, AccountsJsonLinesGiveTheGoldenEvents) { ExpectGolden("accounts", "accounts.jsonl", "accounts.events.jsonl"); }
TEST(Golden, ReadyMadeEventsGiveTheGoldenEvents) { ExpectGolden("local", "local.events", "local.events.jsonl"); }

TEST(Golden, MessageIdsAreTheSameOnEveryRun) {
  const CommandRun a = RunCommand(TestCommandFor("shop", "shop.log"));
  const CommandRun b = RunCommand(TestCommandFor("shop", "shop.log"));
  ASSERT_EQ(a.lines.size(), 5u);
  EXPECT_EQ(a.lines, b.lines);
}

// A source the configuration does not have is a mistake on the command line:
// a usage error (exit 2, one line), not a configuration error.
TEST(Golden, UnknownSourceIsAUsageError) {
  const CommandRun run = RunCommand(TestCommandFor("nope", "shop.log") + " 2>&1 >/dev/null");
  EXPECT_EQ(run.status, 2);
  EXPECT_EQ(run.lines, (std::vector<std::string>{
                           "tailtrack: unknown source \"nope\" (sources: shop, web, accounts, local) (see tailtrack --help)"}));
}

TEST(Golden, AConfigWithoutTestsIsAConfigErrorAtItsStart) {
  const std::string config = kData + "/example-config.yaml";
  const CommandRun run = RunCommand(std::string(TAILTRACK_BINARY) + " test -c " + config + " 2>&1 >/dev/null");
  EXPECT_EQ(run.status, 78);
  EXPECT_EQ(run.lines, (std::vector<std::string>{
                           config + ":1:1: no tests: in the configuration (to map lines, give --source NAME [INPUT])"}));
}

// `tests:` in a configuration, through the real loader: `expect` keeps YAML's
// types, and only a top-level timestamp is compared.
TEST(RuleTests, ConfigTestsPassWithTheRealLoader) {
  const std::string config = std::string(TAILTRACK_SOURCE_DIR) + "/tests/data/rules/rule-tests.yaml";
  const CommandRun run = RunCommand(std::string(TAILTRACK_BINARY) + " test -c " + config);
  EXPECT_EQ(run.status, 0);
  ASSERT_FALSE(run.lines.empty());
  EXPECT_EQ(run.lines.back(), "3 tests, 3 passed, 0 failed");
}

TEST(RuleTests, StatsCountEachRuleOfTheSourceAndShowUnmatchedLines) {
  const std::string config = std::string(TAILTRACK_SOURCE_DIR) + "/tests/data/rules/rule-tests.yaml";
  const std::string input = "printf '2026-01-20T06:30:00Z INFO order completed order_id=ord_1 total=5\\nnoise\\n' | ";
  CommandRun run = RunCommand(input + TAILTRACK_BINARY + " test --stats -c " + config + " --source shop 2>&1 >/dev/null");
  EXPECT_EQ(run.status, 0);
  EXPECT_EQ(run.lines, (std::vector<std::string>{
                           "source \"shop\": 2 lines",
                           "  rule                                  matched",
                           "  order-completed                             1",
                           "  audit                                       0",
                           "  (no rule matched)                           1",
                           "  (not JSON / not decodable)                  0",
                           "  events                                      1",
                           "  invalid events                              0",
                           "  timestamps not parsed                       0",
                           "sample lines no rule matched:",
                           "  line 2: noise",
                       }));
  // Rules do not apply to a format: event source, so none is listed for it.
  run = RunCommand("echo '{\"type\":\"page\",\"userId\":\"u\"}' | " + std::string(TAILTRACK_BINARY) + " test --stats -c " + config +
                   " --source ready 2>&1 >/dev/null");
  ASSERT_GE(run.lines.size(), 3u);
  EXPECT_EQ(run.lines[2], "  (no rule matched)                           0");
}

TEST(RuleTests, AFailingConfigTestShowsBothSidesAndExitsOne) {
  const std::string config = std::string(TAILTRACK_SOURCE_DIR) + "/tests/data/rules/rule-tests-failing.yaml";
  const CommandRun run = RunCommand(std::string(TAILTRACK_BINARY) + " test -c " + config);
  EXPECT_EQ(run.status, 1);
  ASSERT_EQ(run.lines.size(), 5u);
  EXPECT_EQ(run.lines[2], R"(    expected: {"anonymousId":"a","event":"Order","properties":{"total":"99.99"},"type":"track"})");
  EXPECT_EQ(run.lines[3], R"(    actual:   {"anonymousId":"a","event":"Order","properties":{"total":99.99},"type":"track"})");
}

}  // namespace
}  // namespace tailtrack
