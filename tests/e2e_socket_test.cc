// End to end: the real binary with a `type: unix` source, real sockets, a
// real HTTP collector on loopback.
#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "event/canonical.h"
#include "fake_collector.h"
#include "test_util.h"

namespace tailtrack::testing {
namespace {

constexpr char kKey[] = "e2e-write-key";
const std::string kGolden = std::string(TAILTRACK_SOURCE_DIR) + "/tests/data/spec/golden/";

// Connects to the socket at `path`; -1 when nobody listens (yet).
int Connect(const std::string& path, int type) {
  const int fd = ::socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

class SocketRunTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::string WriteConfig(const std::string& protocol, const std::string& socket_path) {
    const std::string path = dir_ / "tailtrack.yaml";
    WriteFile(path, "collector:\n"
                    "  url: " + collector_.url() + "\n"
                    "  write_key: " + kKey + "\n"
                    "  timeout: 5s\n"
                    "batch:\n"
                    "  flush_interval: 100ms\n"
                    "state_dir: " + (dir_ / "state") + "\n"
                    "sources:\n"
                    "  - name: local\n"
                    "    type: unix\n"
                    "    path: " + socket_path + "\n"
                    "    protocol: " + protocol + "\n"
                    "    mode: \"0600\"\n"
                    "    format: event\n");
    return path;
  }

  std::unique_ptr<Child> Start(const std::string& protocol) {
    return std::make_unique<Child>(std::vector<std::string>{TAILTRACK_BINARY, "run", "-c", WriteConfig(protocol, sock_)});
  }

  TempDir dir_;
  FakeCollector collector_{kKey};
  std::string sock_ = dir_ / "run/events.sock";  // run/ does not exist: the agent makes it
  simdjson::dom::parser parser_;
};

TEST_P(SocketRunTest, ReadyMadeEventsAreSentAndInvalidOnesAreDeadLettered) {
  const std::string protocol = GetParam();
  const int type = protocol == "stream" ? SOCK_STREAM : SOCK_DGRAM;
  auto agent = Start(protocol);
  int fd = -1;
  ASSERT_TRUE(Eventually([&] { return (fd = Connect(sock_, type)) >= 0; })) << agent->err();
  struct stat st;
  ASSERT_EQ(::lstat(sock_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // The events of the spec's golden file: one a line (stream) or a datagram.
  const auto lines = ReadLines(kGolden + "local.events");
  ASSERT_EQ(lines.size(), 4u);
  for (const auto& line : lines) {
    const std::string bytes = line + "\n";
    ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  }
  ::close(fd);

  ASSERT_TRUE(collector_.WaitForEvents(2)) << agent->err();
  const std::string dead = dir_ / "state/dead-letter.jsonl";
  ASSERT_TRUE(Eventually([&] { return ReadLines(dead).size() == 2; })) << agent->err();
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(), 0) << agent->err();
  EXPECT_FALSE(std::filesystem::exists(sock_)) << "the socket file is removed at exit";

  const auto events = collector_.accepted_event_list();
  const auto want = ReadLines(kGolden + "local.events.jsonl");
  ASSERT_EQ(events.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    std::string w, g;
    ASSERT_TRUE(json::CanonicalEvent(want[i], /*keep_timestamp=*/true, &w));
    ASSERT_TRUE(json::CanonicalEvent(events[i], /*keep_timestamp=*/true, &g)) << events[i];
    EXPECT_EQ(g, w);  // the timestamps normalised
    simdjson::dom::element e = parser_.parse(events[i]);
    const std::string_view id = e["messageId"];
    EXPECT_FALSE(id.empty());
    EXPECT_LE(id.size(), 100u);
  }

  for (const auto& line : ReadLines(dead)) {
    simdjson::dom::element e = parser_.parse(line);
    EXPECT_EQ(std::string_view(e["source"]), "local");
    EXPECT_FALSE(std::string_view(e["reason"]).empty());
  }
  EXPECT_EQ(agent->err().find(kKey), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Protocols, SocketRunTest, ::testing::Values("stream", "datagram"));

TEST_F(SocketRunTest, ARegularFileAtTheSocketPathExits78PointingAtPath) {
  WriteFile(dir_ / "events.sock", "not a socket\n");
  const std::string config = WriteConfig("stream", dir_ / "events.sock");
  Child agent({TAILTRACK_BINARY, "run", "-c", config});
  EXPECT_EQ(agent.Wait(), 78);
  const std::string err = agent.err();
  // `path:` is the 11th line; its value starts in column 11.
  EXPECT_EQ(err.rfind(config + ":11:11: ", 0), 0u) << err;
  EXPECT_NE(err.find("is not a socket"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_EQ(ReadFile(dir_ / "events.sock"), "not a socket\n");
}

TEST_F(SocketRunTest, ASocketPathTooLongExits78) {
  const std::string config = WriteConfig("datagram", dir_.path() + "/" + std::string(110, 's'));
  Child agent({TAILTRACK_BINARY, "run", "-c", config});
  EXPECT_EQ(agent.Wait(), 78);
  EXPECT_NE(agent.err().find(":11:11: source local: socket path"), std::string::npos) << agent.err();
}

}  // namespace
}  // namespace tailtrack::testing
