#include "source/file_source.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
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

TEST_F(FileSourceTest, AUtf8ByteOrderMarkAtTheStartOfAFileIsNotPartOfTheFirstLine) {
  const std::string path = dir_ / "app.log";
  // Only at offset 0: the same bytes later in the file are the line's own.
  WriteFile(path, "\xEF\xBB\xBF" "first\n\xEF\xBB\xBFsecond\n");
  WriteFile(dir_ / "only-bom.log", "\xEF\xBB\xBF\nafter\n");
  config_.paths = {dir_ / "*.log"};
  Start();
  ASSERT_TRUE(WaitLines(3));
  std::vector<std::string> got = lines_.texts();
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"after", "first", "\xEF\xBB\xBFsecond"}));
  for (const Seen& s : lines_.seen) {
    if (s.line == "first") {
      EXPECT_EQ(s.offset, 0u);
    }
    if (s.line == "after") {
      EXPECT_EQ(s.offset, 4u);
    }
  }
}

// UTF-16 bytes of `text`, with a byte order mark when asked.
std::string Utf16(std::u16string_view text, bool big_endian, bool bom) {
  std::string out;
  auto put = [&](char16_t u) {
    const char hi = static_cast<char>(u >> 8), lo = static_cast<char>(u & 0xFF);
    out += big_endian ? std::string{hi, lo} : std::string{lo, hi};
  };
  if (bom) put(0xFEFF);
  for (char16_t u : text) put(u);
  return out;
}

TEST_F(FileSourceTest, AUtf16FileIsFramedInCodeUnitsAndDeliveredAsUtf8WithByteOffsets) {
  // A real sample: little-endian with a byte order mark.
  const std::string sample = std::string(TAILTRACK_SOURCE_DIR) + "/tests/data/logs/edge-cases/vector_utf-16le.log";
  const std::string path = dir_ / "app.log";
  std::filesystem::copy_file(sample, path);
  config_.paths = {path};
  config_.encoding = Encoding::kUtf16;
  Start();
  ASSERT_TRUE(WaitLines(5));
  EXPECT_EQ(lines_.texts(), (std::vector<std::string>{"hello i am a file", "i can unicode", "but i do so in 16 bits",
                                                      "and when i byte", "i become little-endian"}));
  EXPECT_EQ(lines_.seen[0].offset, 0u);
  EXPECT_EQ(lines_.seen[1].offset, 2u + 2 * 18);  // the mark, then "hello i am a file\n"
  // Appended in pieces that split a code unit: still whole characters.
  const std::string more = Utf16(u"Jos\u00e9 \U0001F600 \u20ac\r\n", false, false);
  AppendFile(path, more.substr(0, 5));
  AppendFile(path, more.substr(5));
  ASSERT_TRUE(WaitLines(6));
  EXPECT_EQ(lines_.seen[5].line, "Jos\u00e9 \U0001F600 \u20ac");
  EXPECT_EQ(lines_.seen[5].offset, std::filesystem::file_size(sample));
}

TEST_F(FileSourceTest, Utf16ByteOrderComesFromTheSettingOrTheMarkEvenWhenReadingStartsPastIt) {
  const std::string be = dir_ / "be.log", marked = dir_ / "marked.log";
  WriteFile(be, Utf16(u"big endian\n\n\u00fc\n", true, false));
  // A big-endian mark, read from the end: the mark is behind the first line read.
  WriteFile(marked, Utf16(u"old line\n", true, true));
  config_.paths = {be};
  config_.encoding = Encoding::kUtf16Be;
  Start();
  ASSERT_TRUE(WaitLines(2));
  EXPECT_EQ(lines_.texts(), (std::vector<std::string>{"big endian", "\u00fc"}));  // the empty line dropped
  source_->Close();
  testing::RunLoopToEnd(&loop_);
  source_.reset();
  lines_.seen.clear();

  config_.paths = {marked};
  config_.encoding = Encoding::kUtf16;
  config_.start_at = StartAt::kEnd;
  Start();
  AppendFile(marked, Utf16(u"new line\n", true, false));
  ASSERT_TRUE(WaitLines(1));
  EXPECT_EQ(lines_.texts(), (std::vector<std::string>{"new line"}));
  EXPECT_EQ(lines_.seen[0].offset, 2u + 2 * 9);
}

TEST_F(FileSourceTest, LongUtf16LinesAreTruncatedBetweenCharacters) {
  const std::string path = dir_ / "app.log";
  // 5 code units (10 bytes), the last two a surrogate pair: the limit, 8, falls inside the pair.
  WriteFile(path, Utf16(u"abc\U0001F600\nok\n", false, false));
  config_.paths = {path};
  config_.encoding = Encoding::kUtf16Le;
  config_.max_line_bytes = 8;
  Start();
  ASSERT_TRUE(WaitLines(2));
  EXPECT_EQ(lines_.texts(), (std::vector<std::string>{"abc", "ok"}));
  EXPECT_EQ(source_->stats().truncated_lines, 1u);
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

TEST_F(FileSourceTest, AnIncompleteLineIsNotFlushedWhileTheFileHasUnreadBytes) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, "whole\npart");
  config_.paths = {path};
  Start();
  ASSERT_TRUE(WaitLines(1));
  // The loop does not run: when it does, the stat pass is due, the partial
  // line is older than idle_flush, and the rest of the line is already there.
  usleep(400'000);
  AppendFile(path, "ial\n");
  ASSERT_TRUE(WaitLines(2));
  EXPECT_FALSE(RunLoopUntil(&loop_, [&] { return lines_.seen.size() > 2; }, std::chrono::milliseconds(300)));
  EXPECT_EQ(lines_.texts(), (std::vector<std::string>{"whole", "partial"}));
}

