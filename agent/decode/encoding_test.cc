#include "decode/encoding.h"

#include <gtest/gtest.h>

namespace tailtrack {
namespace {

TEST(LineTranscoder, Utf8NeedsNone) { EXPECT_EQ(LineTranscoder::For(Encoding::kUtf8), nullptr); }

TEST(LineTranscoder, Latin1NamesArriveAsUtf8) {
  auto t = LineTranscoder::For(Encoding::kLatin1);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->ToUtf8("name=Jos\xE9 city=M\xFCnchen"), "name=Jos\xC3\xA9 city=M\xC3\xBCnchen");
}

TEST(LineTranscoder, Windows1252HasItsOwnPunctuationAndReplacesUndefinedBytes) {
  auto t = LineTranscoder::For(Encoding::kWindows1252);
  ASSERT_NE(t, nullptr);
  // 0x80 is the euro sign, 0x93/0x94 curly quotes; 0x81 is undefined.
  EXPECT_EQ(t->ToUtf8("\x80" "5 \x93ok\x94 \x81"), "\xE2\x82\xAC" "5 \xE2\x80\x9Cok\xE2\x80\x9D \xEF\xBF\xBD");
}

TEST(LineTranscoder, AnAsciiLineIsPassedOnAsItIsWithoutACopy) {
  auto t = LineTranscoder::For(Encoding::kLatin1);
  const std::string line = "plain ascii id=42";
  EXPECT_EQ(t->ToUtf8(line).data(), line.data());
}

}  // namespace
}  // namespace tailtrack

namespace tailtrack {
namespace {

TEST(Utf16ToUtf8, DecodesBothByteOrdersAndSurrogatePairs) {
  std::string out;
  Utf16ToUtf8(std::string("J\0o\0s\0\xE9\0 \0=\xD8\0\xDE", 14), /*big_endian=*/false, &out);
  EXPECT_EQ(out, "Jos\u00e9 \U0001F600");
  Utf16ToUtf8(std::string("\0J\x20\xAC", 4), /*big_endian=*/true, &out);
  EXPECT_EQ(out, "J\u20ac");
}

TEST(Utf16ToUtf8, ALoneSurrogateOrAnOddLastByteIsTheReplacementCharacter) {
  std::string out;
  Utf16ToUtf8(std::string("a\0\x00\xD8" "b\0", 6), false, &out);  // a high surrogate, then 'b'
  EXPECT_EQ(out, "a\uFFFDb");
  Utf16ToUtf8(std::string("a\0\x00\xDC", 4), false, &out);  // a low surrogate alone
  EXPECT_EQ(out, "a\uFFFD");
  Utf16ToUtf8(std::string("a\0b", 3), false, &out);
  EXPECT_EQ(out, "a\uFFFD");
}

TEST(LineTranscoder, Utf16NeedsNoneHere) { EXPECT_EQ(LineTranscoder::For(Encoding::kUtf16), nullptr); }

}  // namespace
}  // namespace tailtrack
