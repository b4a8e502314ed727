#include "core/systemd_notify.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <map>
#include <string>

#include "test_util.h"

namespace tailtrack {
namespace {

using testing::TempDir;

// What systemd does: a datagram socket bound to a path or an abstract name.
class FakeSystemd {
 public:
  // `name`: a path, or "@name" for the abstract namespace.
  explicit FakeSystemd(const std::string& name) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, name.data(), name.size());
    const bool abstract = name[0] == '@';
    if (abstract) address.sun_path[0] = '\0';
    const socklen_t length =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + (abstract ? 0 : 1));
    bound_ = ::bind(fd_, reinterpret_cast<const sockaddr*>(&address), length) == 0;
  }
  ~FakeSystemd() { ::close(fd_); }
  bool bound() const { return bound_; }

  // The next datagram, or "" after 5 s without one.
  std::string Receive() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 5'000) != 1) return "";
    char buffer[4096];
    const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : "";
  }

 private:
  int fd_ = -1;
  bool bound_ = false;
};

SystemdNotifier::Lookup Env(std::map<std::string, std::string> values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    return it == values.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

TEST(SystemdNotifyTest, SendsEachStateAsOneDatagramToAPathSocket) {
  TempDir dir;
  const std::string path = dir / "notify";
  FakeSystemd systemd(path);
  ASSERT_TRUE(systemd.bound());
  SystemdNotifier notifier = SystemdNotifier::FromEnvironment(Env({{"NOTIFY_SOCKET", path}}));
  ASSERT_TRUE(notifier.enabled());

  std::string error;
  ASSERT_TRUE(notifier.Ready(&error)) << error;
  EXPECT_EQ(systemd.Receive(), "READY=1");
  ASSERT_TRUE(notifier.Watchdog(&error)) << error;
  EXPECT_EQ(systemd.Receive(), "WATCHDOG=1");
  ASSERT_TRUE(notifier.Status("12 lines/s\nand more", &error)) << error;
  EXPECT_EQ(systemd.Receive(), "STATUS=12 lines/s and more");
  ASSERT_TRUE(notifier.Reloading(&error)) << error;
  const std::string reloading = systemd.Receive();
  EXPECT_TRUE(reloading.starts_with("RELOADING=1\nMONOTONIC_USEC=")) << reloading;
  EXPECT_GT(reloading.size(), std::strlen("RELOADING=1\nMONOTONIC_USEC="));
  ASSERT_TRUE(notifier.Stopping(&error)) << error;
  EXPECT_EQ(systemd.Receive(), "STOPPING=1");
}

TEST(SystemdNotifyTest, AnAtNameIsInTheAbstractNamespace) {
  const std::string name = "@tailtrack-notify-test-" + std::to_string(::getpid());
  FakeSystemd systemd(name);
  ASSERT_TRUE(systemd.bound());
  SystemdNotifier notifier(name, 0);
  std::string error;
  ASSERT_TRUE(notifier.Ready(&error)) << error;
  EXPECT_EQ(systemd.Receive(), "READY=1");
}

TEST(SystemdNotifyTest, WithoutNotifySocketEveryCallDoesNothingAndSucceeds) {
  SystemdNotifier notifier = SystemdNotifier::FromEnvironment(Env({{"WATCHDOG_USEC", "1000000"}}));
  EXPECT_FALSE(notifier.enabled());
  EXPECT_EQ(notifier.watchdog_usec(), 0u);
  EXPECT_TRUE(notifier.Ready());
  EXPECT_TRUE(notifier.Watchdog());
  EXPECT_TRUE(notifier.Status("x"));
}

TEST(SystemdNotifyTest, WatchdogUsecIsHonouredForThisProcessOnly) {
  auto watchdog = [](std::map<std::string, std::string> env) {
    env["NOTIFY_SOCKET"] = "/run/systemd/notify";
    return SystemdNotifier::FromEnvironment(Env(env), 4242).watchdog_usec();
  };
  EXPECT_EQ(watchdog({}), 0u);
  EXPECT_EQ(watchdog({{"WATCHDOG_USEC", "30000000"}}), 30'000'000u);
  EXPECT_EQ(watchdog({{"WATCHDOG_USEC", "30000000"}, {"WATCHDOG_PID", "4242"}}), 30'000'000u);
  EXPECT_EQ(watchdog({{"WATCHDOG_USEC", "30000000"}, {"WATCHDOG_PID", "4243"}}), 0u);
  EXPECT_EQ(watchdog({{"WATCHDOG_USEC", "soon"}}), 0u);
  EXPECT_EQ(watchdog({{"WATCHDOG_USEC", "-5"}}), 0u);
}

TEST(SystemdNotifyTest, AMissingSocketIsAOneLineError) {
  TempDir dir;
  SystemdNotifier notifier(dir / "nobody-listens", 0);
  std::string error;
  EXPECT_FALSE(notifier.Ready(&error));
  EXPECT_EQ(error, "cannot notify systemd at " + (dir / "nobody-listens") + ": No such file or directory");
}

TEST(SystemdNotifyTest, ARelativeSocketNameIsRefused) {
  SystemdNotifier notifier("run/notify", 0);
  std::string error;
  EXPECT_FALSE(notifier.Ready(&error));
  EXPECT_EQ(error, "NOTIFY_SOCKET \"run/notify\" is not an absolute path or an @abstract name");
}

}  // namespace
}  // namespace tailtrack