TEST_F(FileSourceTest, AReplacedFilesIncompleteLastLineIsNotLost) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, "old 1\nold tail");
  config_.paths = {path};
  Start();
  ASSERT_TRUE(WaitLines(1));
  ASSERT_EQ(std::rename(path.c_str(), (dir_ / "app.log.1").c_str()), 0);
  WriteFile(path, "new 1\n");
  ASSERT_TRUE(WaitLines(3));
  std::vector<std::string> texts = lines_.texts();
  std::sort(texts.begin(), texts.end());
  EXPECT_EQ(texts, (std::vector<std::string>{"new 1", "old 1", "old tail"}));
}

TEST_F(FileSourceTest, ADeletedFilesIncompleteLastLineIsNotLost) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, "one\ntwo");
  config_.paths = {path};
  Start();
  ASSERT_TRUE(WaitLines(1));
  ASSERT_EQ(::unlink(path.c_str()), 0);
  ASSERT_TRUE(WaitLines(2));
  EXPECT_EQ(lines_.seen[1].line, "two");
  EXPECT_EQ(lines_.seen[1].offset, 4u);
  EXPECT_TRUE(RunLoopUntil(&loop_, [&] { return source_->file_count() == 0; }));
}

TEST_F(FileSourceTest, APathReplacedByAFifoDoesNotBlockTheLoop) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, "a\n");
  config_.paths = {path};
  Start();
  ASSERT_TRUE(WaitLines(1));
  // Not run between the two: the next stat pass sees a new inode at the path.
  ASSERT_EQ(std::rename(path.c_str(), (dir_ / "app.log.1").c_str()), 0);
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  // Should the loop block in open(2), a writer unblocks it after a while.
  std::atomic<bool> done{false}, blocked{false};
  std::thread guard([&] {
    for (int i = 0; i < 500 && !done; ++i) usleep(10'000);
    if (done) return;
    blocked = true;
    const int fd = ::open(path.c_str(), O_WRONLY);
    if (fd >= 0) ::close(fd);
  });
  RunLoopUntil(&loop_, [] { return false; }, std::chrono::milliseconds(300));
  done = true;
  guard.join();
  EXPECT_FALSE(blocked);
  // The old file is still read (rotate_wait): the app may write into it until it reopens its log.
  AppendFile(dir_ / "app.log.1", "b\n");
  ASSERT_TRUE(WaitLines(2));
  EXPECT_EQ(lines_.seen[1].line, "b");
}

TEST_F(FileSourceTest, LinesAcrossReadChunkBoundariesArriveWholeAndOnce) {
  // A "\r\n" split across the first boundary, a line ending exactly at the
  // second, a line longer than a chunk across the third.
  const size_t k = FileSource::kReadChunk;
  std::string content;
  std::vector<std::string> want;
  auto add = [&](std::string line, const std::string& end) {
    want.push_back(line);
    content += line + end;
  };
  add(std::string(k - 1, 'a'), "\r\n");  // '\r' is byte k-1, '\n' byte k
  add(std::string(k - 2, 'b'), "\n");    // '\n' is byte 2k-1: the chunk ends with it
  add("c", "\n");
  add(std::string(k + 100, 'd'), "\r\n");
  add("e", "\n");
  ASSERT_EQ(content[k - 1], '\r');
  ASSERT_EQ(content[2 * k - 1], '\n');
  const std::string path = dir_ / "big.log";
  WriteFile(path, content);
  config_.paths = {path};
  Start();
  ASSERT_TRUE(WaitLines(want.size()));
  EXPECT_FALSE(RunLoopUntil(&loop_, [&] { return lines_.seen.size() > want.size(); }, std::chrono::milliseconds(100)));
  ASSERT_EQ(lines_.texts(), want);
  EXPECT_EQ(lines_.seen[1].offset, k + 1);
  EXPECT_EQ(lines_.seen[2].offset, 2 * k);
}

TEST_F(FileSourceTest, AFileRenamedWithinTheGlobIsNotReadAgain) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, "one\ntwo\n");
  config_.paths = {dir_ / "app.log*"};
  Start();
  ASSERT_TRUE(WaitLines(2));
  ASSERT_EQ(std::rename(path.c_str(), (dir_ / "app.log.1").c_str()), 0);
  WriteFile(path, "new\n");
  AppendFile(dir_ / "app.log.1", "three\n");  // a late write to the renamed file
  ASSERT_TRUE(WaitLines(4));
  EXPECT_FALSE(RunLoopUntil(&loop_, [&] { return lines_.seen.size() > 4; }, std::chrono::milliseconds(300)));
  std::vector<std::string> texts = lines_.texts();
  std::sort(texts.begin(), texts.end());
  EXPECT_EQ(texts, (std::vector<std::string>{"new", "one", "three", "two"}));
  for (const auto& l : lines_.seen) {
    if (l.line == "three") {
      EXPECT_EQ(l.path, dir_ / "app.log.1");
    }
  }
}

TEST_F(FileSourceTest, APathReplacedByAnotherWatchedFileIsNotReadTwice) {
  WriteFile(dir_ / "a.log", "a1\n");
  WriteFile(dir_ / "b.log", "b1\nb2\n");
  config_.paths = {dir_ / "*.log"};
  Start();
  ASSERT_TRUE(WaitLines(3));
  ASSERT_EQ(std::rename((dir_ / "b.log").c_str(), (dir_ / "a.log").c_str()), 0);
  AppendFile(dir_ / "a.log", "b3\n");  // to the file that was b.log
  ASSERT_TRUE(WaitLines(4));
  EXPECT_FALSE(RunLoopUntil(&loop_, [&] { return lines_.seen.size() > 4; }, std::chrono::milliseconds(300)));
  std::vector<std::string> texts = lines_.texts();
  std::sort(texts.begin(), texts.end());
  EXPECT_EQ(texts, (std::vector<std::string>{"a1", "b1", "b2", "b3"}));
  EXPECT_EQ(lines_.seen.back().path, dir_ / "a.log");
  EXPECT_EQ(lines_.seen.back().offset, 6u);
}

// Numbered lines of about 60 bytes each, so that a few of them pass fingerprint_bytes (1 KiB).
std::string Numbered(int from, int to) {
  std::string out;
  for (int i = from; i < to; ++i) out += "line " + std::to_string(i) + " " + std::string(50, 'x') + "\n";
  return out;
}

