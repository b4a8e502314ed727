// End to end: the real binary run the way systemd runs a Type=notify service,
// with NOTIFY_SOCKET naming a datagram socket that this test binds in place of
// systemd, and WATCHDOG_USEC set small.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <regex>
#include <string>
#include <vector>

#include "fake_collector.h"
#include "test_util.h"

namespace tailtrack::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr char kKey[] = "systemd-write-key";

struct Notification {
  Clock::time_point at;
  std::string text;
};

// systemd's end of the notify socket: a bound datagram socket.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.data(), path.size());
    bound_ = ::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  }
  ~NotifySocket() { ::close(fd_); }
  bool bound() const { return bound_; }

  // Receives until `done(all received so far)` holds or `timeout` passes.
  bool ReceiveUntil(const std::function<bool(const std::vector<Notification>&)>& done, milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!done(received_)) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::min<long>(left, 100))) != 1) continue;
      char buffer[4096];
      const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (n > 0) received_.push_back({Clock::now(), std::string(buffer, static_cast<size_t>(n))});
    }
    return true;
  }
  const std::vector<Notification>& received() const { return received_; }

 private:
  int fd_ = -1;
  bool bound_ = false;
  std::vector<Notification> received_;
};

size_t Count(const std::vector<Notification>& all, const std::string& text) {
  size_t n = 0;
  for (const auto& x : all) n += x.text == text;
  return n;
}

std::string Describe(const std::vector<Notification>& all) {
  std::string s;
  for (const auto& x : all) s += "[" + x.text + "] ";
  return s;
}

// The agent's configuration in `dir`: one file source on `log`, sending to `collector`.
std::string WriteAgentConfig(const TempDir& dir, const FakeCollector& collector, const std::string& log) {
  E2eConfig c;
  c.url = collector.url();
  c.write_key = kKey;
  c.state_dir = dir / "state";
  c.paths = {log};
  WriteFile(dir / "tailtrack.yaml", E2eConfigYaml(c));
  return dir / "tailtrack.yaml";
}

TEST(SystemdNotifyE2eTest, ReadyThenWatchdogAtHalfTheDeadlineThenStatusWithRatesThenStoppingOnSigterm) {
  TempDir dir;
  FakeCollector collector(kKey);
  NotifySocket systemd(dir / "notify");
  ASSERT_TRUE(systemd.bound());
  const std::string log = dir / "app.log";
  WriteFile(log, "");
  WriteAgentConfig(dir, collector, log);

  constexpr int64_t kWatchdogUsec = 2'000'000;  // pings expected every second
  Child agent({TAILTRACK_BINARY, "run", "-c", dir / "tailtrack.yaml"},
              {"NOTIFY_SOCKET=" + (dir / "notify"), "WATCHDOG_USEC=" + std::to_string(kWatchdogUsec)});

  ASSERT_TRUE(systemd.ReceiveUntil([](const auto& all) { return Count(all, "READY=1") > 0; }, seconds(20)))
      << Describe(systemd.received()) << agent.err();
  EXPECT_EQ(systemd.received().front().text, "READY=1") << "READY=1 comes first: " << Describe(systemd.received());

  // Lines arrive while it runs: the next STATUS= line shows them as rates.
  std::string lines;
  for (int i = 0; i < 20; ++i) lines += ShopOrderLine("tok" + std::to_string(i));
  AppendFile(log, lines);
  ASSERT_TRUE(collector.WaitForEvents(20, seconds(20))) << agent.err();

  const std::regex rates(R"(STATUS=([0-9.]+) lines/s, ([0-9.]+) events/s; spool ([0-9]+) batches \(([0-9]+) bytes\); collector healthy)");
  // Lines read and events sent, each in some STATUS= line (a slow machine
  // may split them over two).
  auto status_with_events = [&](const std::vector<Notification>& all) {
    bool lines_seen = false, events_seen = false;
    for (const auto& x : all) {
      std::smatch m;
      if (!std::regex_match(x.text, m, rates)) continue;
      lines_seen |= std::stod(m[1].str()) > 0;
      events_seen |= std::stod(m[2].str()) > 0;
    }
    return lines_seen && events_seen;
  };
  ASSERT_TRUE(systemd.ReceiveUntil(
      [&](const auto& all) { return status_with_events(all) && Count(all, "WATCHDOG=1") >= 6; }, seconds(30)))
      << Describe(systemd.received());

  // The pings come at half WATCHDOG_USEC: never late enough for systemd to
  // restart the agent, and not faster than asked. (On average: a ping the
  // loaded machine delayed is followed by one sooner, the timer's period
  // being fixed.)
  std::vector<Clock::time_point> pings;
  for (const auto& x : systemd.received()) {
    if (x.text == "WATCHDOG=1") pings.push_back(x.at);
  }
  for (size_t i = 1; i < pings.size(); ++i) {
    const auto gap = std::chrono::duration_cast<milliseconds>(pings[i] - pings[i - 1]).count();
    EXPECT_LT(gap, kWatchdogUsec / 1000) << "ping " << i;
  }
  ASSERT_GE(pings.size(), 6u);
  const auto mean_gap =
      std::chrono::duration_cast<milliseconds>(pings.back() - pings.front()).count() / int64_t(pings.size() - 1);
  EXPECT_GE(mean_gap, kWatchdogUsec / 1000 / 4);

  agent.Signal(SIGTERM);
  ASSERT_TRUE(systemd.ReceiveUntil(
      [](const auto& all) { return !all.empty() && all.back().text.starts_with("STOPPING=1\n"); }, seconds(20)))
      << Describe(systemd.received());
  EXPECT_EQ(agent.Wait(seconds(20)), 0) << agent.err();
  EXPECT_EQ(Count(systemd.received(), "READY=1"), 1u);
}

