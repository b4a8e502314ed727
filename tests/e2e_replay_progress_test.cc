// The spool replay at start, followed on a terminal: the real agent, its
// stderr on a pseudo-terminal, an earlier run's batches in its spool.
#include <gtest/gtest.h>
#include <signal.h>

#include <string>

#include "fake_collector.h"
#include "terminal_child.h"
#include "test_util.h"

namespace tailtrack::testing {
namespace {

const std::string kBinary = TAILTRACK_BINARY;

TEST(SpoolReplayProgress, ATerminalSeesTheReplayGoOnAndEnd) {
  if (!PseudoTerminalsWork()) GTEST_SKIP() << "no pseudo-terminal here (is /dev/pts mounted?)";
  FakeCollector collector("key");
  TempDir dir;
  const std::string log = dir / "app.log";
  constexpr int kLines = 400;
  std::string lines;
  for (int i = 0; i < kLines; ++i) lines += ShopOrderLine("r" + std::to_string(i));
  WriteFile(log, lines);
  E2eConfig c;
  c.url = collector.url();
  c.write_key = "key";
  c.state_dir = dir / "state";
  c.spool_dir = dir / "spool";
  c.fsync = "false";
  c.max_events = "10";  // 40 batches
  c.max_in_flight = "1";
  c.paths = {log};
  const std::string config = dir / "tailtrack.yaml";
  WriteFile(config, E2eConfigYaml(c));

  // An earlier run that could deliver nothing: at its stop, what it read is spooled.
  collector.FailAll(ScriptedAnswer::Status(503));
  {
    Child first({kBinary, "run", "-c", config});
    ASSERT_TRUE(Eventually([&] { return collector.requests().size() >= 1; }, std::chrono::seconds(20))) << first.err();
    first.Signal(SIGTERM);
    ASSERT_EQ(first.Wait(std::chrono::seconds(20)), 0) << first.err();
    ASSERT_EQ(first.err().find("spool replay:"), std::string::npos) << "not a terminal: no progress lines";
  }

  // This run replays it, a quarter of a second per batch: long enough for a
  // progress line (every 5 s) before the end.
  collector.FailAll(ScriptedAnswer::Slow(250, 201));
  TerminalChild second({kBinary, "run", "-c", config}, TerminalChild::Terminal::kStderr);
  ASSERT_TRUE(Eventually([&] { return second.terminal().find("batches of the earlier run replayed in") != std::string::npos; },
                         std::chrono::seconds(120)))
      << second.terminal();
  const std::string terminal = second.terminal();
  EXPECT_NE(terminal.find("wait from an earlier run; replaying them"), std::string::npos) << terminal;
  EXPECT_NE(terminal.find(" batches replayed"), std::string::npos) << terminal;  // "spool replay: X of N batches replayed"
  second.Signal(SIGTERM);
  EXPECT_EQ(second.Wait(std::chrono::seconds(20)), 0) << second.terminal();
}

}  // namespace
}  // namespace tailtrack::testing