TEST_F(FileSourceTest, ATruncatedFileIsANewGenerationWhoseLinesNeverReuseAnId) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, "one\ntwo\n");
  config_.paths = {path};
  Start();
  ASSERT_TRUE(WaitLines(2));
  WriteFile(path, "uno\n");  // truncated and written again: "uno" sits at offset 0 like "one"
  ASSERT_TRUE(WaitLines(3));
  EXPECT_EQ(lines_.seen[2].line, "uno");
  EXPECT_EQ(lines_.seen[2].offset, 0u);
  EXPECT_NE(lines_.seen[2].file_id, lines_.seen[0].file_id);
}

TEST_F(FileSourceTest, ARewriteThatGrewPastTheOldOffsetIsSeenByTheFingerprint) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, Numbered(0, 20));
  config_.paths = {path};
  Start();
  ASSERT_TRUE(WaitLines(20));
  source_->Pause();
  // Truncated and regrown past the old offset before the agent looks.
  WriteFile(path, Numbered(100, 140));
  source_->Resume();
  ASSERT_TRUE(WaitLines(60));
  EXPECT_EQ(lines_.seen[20].line.substr(0, 9), "line 100 ");
  EXPECT_EQ(lines_.seen[20].offset, 0u);
  EXPECT_NE(lines_.seen[20].file_id, lines_.seen[0].file_id);
}

TEST_F(FileSourceTest, CopytruncateWhileBehindReadsTheRestFromTheCopyUnderTheOriginalIds) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, Numbered(0, 20));
  config_.paths = {path};  // the copy (app.log.1) is not in the glob
  Start();
  ASSERT_TRUE(WaitLines(20));
  source_->Pause();
  AppendFile(path, Numbered(20, 30));  // not read yet
  std::filesystem::copy_file(path, dir_ / "app.log.1");
  ASSERT_EQ(::truncate(path.c_str(), 0), 0);
  AppendFile(path, "after\n");
  source_->Resume();
  ASSERT_TRUE(WaitLines(31));
  EXPECT_FALSE(RunLoopUntil(&loop_, [&] { return lines_.seen.size() > 31; }, std::chrono::milliseconds(300)));
  std::vector<std::string> from_copy;
  for (const auto& l : lines_.seen) {
    if (l.path == dir_ / "app.log.1") {
      from_copy.push_back(l.line.substr(0, 7));
      EXPECT_EQ(l.file_id, lines_.seen[0].file_id);  // the original's generation goes on
    }
  }
  EXPECT_EQ(from_copy.size(), 10u);
  EXPECT_EQ(from_copy.front(), "line 20");
  const auto texts = lines_.texts();
  EXPECT_EQ(std::count(texts.begin(), texts.end(), "after"), 1);
}

TEST_F(FileSourceTest, ACopyMatchedByTheGlobIsNotReadAgain) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, Numbered(0, 20));
  config_.paths = {dir_ / "app.log*"};
  Start();
  ASSERT_TRUE(WaitLines(20));
  std::filesystem::copy_file(path, dir_ / "app.log.1");
  ASSERT_EQ(::truncate(path.c_str(), 0), 0);
  AppendFile(path, "after\n");
  ASSERT_TRUE(WaitLines(21));
  EXPECT_FALSE(RunLoopUntil(&loop_, [&] { return lines_.seen.size() > 21; }, std::chrono::milliseconds(300)));
  EXPECT_EQ(lines_.seen.back().line, "after");
}

TEST_F(FileSourceTest, AKnownFileResumesAtItsCheckpointWithItsIdentity) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, Numbered(0, 20));
  config_.paths = {path};
  Start();
  ASSERT_TRUE(WaitLines(20));
  std::vector<CheckpointEntry> positions;
  source_->Positions(&positions);
  ASSERT_EQ(positions.size(), 1u);
  positions[0].offset = lines_.seen[15].offset;  // as if lines 15.. were not settled
  source_->Close();
  testing::RunLoopToEnd(&loop_);
  lines_.seen.clear();
  AppendFile(path, Numbered(20, 22));  // written while stopped
  config_.start_at = StartAt::kEnd;     // does not apply to a known file
  source_ = std::make_unique<FileSource>(&loop_, config_, 3, lines_);
  source_->SetCheckpoints(positions);
  source_->Start();
  ASSERT_TRUE(WaitLines(7));
  EXPECT_EQ(lines_.seen[0].line.substr(0, 8), "line 15 ");
  EXPECT_EQ(lines_.seen[0].file_id, positions[0].file_id);
  EXPECT_EQ(lines_.seen[6].line.substr(0, 8), "line 21 ");
}

TEST_F(FileSourceTest, AFileRewrittenWhileStoppedIsReadFromItsStartUnderANewIdentity) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, Numbered(0, 20));
  config_.paths = {path};
  Start();
  ASSERT_TRUE(WaitLines(20));
  std::vector<CheckpointEntry> positions;
  source_->Positions(&positions);
  source_->Close();
  testing::RunLoopToEnd(&loop_);
  lines_.seen.clear();
  WriteFile(path, Numbered(100, 130));  // same inode, new content, longer than before
  source_ = std::make_unique<FileSource>(&loop_, config_, 3, lines_);
  source_->SetCheckpoints(positions);
  source_->Start();
  ASSERT_TRUE(WaitLines(30));
  EXPECT_EQ(lines_.seen[0].line.substr(0, 9), "line 100 ");
  EXPECT_NE(lines_.seen[0].file_id, positions[0].file_id);
}