// systemctl reload waits for RELOADING=1 then READY=1: refused or taken.
TEST(SystemdNotifyE2eTest, AReloadSaysReloadingThenReadyWhetherTakenOrRefused) {
  TempDir dir;
  FakeCollector collector(kKey);
  NotifySocket systemd(dir / "notify");
  ASSERT_TRUE(systemd.bound());
  WriteAgentConfig(dir, collector, dir / "app.log");
  Child agent({TAILTRACK_BINARY, "run", "-c", dir / "tailtrack.yaml"}, {"NOTIFY_SOCKET=" + (dir / "notify")});
  ASSERT_TRUE(systemd.ReceiveUntil([](const auto& all) { return Count(all, "READY=1") == 1; }, seconds(20)))
      << Describe(systemd.received()) << agent.err();

  auto reloads_answered = [](const std::vector<Notification>& all, size_t n) {
    size_t reloading = 0, ready_after = 0;
    for (const auto& x : all) {
      if (x.text.starts_with("RELOADING=1\n")) ++reloading;
      if (x.text == "READY=1" && reloading > ready_after) ++ready_after;
    }
    return reloading == n && ready_after == n;
  };
  agent.Signal(SIGHUP);  // the same configuration: taken
  ASSERT_TRUE(systemd.ReceiveUntil([&](const auto& all) { return reloads_answered(all, 1); }, seconds(20)))
      << Describe(systemd.received()) << agent.err();
  WriteFile(dir / "tailtrack.yaml", "sources: [");  // refused
  agent.Signal(SIGHUP);
  ASSERT_TRUE(systemd.ReceiveUntil([&](const auto& all) { return reloads_answered(all, 2); }, seconds(20)))
      << Describe(systemd.received()) << agent.err();
  EXPECT_NE(agent.err().find("configuration refused"), std::string::npos) << agent.err();
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(seconds(20)), 0) << agent.err();
}

TEST(SystemdNotifyE2eTest, AWatchdogMeantForAnotherProcessIsNotPinged) {
  TempDir dir;
  FakeCollector collector(kKey);
  NotifySocket systemd(dir / "notify");
  ASSERT_TRUE(systemd.bound());
  WriteAgentConfig(dir, collector, dir / "app.log");
  Child agent({TAILTRACK_BINARY, "run", "-c", dir / "tailtrack.yaml"},
              {"NOTIFY_SOCKET=" + (dir / "notify"), "WATCHDOG_USEC=200000", "WATCHDOG_PID=1"});
  ASSERT_TRUE(systemd.ReceiveUntil([](const auto& all) { return Count(all, "READY=1") > 0; }, seconds(20)))
      << agent.err();
  // Ten deadlines' worth of time: a ping for us would have come by now.
  systemd.ReceiveUntil([](const auto&) { return false; }, milliseconds(2'000));
  EXPECT_EQ(Count(systemd.received(), "WATCHDOG=1"), 0u) << Describe(systemd.received());
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(seconds(20)), 0) << agent.err();
}

}  // namespace
}  // namespace tailtrack::testing
