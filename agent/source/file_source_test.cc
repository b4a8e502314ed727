#include "source/file_source.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "test_util.h"

namespace tailtrack {
namespace {

using testing::AppendFile;
using testing::RunLoopUntil;
using testing::TempDir;
using testing::WriteFile;

struct Seen {
  std::string line;
  std::string path;
  uint64_t offset;
  uint64_t file_id;
};

class Lines : public LineSink {
 public:
  void OnLine(const LineContext& c) override {
    seen.push_back({std::string(c.line), std::string(c.path), c.offset, c.file_id});
  }
  std::vector<std::string> texts() const {
    std::vector<std::string> out;
    for (const auto& s : seen) out.push_back(s.line);
    return out;
  }
  std::vector<Seen> seen;
};

class FileSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uv_loop_init(&loop_);
    config_.name = "test";
    config_.poll_interval = std::chrono::milliseconds(50);
    config_.idle_flush = std::chrono::milliseconds(200);
  }
  void TearDown() override {
    if (source_) {
      source_->Close();
      testing::RunLoopToEnd(&loop_);
      EXPECT_TRUE(source_->closed());
      source_.reset();
    }
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }
  FileSource& Start() {
    source_ = std::make_unique<FileSource>(&loop_, config_, 3, lines_);
    source_->Start();
    return *source_;
  }
  bool WaitLines(size_t n) {
    return RunLoopUntil(&loop_, [&] { return lines_.seen.size() >= n; });
  }

  uv_loop_t loop_;
  SourceConfig config_;
  Lines lines_;
  TempDir dir_;
  std::unique_ptr<FileSource> source_;
};

TEST_F(FileSourceTest, ReadsAFileFromTheBeginningThenWhatIsAppended) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, "one\ntwo\n");
  config_.paths = {dir_ / "*.log"};
  Start();
  ASSERT_TRUE(WaitLines(2));
  AppendFile(path, "three\r\n");
  ASSERT_TRUE(WaitLines(3));
  EXPECT_EQ(lines_.texts(), (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_EQ(lines_.seen[2].offset, 8u);
  EXPECT_EQ(lines_.seen[2].path, path);
  EXPECT_NE(lines_.seen[0].file_id, 0u);
}

TEST_F(FileSourceTest, StartAtEndSkipsWhatIsThereButKeepsOffsetsAbsolute) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, std::string(40, 'a') + "\n");
  config_.paths = {path};
  config_.start_at = StartAt::kEnd;
  Start();
  AppendFile(path, "test test\n");
  ASSERT_TRUE(WaitLines(1));
  EXPECT_EQ(lines_.seen[0].line, "test test");
  EXPECT_EQ(lines_.seen[0].offset, 41u);
}

TEST_F(FileSourceTest, FindsFilesCreatedLaterAndReadsThemWhole) {
  config_.paths = {dir_ / "*.log"};
  config_.start_at = StartAt::kEnd;
  Start();
  WriteFile(dir_ / "new.log", "hello\n");
  ASSERT_TRUE(WaitLines(1));
  EXPECT_EQ(lines_.seen[0].line, "hello");
}

TEST_F(FileSourceTest, ExcludeMatchesTheFullPathOrTheFileName) {
  WriteFile(dir_ / "a.log", "a\n");
  WriteFile(dir_ / "b.log.gz", "b\n");
  WriteFile(dir_ / "skip.log", "c\n");
  config_.paths = {dir_ / "*.log*"};
  config_.exclude = {"*.gz", dir_ / "skip.*"};
  FileSource& s = Start();
  EXPECT_EQ(s.file_count(), 1u);
  ASSERT_TRUE(WaitLines(1));
  EXPECT_FALSE(RunLoopUntil(&loop_, [&] { return lines_.seen.size() > 1; }, std::chrono::milliseconds(200)));
}

TEST_F(FileSourceTest, AFileMatchedByTwoGlobsIsReadOnce) {
  WriteFile(dir_ / "a.log", "a\n");
  config_.paths = {dir_ / "*.log", dir_ / "a.*"};
  EXPECT_EQ(Start().file_count(), 1u);
}

TEST_F(FileSourceTest, AnIncompleteLastLineIsHeldThenSentWhenIdle) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, "whole\npart");
  config_.paths = {path};
  Start();
  ASSERT_TRUE(WaitLines(1));
  AppendFile(path, "ial");
  ASSERT_TRUE(WaitLines(2));  // after idle_flush without growth
  EXPECT_EQ(lines_.seen[1].line, "partial");
  EXPECT_EQ(lines_.seen[1].offset, 6u);
}

TEST_F(FileSourceTest, ATruncatedFileIsReadAgainFromTheStart) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, "first line\nsecond line\n");
  config_.paths = {path};
  Start();
  ASSERT_TRUE(WaitLines(2));
  WriteFile(path, "new\n");
  ASSERT_TRUE(WaitLines(3));
  EXPECT_EQ(lines_.seen[2].line, "new");
  EXPECT_EQ(lines_.seen[2].offset, 0u);
  EXPECT_EQ(source_->stats().truncations, 1u);
}

TEST_F(FileSourceTest, AReplacedFileIsReadToItsEndThenTheNewOneFromItsStart) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, "old 1\n");
  config_.paths = {path};
  Start();
  ASSERT_TRUE(WaitLines(1));
  ASSERT_EQ(std::rename(path.c_str(), (dir_ / "app.log.1").c_str()), 0);
  WriteFile(path, "new 1\n");
  ASSERT_TRUE(WaitLines(2));
  EXPECT_EQ(lines_.seen[1].line, "new 1");
  EXPECT_NE(lines_.seen[1].file_id, lines_.seen[0].file_id);
}

TEST_F(FileSourceTest, PausedSourcesReadNothingUntilResumed) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, "");
  config_.paths = {path};
  FileSource& s = Start();
  s.Pause();
  AppendFile(path, "x\n");
  EXPECT_FALSE(RunLoopUntil(&loop_, [&] { return !lines_.seen.empty(); }, std::chrono::milliseconds(200)));
  s.Resume();
  ASSERT_TRUE(WaitLines(1));
}

TEST_F(FileSourceTest, ABigFileIsReadWholeInChunks) {
  const std::string path = dir_ / "big.log";
  std::string content;
  for (int i = 0; i < 100000; ++i) content += "line number " + std::to_string(i) + "\n";
  ASSERT_GT(content.size(), 3 * FileSource::kReadChunk);
  WriteFile(path, content);
  config_.paths = {path};
  Start();
  ASSERT_TRUE(WaitLines(100000));
  EXPECT_EQ(lines_.seen.back().line, "line number 99999");
  EXPECT_EQ(lines_.seen[50000].line, "line number 50000");
}

}  // namespace
}  // namespace tailtrack