TEST_F(FileSourceTest, AFileRenamedOutOfTheGlobWhileStoppedIsReadToItsEnd) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, Numbered(0, 5));
  config_.paths = {path};
  Start();
  ASSERT_TRUE(WaitLines(5));
  std::vector<CheckpointEntry> positions;
  source_->Positions(&positions);
  source_->Close();
  testing::RunLoopToEnd(&loop_);
  lines_.seen.clear();
  AppendFile(path, Numbered(5, 8));  // written before the rotation, while stopped
  ASSERT_EQ(std::rename(path.c_str(), (dir_ / "app.log.1").c_str()), 0);
  WriteFile(path, "new\n");
  source_ = std::make_unique<FileSource>(&loop_, config_, 3, lines_);
  source_->SetCheckpoints(positions);
  source_->Start();
  ASSERT_TRUE(WaitLines(4));
  std::vector<std::string> texts;
  for (const auto& l : lines_.seen) texts.push_back(l.line.substr(0, 7));
  std::sort(texts.begin(), texts.end());
  EXPECT_EQ(texts, (std::vector<std::string>{"line 5 ", "line 6 ", "line 7 ", "new"}));
}

TEST_F(FileSourceTest, ACompressedRotationIsNeverReadAsText) {
  WriteFile(dir_ / "app.log.2.gz", std::string("\x1f\x8b\x08\x00", 4) + "binary\nstuff\n");
  WriteFile(dir_ / "app.log", "text\n");
  config_.paths = {dir_ / "app.log*"};
  Start();
  ASSERT_TRUE(WaitLines(1));
  EXPECT_FALSE(RunLoopUntil(&loop_, [&] { return lines_.seen.size() > 1; }, std::chrono::milliseconds(200)));
  EXPECT_EQ(lines_.seen[0].line, "text");
}

TEST_F(FileSourceTest, PastMaxOpenFilesIdleFilesAreClosedAndReadOnWhenTheyGrow) {
  config_.max_open_files = 4;
  config_.paths = {dir_ / "*.log"};
  for (int i = 0; i < 12; ++i) WriteFile(dir_ / ("f" + std::to_string(i) + ".log"), "first " + std::to_string(i) + "\n");
  Start();
  ASSERT_TRUE(RunLoopUntil(&loop_, [&] { return lines_.seen.size() >= 12; }, std::chrono::seconds(10)));
  EXPECT_LE(source_->file_count(), 4u);
  AppendFile(dir_ / "f0.log", "second 0\n");
  ASSERT_TRUE(WaitLines(13));
  EXPECT_FALSE(RunLoopUntil(&loop_, [&] { return lines_.seen.size() > 13; }, std::chrono::milliseconds(300)));
  EXPECT_EQ(lines_.seen.back().line, "second 0");
  EXPECT_EQ(lines_.seen.back().offset, 8u);
}

TEST(FileIdentity, DependsOnTheBirthTimeWhenThereIsOne) {
  const FileBirth born{1'700'000'000, 5};
  const FileBirth reborn{1'700'000'100, 5};
  const FileBirth same_second{1'700'000'000, 6};
  EXPECT_NE(FileIdentity(2049, 12, &born), FileIdentity(2049, 12, &reborn));
  EXPECT_NE(FileIdentity(2049, 12, &born), FileIdentity(2049, 12, &same_second));
  EXPECT_NE(FileIdentity(2049, 12, &born), FileIdentity(2049, 13, &born));
  EXPECT_NE(FileIdentity(2049, 12, &born), FileIdentity(2050, 12, &born));
  EXPECT_EQ(FileIdentity(2049, 12, &born), FileIdentity(2049, 12, &born));
  EXPECT_NE(FileIdentity(2049, 12, nullptr), 0u);
}

TEST(FileIdentity, ANewFileWithARecycledInodeHasANewId) {
  TempDir dir;
  const std::string path = dir / "app.log";
  auto identity = [&](ino_t* ino) {
    const int fd = ::open(path.c_str(), O_RDONLY);
    struct stat st;
    EXPECT_EQ(fstat(fd, &st), 0);
    *ino = st.st_ino;
    const uint64_t id = FileIdentityOf(fd, st.st_dev, st.st_ino);
    ::close(fd);
    return id;
  };
  WriteFile(path, "old\n");
  ino_t old_ino;
  const uint64_t old_id = identity(&old_ino);
  // ext4 and xfs hand a freed inode to the next file created in the same
  // directory; tmpfs never reuses one. Try a bounded number of times.
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(::unlink(path.c_str()), 0);
    WriteFile(path, "new\n");
    ino_t ino;
    const uint64_t id = identity(&ino);
    if (ino != old_ino) continue;
    struct statx stx;
    ASSERT_EQ(::statx(AT_FDCWD, path.c_str(), 0, STATX_BTIME, &stx), 0);
    if (!(stx.stx_mask & STATX_BTIME)) GTEST_SKIP() << "the file system records no birth time";
    EXPECT_NE(id, old_id);
    return;
  }
  GTEST_SKIP() << "the file system did not reuse the inode; FileIdentity.DependsOnTheBirthTimeWhenThereIsOne covers the hash";
}

// Captures what is written to stderr (the agent's log) while it lives.
class StderrCapture {
 public:
  StderrCapture() : saved_(::dup(STDERR_FILENO)) {
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
  }
  ~StderrCapture() {
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
  }
  std::string text() const { return testing::ReadFile(path_); }

 private:
  TempDir dir_;
  std::string path_ = dir_ / "stderr";
  int saved_;
};

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST_F(FileSourceTest, AMatchThatCannotBeOpenedIsWarnedAboutOnceUntilItComesBack) {
  // A regular file open(2) refuses even to root: a write-only sysfs file
  // (kernfs has nothing to read there). Without root, a mode 000 file.
  std::string target = dir_ / "locked";
  WriteFile(target, "x\n");
  ::chmod(target.c_str(), 0);
  if (const int fd = ::open(target.c_str(), O_RDONLY); fd >= 0) {
    ::close(fd);
    target = "/sys/bus/cpu/drivers_probe";
    struct stat st;
    if (::stat(target.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) GTEST_SKIP() << "no unopenable regular file";
    const int fd2 = ::open(target.c_str(), O_RDONLY);
    if (fd2 >= 0) {
      ::close(fd2);
      GTEST_SKIP() << target << " can be opened";
    }
  }
  const std::string bad = dir_ / "bad.log";
  ASSERT_EQ(::symlink(target.c_str(), bad.c_str()), 0);
  config_.paths = {dir_ / "*.log"};
  StderrCapture err;
  Start();
  // Each file found later proves another stat pass has run.
  size_t n = 0;
  auto pass = [&] {
    ++n;
    WriteFile(dir_ / ("m" + std::to_string(n) + ".log"), "m\n");
    return WaitLines(n);
  };
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pass());
  EXPECT_EQ(Count(err.text(), "cannot open " + bad), 1u);
  ASSERT_EQ(::unlink(bad.c_str()), 0);
  ASSERT_TRUE(pass());
  ASSERT_EQ(::symlink(target.c_str(), bad.c_str()), 0);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pass());
  EXPECT_EQ(Count(err.text(), "cannot open " + bad), 2u);
}

}  // namespace
}  // namespace tailtrack

