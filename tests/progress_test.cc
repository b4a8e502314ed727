// Progress on a terminal: `tailtrack test` on a big input (the real binary,
// its stderr on a pseudo-terminal), and the progress line itself.
#include <gtest/gtest.h>

#include <string>

#include "app/progress.h"
#include "terminal_child.h"
#include "test_util.h"

namespace tailtrack::testing {
namespace {

const std::string kBinary = TAILTRACK_BINARY;

std::string ShopConfig(const TempDir& dir) {
  E2eConfig c;
  c.url = "http://127.0.0.1:1";
  c.write_key = "key";
  c.state_dir = dir / "state";
  c.paths = {dir / "app.log"};
  const std::string path = dir / "tailtrack.yaml";
  WriteFile(path, E2eConfigYaml(c));
  return path;
}

size_t Events(const std::string& text) {
  size_t n = 0;
  for (size_t at = text.find("\"Order Completed\""); at != std::string::npos; at = text.find("\"Order Completed\"", at + 1)) ++n;
  return n;
}

std::string ShopLines(int from, int count) {
  std::string text;
  for (int i = from; i < from + count; ++i) text += ShopOrderLine("o" + std::to_string(i));
  return text;
}

TEST(ProgressText, SaysLinesRateAndBytesOfTheTotal) {
  EXPECT_EQ(ProgressText(1234567, 120 << 20, 480 << 20, 2.0), "1,234,567 lines  617,284 lines/s  120.0 MiB of 480.0 MiB (25%)");
  EXPECT_EQ(ProgressText(50, 4000, 0, 0.5), "50 lines  100 lines/s  3.9 KiB");
  EXPECT_EQ(ProgressText(0, 0, 0, 0), "0 lines  0 lines/s  0 B");
}

TEST(TestCommandProgress, ShownOnATerminalWhileLinesComeAndClearedAtTheEnd) {
  if (!PseudoTerminalsWork()) GTEST_SKIP() << "no pseudo-terminal here (is /dev/pts mounted?)";
  TempDir dir;
  const std::string config = ShopConfig(dir);
  // stdin from a pipe that the test keeps feeding until the progress shows:
  // however fast or slow the machine, the input lasts long enough.
  TerminalChild test({kBinary, "test", "-c", config, "--source", "shop", "-"}, TerminalChild::Terminal::kStderr);
  int sent = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (test.terminal().find(" lines/s  ") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(test.WriteStdin(ShopLines(sent, 2000)));
    sent += 2000;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  test.CloseStdin();
  ASSERT_EQ(test.Wait(std::chrono::seconds(60)), 0) << test.terminal();
  const std::string terminal = test.terminal();
  ASSERT_NE(terminal.find(" lines/s  "), std::string::npos) << "no progress after " << sent << " lines";
  // Each drawing starts at the line's beginning and erases what was left of the last one;
  // the last thing written erases the line: the terminal is left as it was.
  EXPECT_EQ(terminal.rfind("\r", 0), 0u) << terminal;
  EXPECT_NE(terminal.find(" lines  "), std::string::npos) << terminal;
  EXPECT_EQ(terminal.find('\n'), std::string::npos) << terminal;
  EXPECT_EQ(terminal.substr(terminal.size() - 4), "\r\x1b[K");
  // Every line still became its event, on stdout.
  EXPECT_EQ(Events(test.file()), static_cast<size_t>(sent));
}

TEST(TestCommandProgress, SaysHowMuchOfAFileIsRead) {
  if (!PseudoTerminalsWork()) GTEST_SKIP() << "no pseudo-terminal here (is /dev/pts mounted?)";
  TempDir dir;
  const std::string config = ShopConfig(dir);
  // A file that is read slowly enough to draw: a fifo's writer could not say
  // its size, so the file is big instead, and grown until a run shows "of".
  const std::string input = dir / "big.log";
  std::string terminal;
  for (int lines = 200000; lines <= 6400000 && terminal.find(" of ") == std::string::npos; lines *= 2) {
    WriteFile(input, ShopLines(0, lines));
    TerminalChild test({kBinary, "test", "-c", config, "--source", "shop", input}, TerminalChild::Terminal::kStderr);
    ASSERT_EQ(test.Wait(std::chrono::seconds(120)), 0);
    terminal = test.terminal();
  }
  EXPECT_NE(terminal.find(" MiB of "), std::string::npos) << terminal;
  EXPECT_NE(terminal.find("%)"), std::string::npos) << terminal;
}

TEST(TestCommandProgress, NothingWhenStderrIsNotATerminal) {
  TempDir dir;
  const std::string config = ShopConfig(dir);
  const std::string input = dir / "big.log";
  WriteFile(input, ShopLines(0, 300000));
  Child test({kBinary, "test", "-c", config, "--source", "shop", input});
  ASSERT_EQ(test.Wait(std::chrono::seconds(120)), 0);
  EXPECT_EQ(test.err(), "");
}

TEST(TestCommandProgress, NothingWhenStdoutIsTheTerminalToo) {
  if (!PseudoTerminalsWork()) GTEST_SKIP() << "no pseudo-terminal here (is /dev/pts mounted?)";
  TempDir dir;
  const std::string config = ShopConfig(dir);
  TerminalChild test({kBinary, "test", "-c", config, "--source", "shop", "-"}, TerminalChild::Terminal::kBoth);
  for (int sent = 0; sent < 20000; sent += 2000) {
    ASSERT_TRUE(test.WriteStdin(ShopLines(sent, 2000)));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // two seconds of input: long enough to draw
  }
  test.CloseStdin();
  ASSERT_EQ(test.Wait(std::chrono::seconds(60)), 0);
  EXPECT_EQ(test.terminal().find(" lines/s"), std::string::npos);
  EXPECT_EQ(Events(test.terminal()), 20000u);
}

}  // namespace
}  // namespace tailtrack::testing
