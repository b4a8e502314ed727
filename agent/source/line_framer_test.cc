#include "source/line_framer.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace tailtrack {
namespace {

using Lines = std::vector<std::pair<std::string, uint64_t>>;

// Feeds `chunks` as a file reader would, carrying the incomplete tail.
Lines Feed(LineFramer& framer, const std::vector<std::string>& chunks, std::string* tail_out = nullptr) {
  Lines lines;
  std::string carry;
  uint64_t pos = 0;
  for (const auto& chunk : chunks) {
    std::string buf = carry + chunk;
    const uint64_t start = pos - carry.size();
    pos += chunk.size();
    const size_t tail = framer.Frame(buf.data(), buf.size(), start, [&](std::string_view line, uint64_t offset) {
      lines.emplace_back(std::string(line), offset);
    });
    carry = buf.substr(buf.size() - tail);
  }
  if (tail_out) *tail_out = carry;
  return lines;
}

TEST(LineFramer, SplitsAtNewlinesWithTheOffsetOfEachLine) {
  LineFramer f(100, LongLine::kTruncate);
  EXPECT_EQ(Feed(f, {"one\ntwo\nthree\n"}), (Lines{{"one", 0}, {"two", 4}, {"three", 8}}));
}

// A crash can leave a log file's end as zeros (its size was extended before
// its data was written); the application then appends after them. The zeros
// are no line, and the line after them is read whole, whatever their length.
TEST(LineFramer, NulBytesAtTheStartOfALineAreSkippedAndCounted) {
  LineFramer f(100, LongLine::kTruncate);
  const std::string zeros(1000, '\0');
  EXPECT_EQ(Feed(f, {"one\n" + zeros.substr(0, 300), zeros.substr(300), "two\n", std::string(3, '\0') + "\n"}),
            (Lines{{"one", 0}, {"two", 1004}}));
  EXPECT_EQ(f.nul_bytes(), 1003u);
  EXPECT_EQ(f.truncated() + f.skipped(), 0u);
}

TEST(LineFramer, NulBytesInsideALineAreLeftToTheLine) {
  LineFramer f(100, LongLine::kTruncate);
  EXPECT_EQ(Feed(f, {std::string("a\0b\n", 4)}), (Lines{{std::string("a\0b", 3), 0}}));
  EXPECT_EQ(f.nul_bytes(), 0u);
}

TEST(LineFramer, StripsOneCarriageReturnAndSkipsEmptyLines) {
  LineFramer f(100, LongLine::kTruncate);
  EXPECT_EQ(Feed(f, {"a\r\n\n\r\nb\r\r\n"}), (Lines{{"a", 0}, {"b\r", 6}}));
}

TEST(LineFramer, HoldsAnIncompleteLineUntilItsNewline) {
  LineFramer f(100, LongLine::kTruncate);
  std::string tail;
  EXPECT_EQ(Feed(f, {"first\nsec", "ond par", "t\nthi"}, &tail), (Lines{{"first", 0}, {"second part", 6}}));
  EXPECT_EQ(tail, "thi");
}

TEST(LineFramer, FlushPartialEmitsTheHeldLine) {
  LineFramer f(100, LongLine::kTruncate);
  std::string got;
  f.FlushPartial("idle\r", 5, 42, [&](std::string_view line, uint64_t offset) {
    got = std::string(line) + "@" + std::to_string(offset);
  });
  EXPECT_EQ(got, "idle@42");
}

TEST(LineFramer, TruncatesLongLinesAtACharacterBoundary) {
  LineFramer f(5, LongLine::kTruncate);
  // "abcd" + "é" (2 bytes) straddles the limit of 5: the é is cut whole.
  EXPECT_EQ(Feed(f, {"abcd\xC3\xA9xyz\nok\n"}), (Lines{{"abcd", 0}, {"ok", 10}}));
  EXPECT_EQ(f.truncated(), 1u);
}

TEST(LineFramer, SkipsLongLinesWhenConfigured) {
  LineFramer f(5, LongLine::kSkip);
  EXPECT_EQ(Feed(f, {"toolongline\nok\n"}), (Lines{{"ok", 12}}));
  EXPECT_EQ(f.skipped(), 1u);
}

TEST(LineFramer, AnIncompleteLongLineIsCutOnceAndItsRestDiscardedAcrossReads) {
  LineFramer f(4, LongLine::kTruncate);
  std::string tail;
  EXPECT_EQ(Feed(f, {"abcdefgh", "ijkl", "mn\nnext\n"}, &tail), (Lines{{"abcd", 0}, {"next", 15}}));
  EXPECT_EQ(f.truncated(), 1u);
  EXPECT_EQ(tail, "");
}

// Found by line_framer_fuzz: a read that ended inside the newline of a UTF-16
// line being discarded lost that half of the newline, so the line after it
// was discarded too.
TEST(LineFramer, AUtf16LongLinesNewlineSplitAcrossReadsEndsItsDiscarding) {
  LineFramer f(4, LongLine::kTruncate, LineUnits::kUtf16Le);
  const std::string u16("a\0b\0c\0d\0e\0f\0g\0h\0\n\0x\0y\0\n\0", 24);
  // Reads of 11, 6 and 7 bytes: the second ends between '\n' and its '\0'.
  const Lines lines = Feed(f, {u16.substr(0, 11), u16.substr(11, 6), u16.substr(17)});
  EXPECT_EQ(lines, (Lines{{std::string("a\0b\0", 4), 0}, {std::string("x\0y\0", 4), 18}}));
  EXPECT_EQ(f.truncated(), 1u);
}

// Found by line_framer_fuzz: a UTF-16 line of exactly max_line_bytes, read up
// to its '\r' and the first byte of its newline, was taken for a long line.
TEST(LineFramer, AUtf16LineThatFitsIsNotCutWhileItsCrLfArrives) {
  LineFramer f(4, LongLine::kSkip, LineUnits::kUtf16Le);
  const std::string u16("a\0b\0\r\0\n\0", 8);
  EXPECT_EQ(Feed(f, {u16.substr(0, 7), u16.substr(7)}), (Lines{{std::string("a\0b\0", 4), 0}}));
  EXPECT_EQ(f.skipped(), 0u);
}

TEST(Utf8Prefix, NeverEndsInsideACharacter) {
  EXPECT_EQ(Utf8Prefix("a\xE2\x82\xAC", 3), "a");      // € is 3 bytes
  EXPECT_EQ(Utf8Prefix("a\xE2\x82\xAC", 4), "a\xE2\x82\xAC");
  EXPECT_EQ(Utf8Prefix("abc", 2), "ab");
}

}  // namespace
}  // namespace tailtrack