namespace tailtrack {
namespace {

TEST_F(FileSourceTest, AFifoTheGlobMatchesIsSaidOnceAndSkipped) {
  ASSERT_EQ(::mkfifo((dir_ / "pipe.log").c_str(), 0600), 0);
  WriteFile(dir_ / "app.log", "one\n");
  config_.paths = {dir_ / "*.log"};
  StderrCapture err;
  Start();
  ASSERT_TRUE(WaitLines(1));
  // Later passes find it again and say nothing more.
  WriteFile(dir_ / "later.log", "two\n");
  ASSERT_TRUE(WaitLines(2));
  EXPECT_EQ(Count(err.text(), (dir_ / "pipe.log") + " is a fifo, not a regular file: skipped"), 1u) << err.text();
}

}  // namespace
}  // namespace tailtrack

namespace tailtrack {
namespace {

TEST_F(FileSourceTest, ClosedFilesRenamedInABurstAreNotReadAgain) {
  config_.max_open_files = 4;
  config_.paths = {dir_ / "*.log"};
  for (int i = 0; i < 20; ++i) WriteFile(dir_ / ("f" + std::to_string(i) + ".log"), "line " + std::to_string(i) + "\n");
  Start();
  ASSERT_TRUE(RunLoopUntil(&loop_, [&] { return lines_.seen.size() >= 20; }, std::chrono::seconds(10)));
  // Renamed back and forth while stat passes run: a pass may miss a file
  // between its old and its new name; it must not be taken for a new file.
  std::atomic<bool> stop{false};
  std::thread renamer([&] {
    for (int round = 0; !stop; ++round) {
      const char* from = round % 2 ? "g" : "f";
      const char* to = round % 2 ? "f" : "g";
      for (int i = 0; i < 20; ++i) {
        std::rename((dir_ / (from + std::to_string(i) + ".log")).c_str(), (dir_ / (to + std::to_string(i) + ".log")).c_str());
      }
    }
  });
  RunLoopUntil(&loop_, [] { return false; }, std::chrono::milliseconds(1500));
  stop = true;
  renamer.join();
  EXPECT_FALSE(RunLoopUntil(&loop_, [&] { return lines_.seen.size() > 20; }, std::chrono::milliseconds(500)));
}

}  // namespace
}  // namespace tailtrack

namespace tailtrack {
namespace {

std::string Describe(const std::vector<Seen>& seen, size_t from) {
  std::string out;
  for (size_t i = from; i < seen.size(); ++i) out += "\n  " + seen[i].line + " from " + seen[i].path;
  return out;
}

class RestartTest : public FileSourceTest {
 protected:
  // Stops the source, keeping its positions as the agent would write them.
  std::vector<CheckpointEntry> StopAndKeepPositions() {
    std::vector<CheckpointEntry> positions;
    source_->Positions(&positions);
    source_->Close();
    testing::RunLoopToEnd(&loop_);
    lines_.seen.clear();
    return positions;
  }
  void StartWith(const std::vector<CheckpointEntry>& positions) {
    source_ = std::make_unique<FileSource>(&loop_, config_, 3, lines_);
    source_->SetCheckpoints(positions);
    source_->Start();
  }
  std::vector<std::string> Prefixes(size_t n) const {
    std::vector<std::string> out;
    for (const auto& l : lines_.seen) out.push_back(l.line.substr(0, n));
    std::sort(out.begin(), out.end());
    return out;
  }
};

TEST_F(RestartTest, CopytruncateWhileStoppedReadsTheUnreadTailFromTheCopy) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, Numbered(0, 20));
  config_.paths = {path};
  Start();
  ASSERT_TRUE(WaitLines(20));
  const auto positions = StopAndKeepPositions();
  AppendFile(path, Numbered(20, 23));  // never read by the first run
  std::filesystem::copy_file(path, dir_ / "app.log.1");
  ASSERT_EQ(::truncate(path.c_str(), 0), 0);
  AppendFile(path, "after\n");
  StartWith(positions);
  ASSERT_TRUE(WaitLines(4));
  EXPECT_FALSE(RunLoopUntil(&loop_, [&] { return lines_.seen.size() > 4; }, std::chrono::milliseconds(300)));
  EXPECT_EQ(Prefixes(7), (std::vector<std::string>{"after", "line 20", "line 21", "line 22"}));
}

// A crash after a copytruncate was seen, before the old generation's last
// lines were delivered: the agent's checkpoint puts the generation's entry
// back to its first unsettled line (here: line 15), and the next run reads
// from there in the copy, under the old identity, whether a glob matches the
// copy or not.
class LostCopyTest : public RestartTest, public ::testing::WithParamInterface<bool> {};

