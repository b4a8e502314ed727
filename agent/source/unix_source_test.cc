#include "source/unix_source.h"

#include <gtest/gtest.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "test_util.h"

namespace tailtrack {
namespace {

using testing::RunLoopUntil;
using testing::TempDir;

struct Line {
  std::string text;
  uint64_t offset;
  std::string path;
  uint64_t file_id;
};

class Collect : public LineSink {
 public:
  void OnLine(const LineContext& l) override {
    lines.push_back({std::string(l.line), l.offset, std::string(l.path), l.file_id});
    if (on_line) on_line();
  }
  std::vector<std::string> texts() const {
    std::vector<std::string> out;
    for (const auto& l : lines) out.push_back(l.text);
    return out;
  }
  std::vector<Line> lines;
  std::function<void()> on_line;
};

// A connected client socket, closed at destruction.
class Client {
 public:
  Client(const std::string& path, int type = SOCK_STREAM) {
    fd_ = ::socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~Client() { Close(); }
  bool ok() const { return ok_; }
  int fd() const { return fd_; }
  void Send(const std::string& bytes) {
    ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

class UnixSourceTest : public ::testing::Test {
 protected:
  UnixSourceTest() {
    uv_loop_init(&loop_);
    config_.name = "local";
    config_.type = SourceType::kUnix;
    config_.path = dir_ / "events.sock";
    config_.path_mark = {7, 11};
  }
  ~UnixSourceTest() override {
    if (source_) source_->Close();
    testing::RunLoopToEnd(&loop_);
    source_.reset();
    uv_loop_close(&loop_);
  }

  // Starts the source; fails the test if it cannot.
  void Start() {
    source_ = std::make_unique<UnixSource>(&loop_, config_, 3, sink_);
    SourceError error;
    ASSERT_TRUE(source_->Start(&error)) << error.message;
  }

  // Starts the source, expecting it to fail; returns the error.
  SourceError StartFails() {
    source_ = std::make_unique<UnixSource>(&loop_, config_, 3, sink_);
    SourceError error;
    EXPECT_FALSE(source_->Start(&error));
    return error;
  }

  bool WaitForLines(size_t n) {
    return RunLoopUntil(&loop_, [&] { return sink_.lines.size() >= n; });
  }

  // Runs the loop a little, for things that must not happen.
  void Settle() {
    RunLoopUntil(&loop_, [] { return false; }, std::chrono::milliseconds(100));
  }

  TempDir dir_;
  uv_loop_t loop_;
  SourceConfig config_;
  Collect sink_;
  std::unique_ptr<UnixSource> source_;
};

using Texts = std::vector<std::string>;

TEST_F(UnixSourceTest, EachStreamClientHasItsOwnLines) {
  Start();
  Client a(config_.path), b(config_.path);
  ASSERT_TRUE(a.ok() && b.ok());
  a.Send("a1\na");
  b.Send("b1\n");
  ASSERT_TRUE(WaitForLines(2));
  a.Send("2\n");
  ASSERT_TRUE(WaitForLines(3));
  Texts got = sink_.texts();
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (Texts{"a1", "a2", "b1"}));
  for (const auto& l : sink_.lines) {
    EXPECT_EQ(l.path, config_.path);
    EXPECT_EQ(l.file_id, 0u);
  }
  EXPECT_EQ(source_->stats().clients, 2u);
  EXPECT_EQ(source_->stats().lines, 3u);
}

TEST_F(UnixSourceTest, ALineSplitAcrossWritesIsOneLineWithItsConnectionOffset) {
  Start();
  Client c(config_.path);
  c.Send("first\nsec");
  ASSERT_TRUE(WaitForLines(1));
  c.Send("ond half");
  Settle();
  c.Send("\n");
  ASSERT_TRUE(WaitForLines(2));
  ASSERT_EQ(sink_.texts(), (Texts{"first", "second half"}));
  EXPECT_EQ(sink_.lines[0].offset, 0u);
  EXPECT_EQ(sink_.lines[1].offset, 6u);
}

TEST_F(UnixSourceTest, CrlfIsStrippedAndEmptyLinesAreSkipped) {
  Start();
  Client c(config_.path);
  c.Send("one\r\n\n\r\ntwo\r\n");
  ASSERT_TRUE(WaitForLines(2));
  Settle();
  EXPECT_EQ(sink_.texts(), (Texts{"one", "two"}));
}

TEST_F(UnixSourceTest, AnUnterminatedLastLineIsDeliveredWhenTheClientDisconnects) {
  Start();
  Client c(config_.path);
  c.Send("done\nlast words");
  ASSERT_TRUE(WaitForLines(1));
  c.Close();
  ASSERT_TRUE(WaitForLines(2));
  EXPECT_EQ(sink_.lines[1].text, "last words");
  EXPECT_EQ(sink_.lines[1].offset, 5u);
  ASSERT_TRUE(RunLoopUntil(&loop_, [&] { return source_->stats().clients == 0; }));
}

TEST_F(UnixSourceTest, LongStreamLinesAreTruncatedAndCounted) {
  config_.max_line_bytes = 8;
  Start();
  Client c(config_.path);
  c.Send("0123456789abcdef\nshort\n");
  ASSERT_TRUE(WaitForLines(2));
  EXPECT_EQ(sink_.texts(), (Texts{"01234567", "short"}));
  EXPECT_EQ(source_->stats().truncated_lines, 1u);
}

TEST_F(UnixSourceTest, LongStreamLinesAreSkippedWhenConfigured) {
  config_.max_line_bytes = 8;
  config_.on_long_line = LongLine::kSkip;
  Start();
  Client c(config_.path);
  c.Send("0123456789");  // too long before its newline comes
  Settle();
  c.Send("abcdef\nshort\n");
  ASSERT_TRUE(WaitForLines(1));
  Settle();
  EXPECT_EQ(sink_.texts(), (Texts{"short"}));
  EXPECT_EQ(source_->stats().skipped_lines, 1u);
}

TEST_F(UnixSourceTest, AStaleSocketFileIsReplaced) {
  {
    // A socket bound and abandoned, as a killed agent leaves it.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, config_.path.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ::close(fd);
  }
  Start();
  Client c(config_.path);
  ASSERT_TRUE(c.ok());
  c.Send("hello\n");
  ASSERT_TRUE(WaitForLines(1));
}

TEST_F(UnixSourceTest, ASocketAnotherProcessListensOnIsNotReplaced) {
  UnixSource first(&loop_, config_, 0, sink_);
  SourceError error;
  ASSERT_TRUE(first.Start(&error));
  error = StartFails();
  EXPECT_NE(error.message.find("another process is listening"), std::string::npos) << error.message;
  first.Close();
  testing::RunLoopToEnd(&loop_);
}

TEST_F(UnixSourceTest, ARegularFileAtThePathIsNeverReplaced) {
  testing::WriteFile(config_.path, "precious\n");
  const SourceError error = StartFails();
  EXPECT_EQ(error.mark.line, 7);
  EXPECT_EQ(error.mark.column, 11);
  EXPECT_NE(error.message.find("is not a socket"), std::string::npos) << error.message;
  EXPECT_EQ(testing::ReadFile(config_.path), "precious\n");
}

// A symlink planted at the socket's path (by whoever may write its
// directory) is never followed: its target keeps its content, mode and
// existence, and the link is left for an operator to look at.
TEST_F(UnixSourceTest, ASymlinkAtThePathIsRefusedAndItsTargetIsNeverTouched) {
  const std::string target = dir_ / "elsewhere/precious.txt";
  std::filesystem::create_directories(dir_ / "elsewhere");
  testing::WriteFile(target, "precious\n");
  ASSERT_EQ(::chmod(target.c_str(), 0640), 0);
  ASSERT_EQ(::symlink(target.c_str(), config_.path.c_str()), 0);
  const SourceError error = StartFails();
  EXPECT_NE(error.message.find("is not a socket"), std::string::npos) << error.message;
  struct stat st;
  ASSERT_EQ(::lstat(config_.path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode)) << "the link itself was replaced or removed";
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(testing::ReadFile(target), "precious\n");
}

TEST_F(UnixSourceTest, ASymlinkToAStaleSocketIsRefusedAndThatSocketIsNotRemoved) {
  const std::string target = dir_ / "other.sock";
  {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, target.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ::close(fd);  // stale: nobody listens
  }
  ASSERT_EQ(::symlink(target.c_str(), config_.path.c_str()), 0);
  const SourceError error = StartFails();
  EXPECT_NE(error.message.find("is not a socket"), std::string::npos) << error.message;
  struct stat st;
  ASSERT_EQ(::lstat(target.c_str(), &st), 0) << "the link's target was unlinked";
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  ASSERT_EQ(::lstat(config_.path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
}

TEST_F(UnixSourceTest, ADanglingSymlinkAtThePathIsRefusedNotBoundThrough) {
  const std::string target = dir_ / "would-be-created.sock";
  ASSERT_EQ(::symlink(target.c_str(), config_.path.c_str()), 0);
  const SourceError error = StartFails();
  EXPECT_NE(error.message.find("is not a socket"), std::string::npos) << error.message;
  struct stat st;
  EXPECT_NE(::lstat(target.c_str(), &st), 0) << "a socket was made at the link's target";
}

TEST_F(UnixSourceTest, APathTooLongForSunPathIsAnError) {
  config_.path = dir_.path() + "/" + std::string(120, 'x') + ".sock";
  const SourceError error = StartFails();
  EXPECT_NE(error.message.find("at most 107"), std::string::npos) << error.message;
}

TEST_F(UnixSourceTest, APathWhoseParentIsAFileIsAnError) {
  // Permission errors cannot be provoked here (the suite runs as root in CI);
  // a parent that is a regular file fails for every user.
  testing::WriteFile(dir_ / "not-a-dir", "x");
  config_.path = dir_ / "not-a-dir/events.sock";
  const SourceError error = StartFails();
  EXPECT_NE(error.message.find("Not a directory"), std::string::npos) << error.message;
  EXPECT_EQ(testing::ReadFile(dir_ / "not-a-dir"), "x");
}

TEST_F(UnixSourceTest, AnUnknownGroupIsAnErrorAtItsKey) {
  config_.group = "no-such-group-tailtrack";
  config_.group_mark = {9, 12};
  const SourceError error = StartFails();
  EXPECT_EQ(error.mark.line, 9);
  EXPECT_NE(error.message.find("group no-such-group-tailtrack does not exist"), std::string::npos) << error.message;
  EXPECT_FALSE(std::filesystem::exists(config_.path));
}

TEST_F(UnixSourceTest, ModeAndGroupAreAppliedAndAMissingDirectoryIsCreated) {
  config_.path = dir_ / "run/tailtrack/events.sock";
  config_.mode = 0620;
  const group* own = ::getgrgid(::getegid());
  ASSERT_NE(own, nullptr);
  config_.group = own->gr_name;
  Start();
  struct stat st;
  ASSERT_EQ(::lstat(config_.path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0620u);
  EXPECT_EQ(st.st_gid, ::getegid());
  ASSERT_EQ(::stat((dir_ / "run/tailtrack").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
}

TEST_F(UnixSourceTest, ClientsBeyondTheCapAreClosedAndCountedWhenNoneMayBeClosedForThem) {
  config_.max_clients = 2;
  Start();
  Client a(config_.path), b(config_.path);
  a.Send("a\n");
  b.Send("b\n");
  ASSERT_TRUE(WaitForLines(2));
  // While paused no client is taken for idle (it may have written what is
  // not read yet), however long it has been silent.
  source_->Pause();
  Client c(config_.path);  // connect() succeeds (the backlog); the agent closes it
  ASSERT_TRUE(RunLoopUntil(&loop_, [&] { return source_->stats().clients_rejected == 1; }));
  EXPECT_EQ(source_->stats().clients, 2u);
  EXPECT_EQ(source_->stats().clients_evicted, 0u);
  source_->Resume();
  // Once one leaves, a new client is taken.
  a.Close();
  ASSERT_TRUE(RunLoopUntil(&loop_, [&] { return source_->stats().clients == 1; }));
  Client d(config_.path);
  d.Send("d\n");
  ASSERT_TRUE(WaitForLines(3));
  EXPECT_EQ(sink_.lines[2].text, "d");
}

TEST_F(UnixSourceTest, AtTheCapTheClientSilentLongestIsClosedToAdmitANewOne) {
  config_.max_clients = 2;
  Start();
  Client quiet(config_.path), busy(config_.path);
  quiet.Send("quiet says one thing\npartial");
  ASSERT_TRUE(WaitForLines(1));
  // `busy` keeps talking while `quiet` stays silent past kEvictAfterMs.
  const int64_t silent_since = MonotonicMillis();
  int n = 0;
  ASSERT_TRUE(RunLoopUntil(&loop_, [&] {
    busy.Send("busy " + std::to_string(n++) + "\n");
    return MonotonicMillis() - silent_since > UnixSource::kEvictAfterMs + 200;
  }, std::chrono::seconds(30)));
  ASSERT_TRUE(WaitForLines(1 + static_cast<size_t>(n)));
  Client late(config_.path);
  late.Send("late\n");
  ASSERT_TRUE(RunLoopUntil(&loop_, [&] { return sink_.texts().back() == "late"; }));
  const UnixSourceStats st = source_->stats();
  EXPECT_EQ(st.clients_evicted, 1u);
  EXPECT_EQ(st.clients_rejected, 0u);
  EXPECT_EQ(st.clients, 2u);
  // The closed client's incomplete line was delivered, as at any disconnect.
  const Texts got = sink_.texts();
  EXPECT_NE(std::find(got.begin(), got.end(), "partial"), got.end());
  // And it was `quiet` that went: `busy` is still read.
  busy.Send("still here\n");
  ASSERT_TRUE(RunLoopUntil(&loop_, [&] { return sink_.texts().back() == "still here"; }));
}

TEST_F(UnixSourceTest, AClientSilentPastTheIdleTimeoutIsClosed) {
  config_.client_idle_timeout = std::chrono::milliseconds(300);
  Start();
  Client silent(config_.path);
  silent.Send("hello\nunfinished");
  ASSERT_TRUE(WaitForLines(1));
  ASSERT_TRUE(RunLoopUntil(&loop_, [&] { return source_->stats().clients_timed_out == 1; }));
  EXPECT_EQ(source_->stats().clients, 0u);
  EXPECT_EQ(sink_.texts(), (Texts{"hello", "unfinished"}));
  // The agent closed its end: the client sees EOF.
  char byte;
  EXPECT_EQ(::recv(silent.fd(), &byte, 1, 0), 0);
}

TEST_F(UnixSourceTest, IncompleteLinesOverTheClientsBufferAreCutAndTheOthersGoOn) {
  config_.clients_buffer = 256 * 1024;  // 64 KiB a client with 4 of them
  Start();
  std::vector<std::unique_ptr<Client>> hogs;
  for (int i = 0; i < 3; ++i) hogs.push_back(std::make_unique<Client>(config_.path));
  Client good(config_.path);
  // No newline, and more than the whole budget: each hog is cut, whatever
  // order the reads come in.
  const std::string big(300 * 1024, 'x');
  std::vector<std::thread> writers;  // the kernel's buffer is smaller: the sends wait for the loop
  for (auto& h : hogs) writers.emplace_back([&h, &big] { h->Send(big); });
  good.Send("a good line\n");
  const bool cut = RunLoopUntil(&loop_, [&] { return source_->stats().cut_lines == 3; });
  for (auto& w : writers) w.join();
  ASSERT_TRUE(cut) << source_->stats().cut_lines;
  ASSERT_TRUE(RunLoopUntil(&loop_, [&] {
    const Texts t = sink_.texts();
    return std::find(t.begin(), t.end(), "a good line") != t.end();
  }));
  EXPECT_LE(source_->stats().held_bytes, config_.clients_buffer);
  EXPECT_EQ(source_->stats().truncated_lines, 3u);  // on_long_line: truncate, as a long line
  // The rest of a cut line is discarded up to its newline; the next line is whole.
  hogs[0]->Send(std::string(1000, 'y') + "\nafter the cut\n");
  ASSERT_TRUE(RunLoopUntil(&loop_, [&] { return sink_.texts().back() == "after the cut"; }));
  for (const Line& l : sink_.lines) EXPECT_EQ(l.text.find('y'), std::string::npos) << l.text.size();
}

TEST_F(UnixSourceTest, APausedStreamIsNotReadUntilResumed) {
  Start();
  Client c(config_.path);
  c.Send("before\n");
  ASSERT_TRUE(WaitForLines(1));
  source_->Pause();
  c.Send("during\n");
  Client late(config_.path);  // accepted while paused, not read either
  late.Send("late\n");
  Settle();
  EXPECT_EQ(sink_.lines.size(), 1u);
  source_->Resume();
  ASSERT_TRUE(WaitForLines(3));
  Texts got = sink_.texts();
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (Texts{"before", "during", "late"}));
}

TEST_F(UnixSourceTest, AFloodIsReadWholeAndInOrderThroughPausesAndResumes) {
  Start();
  constexpr int kLines = 100'000;
  // The pipeline fills every 10000 lines, as the agent's backpressure does.
  sink_.on_line = [&] {
    if (sink_.lines.size() % 10'000 == 0) source_->Pause();
  };
  std::thread writer([&] {
    Client c(config_.path);
    std::string chunk;
    for (int i = 0; i < kLines; ++i) {
      chunk += "flood line " + std::to_string(i) + "\n";
      if (chunk.size() > 3000 || i == kLines - 1) {
        c.Send(chunk);  // blocks while the agent is paused: the kernel's buffer is the buffer
        chunk.clear();
      }
    }
  });
  const bool all = RunLoopUntil(&loop_, [&] {
    if (source_->paused()) source_->Resume();
    return sink_.lines.size() >= static_cast<size_t>(kLines);
  }, std::chrono::seconds(60));
  writer.join();
  ASSERT_TRUE(all) << sink_.lines.size();
  for (int i = 0; i < kLines; ++i) ASSERT_EQ(sink_.lines[i].text, "flood line " + std::to_string(i));
}

TEST_F(UnixSourceTest, CloseDeliversCompleteLinesAlreadyWrittenAndRemovesTheSocketFile) {
  Start();
  Client c(config_.path);
  c.Send("one\n");
  ASSERT_TRUE(WaitForLines(1));
  c.Send("two\nthree\npartial");  // in the kernel's buffer, not yet read
  source_->Close();
  EXPECT_EQ(sink_.texts(), (Texts{"one", "two", "three"}));
  EXPECT_FALSE(std::filesystem::exists(config_.path));
  testing::RunLoopToEnd(&loop_);
  EXPECT_TRUE(source_->closed());
}

// Datagrams.

class UnixDatagramTest : public UnixSourceTest {
 protected:
  UnixDatagramTest() { config_.protocol = SocketProtocol::kDatagram; }
};

TEST_F(UnixDatagramTest, EachDatagramIsOneRecord) {
  Start();
  Client c(config_.path, SOCK_DGRAM);
  ASSERT_TRUE(c.ok());
  c.Send("{\"a\":1}\n");
  c.Send("two\nlines stay one record");
  c.Send("crlf\r\n");
  c.Send("\n");  // empty: dropped
  c.Send("last");
  ASSERT_TRUE(WaitForLines(4));
  Settle();
  EXPECT_EQ(sink_.texts(), (Texts{"{\"a\":1}", "two\nlines stay one record", "crlf", "last"}));
  EXPECT_EQ(sink_.lines[0].offset, 0u);
  EXPECT_EQ(sink_.lines[1].offset, 8u);
  EXPECT_EQ(sink_.lines[0].path, config_.path);
}

TEST_F(UnixDatagramTest, LongDatagramsAreTruncatedAtMaxLineBytes) {
  config_.max_line_bytes = 8;
  Start();
  Client c(config_.path, SOCK_DGRAM);
  c.Send("0123456789abcdef");
  c.Send("01234567\n");  // exactly the limit once its newline is removed
  ASSERT_TRUE(WaitForLines(2));
  EXPECT_EQ(sink_.texts(), (Texts{"01234567", "01234567"}));
  EXPECT_EQ(source_->stats().truncated_lines, 1u);
}

TEST_F(UnixDatagramTest, LongDatagramsAreSkippedWhenConfigured) {
  config_.max_line_bytes = 8;
  config_.on_long_line = LongLine::kSkip;
  Start();
  Client c(config_.path, SOCK_DGRAM);
  c.Send("0123456789abcdef");
  c.Send("ok");
  ASSERT_TRUE(WaitForLines(1));
  Settle();
  EXPECT_EQ(sink_.texts(), (Texts{"ok"}));
  EXPECT_EQ(source_->stats().skipped_lines, 1u);
}

TEST_F(UnixDatagramTest, DatagramsWaitInTheKernelWhilePausedAndAreReadOnResume) {
  Start();
  source_->Pause();
  Client c(config_.path, SOCK_DGRAM);
  c.Send("waits 1");
  c.Send("waits 2");
  Settle();
  EXPECT_TRUE(sink_.lines.empty());
  source_->Resume();
  c.Send("after");
  ASSERT_TRUE(WaitForLines(3));
  EXPECT_EQ(sink_.texts(), (Texts{"waits 1", "waits 2", "after"}));
  EXPECT_EQ(source_->stats().dropped_lines, 0u);
}

TEST_F(UnixDatagramTest, ShedReadsOnAndCountsWhatItDropsUntilResume) {
  Start();
  source_->Pause();
  Client c(config_.path, SOCK_DGRAM);
  c.Send("lost 1");
  c.Send("lost 2");
  source_->Shed();
  ASSERT_TRUE(RunLoopUntil(&loop_, [&] { return source_->stats().dropped_lines == 2; }));
  source_->Resume();
  c.Send("kept");
  ASSERT_TRUE(WaitForLines(1));
  EXPECT_EQ(sink_.texts(), (Texts{"kept"}));
}

TEST_F(UnixDatagramTest, AFloodFromABlockingWriterIsReadWhole) {
  Start();
  constexpr int kDatagrams = 100'000;
  std::thread writer([&] {
    Client c(config_.path, SOCK_DGRAM);
    for (int i = 0; i < kDatagrams; ++i) c.Send("datagram " + std::to_string(i));
  });
  const bool all = RunLoopUntil(&loop_, [&] { return sink_.lines.size() >= static_cast<size_t>(kDatagrams); },
                                std::chrono::seconds(60));
  writer.join();
  ASSERT_TRUE(all) << sink_.lines.size();
  for (int i = 0; i < kDatagrams; ++i) ASSERT_EQ(sink_.lines[i].text, "datagram " + std::to_string(i));
  EXPECT_EQ(source_->stats().dropped_lines, 0u);
}

TEST_F(UnixDatagramTest, CloseReadsWhatIsQueuedAndRemovesTheSocketFile) {
  Start();
  Client c(config_.path, SOCK_DGRAM);
  c.Send("queued");
  source_->Close();
  EXPECT_EQ(sink_.texts(), (Texts{"queued"}));
  EXPECT_FALSE(std::filesystem::exists(config_.path));
}

}  // namespace
}  // namespace tailtrack