TEST_P(LostCopyTest, ACrashBeforeARewrittenGenerationsLinesAreSettledReadsThemAgainFromTheCopy) {
  const bool glob_matches_copy = GetParam();
  const std::string path = dir_ / "app.log";
  WriteFile(path, Numbered(0, 20));
  config_.paths = {glob_matches_copy ? dir_ / "app.log*" : path};
  Start();
  ASSERT_TRUE(WaitLines(20));
  const uint64_t old_id = lines_.seen[0].file_id;
  const uint64_t line15 = lines_.seen[15].offset;
  std::filesystem::copy_file(path, dir_ / "app.log.1");
  ASSERT_EQ(::truncate(path.c_str(), 0), 0);
  AppendFile(path, "after\n");
  ASSERT_TRUE(WaitLines(21));
  ASSERT_EQ(source_->stats().truncations, 1u);
  auto positions = StopAndKeepPositions();
  size_t rewritten = 0;
  for (CheckpointEntry& e : positions) {
    if (e.file_id == old_id) {
      EXPECT_EQ(e.ino, 0u) << e.path;
      e.offset = line15;  // what the agent does for lines not delivered yet
      ++rewritten;
    }
  }
  ASSERT_EQ(rewritten, 1u);
  StartWith(positions);
  ASSERT_TRUE(WaitLines(5));
  EXPECT_FALSE(RunLoopUntil(&loop_, [&] { return lines_.seen.size() > 5; }, std::chrono::milliseconds(400)))
      << Describe(lines_.seen, 0);
  EXPECT_EQ(Prefixes(7), (std::vector<std::string>{"line 15", "line 16", "line 17", "line 18", "line 19"}));
  for (const auto& l : lines_.seen) {
    EXPECT_EQ(l.path, dir_ / "app.log.1");
    EXPECT_EQ(l.file_id, old_id);  // the same messageIds as the first time
  }
}

INSTANTIATE_TEST_SUITE_P(Glob, LostCopyTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "CopyInTheGlob" : "CopyBesideTheFile"; });

TEST_F(RestartTest, ASettledRewrittenGenerationLeavesTheCheckpoint) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, Numbered(0, 20));
  config_.paths = {path};
  Start();
  ASSERT_TRUE(WaitLines(20));
  ASSERT_EQ(::truncate(path.c_str(), 0), 0);
  ASSERT_TRUE(RunLoopUntil(&loop_, [&] { return source_->stats().truncations == 1; }));
  auto count_rewritten = [&] {
    std::vector<CheckpointEntry> positions;
    source_->Positions(&positions);
    return std::count_if(positions.begin(), positions.end(), [](const CheckpointEntry& e) { return e.ino == 0; });
  };
  EXPECT_EQ(count_rewritten(), 1);
  source_->ForgetFinished([](uint64_t) { return true; });
  EXPECT_EQ(count_rewritten(), 0);
}

TEST_F(RestartTest, ANewFileAtAPathTheLastRunReadIsReadWholeDespiteStartAtEnd) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, "old\n");
  config_.paths = {path};
  config_.start_at = StartAt::kEnd;
  Start();
  AppendFile(path, "one\n");
  ASSERT_TRUE(WaitLines(1));
  const auto positions = StopAndKeepPositions();
  ASSERT_EQ(std::rename(path.c_str(), (dir_ / "app.log.1").c_str()), 0);
  WriteFile(path, "written while stopped\n");
  StartWith(positions);
  ASSERT_TRUE(WaitLines(1));
  EXPECT_EQ(lines_.seen[0].line, "written while stopped");
}

TEST_F(FileSourceTest, AClosedFileWrittenThenRenamedOutOfTheGlobIsReadToItsEnd) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, "one\n");
  config_.paths = {path};
  config_.close_idle_after = std::chrono::milliseconds(100);
  Start();
  ASSERT_TRUE(WaitLines(1));
  ASSERT_TRUE(RunLoopUntil(&loop_, [&] { return source_->file_count() == 0; }));  // closed: idle
  AppendFile(path, "two\n");  // a last write, then logrotate before the next stat pass
  ASSERT_EQ(std::rename(path.c_str(), (dir_ / "app.log.1").c_str()), 0);
  WriteFile(path, "three\n");
  ASSERT_TRUE(WaitLines(3));
  std::vector<std::string> texts = lines_.texts();
  std::sort(texts.begin(), texts.end());
  EXPECT_EQ(texts, (std::vector<std::string>{"one", "three", "two"}));
}

TEST_F(FileSourceTest, ARotatedFileReadToItsEndKeepsItsPositionUntilItsLinesAreSettled) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, "one\n");
  config_.paths = {path};
  config_.rotate_wait = std::chrono::milliseconds(100);
  Start();
  ASSERT_TRUE(WaitLines(1));
  const uint64_t id = lines_.seen[0].file_id;
  ASSERT_EQ(std::rename(path.c_str(), (dir_ / "app.log.1").c_str()), 0);
  WriteFile(path, "two\n");
  ASSERT_TRUE(WaitLines(2));
  auto has = [&] {
    std::vector<CheckpointEntry> positions;
    source_->Positions(&positions);
    return std::any_of(positions.begin(), positions.end(), [&](const CheckpointEntry& e) { return e.file_id == id; });
  };
  // Closed after rotate_wait, but "one" may still be in a batch: the entry stays.
  ASSERT_TRUE(RunLoopUntil(&loop_, [&] { return source_->file_count() == 1; }));
  RunLoopUntil(&loop_, [] { return false; }, std::chrono::milliseconds(300));
  EXPECT_TRUE(has());
  source_->ForgetFinished([&](uint64_t file_id) { return file_id != id; });
  EXPECT_TRUE(has());
  source_->ForgetFinished([](uint64_t) { return true; });
  EXPECT_FALSE(has());
}

}  // namespace
}  // namespace tailtrack

namespace tailtrack {
namespace {

TEST_F(RestartTest, ThreeRotationsWhileStoppedUnderAGlobOfTheRotatedNamesLoseNothingDespiteStartAtEnd) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, "history\n");
  config_.paths = {dir_ / "app.log*"};
  config_.start_at = StartAt::kEnd;
  Start();
  AppendFile(path, "seen 1\n");
  ASSERT_TRUE(WaitLines(1));
  auto positions = StopAndKeepPositions();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // what follows is written after the checkpoint
  AppendFile(path, "late 1\n");
  // Three rename rotations while stopped: app.log -> .1 -> .2 -> .3.
  for (int r = 0; r < 3; ++r) {
    for (int i = r; i >= 1; --i) {
      std::rename((dir_ / ("app.log." + std::to_string(i))).c_str(), (dir_ / ("app.log." + std::to_string(i + 1))).c_str());
    }
    std::rename(path.c_str(), (dir_ / "app.log.1").c_str());
    WriteFile(path, "rotation " + std::to_string(r + 1) + "\n");
  }
  StartWith(positions);
  ASSERT_TRUE(WaitLines(4));
  EXPECT_FALSE(RunLoopUntil(&loop_, [&] { return lines_.seen.size() > 4; }, std::chrono::milliseconds(300)));
  EXPECT_EQ(Prefixes(20), (std::vector<std::string>{"late 1", "rotation 1", "rotation 2", "rotation 3"}));
}

}  // namespace
}  // namespace tailtrack

namespace tailtrack {
namespace {

TEST_F(FileSourceTest, ASymlinkAndItsTargetFoundInOnePassAreReadOnce) {
  WriteFile(dir_ / "z.log", "one\ntwo\n");
  ASSERT_EQ(::symlink((dir_ / "z.log").c_str(), (dir_ / "a.log").c_str()), 0);
  ASSERT_EQ(::link((dir_ / "z.log").c_str(), (dir_ / "h.log").c_str()), 0);
  config_.paths = {dir_ / "*.log"};
  Start();
  ASSERT_TRUE(WaitLines(2));
  AppendFile(dir_ / "z.log", "three\n");
  ASSERT_TRUE(WaitLines(3));
  EXPECT_FALSE(RunLoopUntil(&loop_, [&] { return lines_.seen.size() > 3; }, std::chrono::milliseconds(300)));
}

TEST_F(FileSourceTest, FilesThatBeginWithTheSameBannerAreNotTakenForCopies) {
  const std::string banner = "# service starting " + std::string(1200, '=') + "\n";
  WriteFile(dir_ / "a.log", banner + Numbered(0, 20));
  config_.paths = {dir_ / "*.log"};
  Start();
  ASSERT_TRUE(WaitLines(21));
  WriteFile(dir_ / "b.log", banner + Numbered(100, 130));
  ASSERT_TRUE(WaitLines(52));
  EXPECT_NE(lines_.seen.back().file_id, lines_.seen.front().file_id);
}

TEST_F(FileSourceTest, ACompressedRotationCreatedEmptyAndFilledLaterIsNeverReadAsText) {
  WriteFile(dir_ / "app.log", "text\n");
  config_.paths = {dir_ / "app.log*"};
  Start();
  ASSERT_TRUE(WaitLines(1));
  // As logrotate's compress does, but under a name that does not say so.
  WriteFile(dir_ / "app.log.1.tmp", "");
  RunLoopUntil(&loop_, [] { return false; }, std::chrono::milliseconds(150));
  AppendFile(dir_ / "app.log.1.tmp", std::string("\x1f\x8b\x08\x00", 4) + "\nbinary\nbytes\n");
  EXPECT_FALSE(RunLoopUntil(&loop_, [&] { return lines_.seen.size() > 1; }, std::chrono::milliseconds(300)));
}

}  // namespace
}  // namespace tailtrack

namespace tailtrack {
namespace {

TEST_F(FileSourceTest, ACopyFoundWhileStillBeingWrittenGivesWholeLinesUnderTheOriginalIds) {
  const std::string path = dir_ / "app.log";
  const std::string content = Numbered(0, 40);
  WriteFile(path, content);
  config_.paths = {dir_ / "app.log*"};
  Start();
  ASSERT_TRUE(WaitLines(40));
  const uint64_t id = lines_.seen[0].file_id;
  // logrotate's copy, caught half written (it ends inside a line), then finished.
  WriteFile(dir_ / "app.log.1", content.substr(0, 1500));
  RunLoopUntil(&loop_, [] { return false; }, std::chrono::milliseconds(150));
  AppendFile(dir_ / "app.log.1", content.substr(1500));
  RunLoopUntil(&loop_, [] { return false; }, std::chrono::milliseconds(300));
  for (size_t i = 40; i < lines_.seen.size(); ++i) {
    EXPECT_EQ(lines_.seen[i].file_id, id);
    EXPECT_EQ(lines_.seen[i].line.substr(0, 5), "line ") << "a torn fragment: " << lines_.seen[i].line;
    EXPECT_EQ(content.substr(lines_.seen[i].offset, lines_.seen[i].line.size()), lines_.seen[i].line);
  }
}

}  // namespace
}  // namespace tailtrack

namespace tailtrack {
namespace {

TEST_F(FileSourceTest, FilesReportTheBytesWrittenAndNotReadYetAsLag) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, "one\ntwo\n");
  config_.paths = {dir_ / "*.log"};
  FileSource& s = Start();
  ASSERT_TRUE(WaitLines(2));
  s.Pause();
  AppendFile(path, std::string(99, 'x') + "\n");
  std::vector<FileStatus> files;
  // The stat pass (every poll_interval) sees the new size; nothing is read while paused.
  ASSERT_TRUE(RunLoopUntil(&loop_, [&] {
    files.clear();
    s.Files(&files);
    return files.size() == 1 && files[0].lag() == 100;
  }));
  EXPECT_EQ(files[0].path, path);
  EXPECT_EQ(files[0].offset, 8u);
  EXPECT_EQ(files[0].size, 108u);
  EXPECT_TRUE(files[0].open);
  s.Resume();
  ASSERT_TRUE(WaitLines(3));
  files.clear();
  s.Files(&files);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].lag(), 0u);
  EXPECT_EQ(files[0].offset, 108u);
}



// logrotate's second copytruncate with the copies in the glob: app.log.1 is
// renamed to app.log.2, app.log copied to a new app.log.1, app.log truncated,
// all while the loop does not run; it resumes with the stat pass due. The
// new app.log.1 is a copy, not a new file, and app.log.2 is not read again.
// (This is the shape of the rare RotationTest flake; it has not reproduced it.)
TEST_F(FileSourceTest, ACopyFoundBeforeItsTruncationIsNoticedIsStillACopy) {
  const std::string path = dir_ / "app.log";
  config_.fingerprint_bytes = 64;
  config_.paths = {dir_ / "app.log*"};
  WriteFile(path, Numbered(0, 20));
  Start();
  ASSERT_TRUE(WaitLines(20));
  std::filesystem::copy_file(path, dir_ / "app.log.1");
  ASSERT_EQ(::truncate(path.c_str(), 0), 0);
  ASSERT_TRUE(RunLoopUntil(&loop_, [&] { return source_->stats().truncations == 1; }));
  AppendFile(path, Numbered(20, 40));
  ASSERT_TRUE(WaitLines(40));
  std::filesystem::rename(dir_ / "app.log.1", dir_ / "app.log.2");
  std::filesystem::copy_file(path, dir_ / "app.log.1");
  ASSERT_EQ(::truncate(path.c_str(), 0), 0);
  AppendFile(path, "after\n");
  // The loop resumes with the stat pass due: timers run before notifications.
  std::this_thread::sleep_for(std::chrono::milliseconds(4 * config_.poll_interval.count()));
  ASSERT_TRUE(WaitLines(41));
  EXPECT_FALSE(RunLoopUntil(&loop_, [&] { return lines_.seen.size() > 41; }, std::chrono::milliseconds(500)))
      << Describe(lines_.seen, 40);
  EXPECT_EQ(lines_.seen.back().line, "after");
}


TEST_F(FileSourceTest, ARewriteRegrownRightAfterAReadGivesNoTornFragment) {
  const std::string path = dir_ / "app.log";
  WriteFile(path, Numbered(0, 20));
  config_.paths = {path};
  Start();
  ASSERT_TRUE(WaitLines(20));
  // Truncated and regrown past the old offset at once, just after the agent
  // read the file: its next read must not start at the old offset.
  WriteFile(path, Numbered(100, 140));
  ASSERT_TRUE(WaitLines(60));
  EXPECT_FALSE(RunLoopUntil(&loop_, [&] { return lines_.seen.size() > 60; }, std::chrono::milliseconds(300)))
      << Describe(lines_.seen, 20);
  const std::string expected = Numbered(100, 140);
  std::string got;
  for (size_t i = 20; i < lines_.seen.size(); ++i) got += lines_.seen[i].line + "\n";
  EXPECT_EQ(got, expected);
  EXPECT_EQ(lines_.seen[20].offset, 0u);
  EXPECT_NE(lines_.seen[20].file_id, lines_.seen[0].file_id);
}

// logrotate's copytruncate creates app.log.1, then fills it, then truncates
// app.log: a stat pass that finds the copy still too short to fingerprint
// must not read it as a new file (its lines would go out again under new
// messageIds); once whole it is known as the copy.
TEST_F(FileSourceTest, ACopyFoundWhileShorterThanItsFingerprintIsNotReadAsANewFile) {
  const std::string path = dir_ / "app.log";
  config_.paths = {dir_ / "app.log*"};
  WriteFile(path, Numbered(0, 40));  // about 2.4 KiB: a whole 1 KiB fingerprint
  Start();
  ASSERT_TRUE(WaitLines(40));
  const std::string whole = testing::ReadFile(path);
  WriteFile(dir_ / "app.log.1", whole.substr(0, 100));  // the copy, begun
  // Stat passes see it (poll_interval is 50 ms) while it is short.
  EXPECT_FALSE(RunLoopUntil(&loop_, [&] { return lines_.seen.size() > 40; }, std::chrono::milliseconds(400)))
      << Describe(lines_.seen, 40);
  WriteFile(dir_ / "app.log.1", whole);  // the copy, done
  ASSERT_EQ(::truncate(path.c_str(), 0), 0);
  AppendFile(path, "after\n");
  ASSERT_TRUE(WaitLines(41));
  EXPECT_FALSE(RunLoopUntil(&loop_, [&] { return lines_.seen.size() > 41; }, std::chrono::milliseconds(2500)))
      << Describe(lines_.seen, 40);
  EXPECT_EQ(lines_.seen.back().line, "after");
}

// The same when the copy appears at the path of an open file (app.log.1,
// renamed to app.log.2 a moment before): the stat pass sees that path
// "replaced", and must not open the short new file as a new one either.
TEST_F(FileSourceTest, ACopyBeingWrittenAtTheReplacedPathOfAnOpenFileIsNotReadAsANewFile) {
  const std::string path = dir_ / "app.log";
  config_.paths = {dir_ / "app.log*"};
  WriteFile(dir_ / "app.log.2", Numbered(600, 605));  // older rotations
  WriteFile(dir_ / "app.log.1", Numbered(500, 505));
  WriteFile(path, Numbered(0, 40));
  Start();
  ASSERT_TRUE(WaitLines(50));
  const std::string whole = testing::ReadFile(path);
  // logrotate's order: .2 -> .3, .1 -> .2, then the new copy at .1. (In the
  // chaos run the stat pass then saw app.log.1 as "replaced" before Discover
  // had moved the files along; here Discover moves them first, so this test
  // passes without the check in that branch too: it covers the behaviour,
  // not that branch.)
  std::filesystem::rename(dir_ / "app.log.2", dir_ / "app.log.3");
  std::filesystem::rename(dir_ / "app.log.1", dir_ / "app.log.2");
  WriteFile(dir_ / "app.log.1", whole.substr(0, 100));  // the copy, begun
  EXPECT_FALSE(RunLoopUntil(&loop_, [&] { return lines_.seen.size() > 50; }, std::chrono::milliseconds(400)))
      << Describe(lines_.seen, 50);
  WriteFile(dir_ / "app.log.1", whole);  // the copy, done
  ASSERT_EQ(::truncate(path.c_str(), 0), 0);
  AppendFile(path, "after\n");
  ASSERT_TRUE(WaitLines(51));
  EXPECT_FALSE(RunLoopUntil(&loop_, [&] { return lines_.seen.size() > 51; }, std::chrono::milliseconds(2500)))
      << Describe(lines_.seen, 50);
  EXPECT_EQ(lines_.seen.back().line, "after");
}

}  // namespace
}  // namespace tailtrack
