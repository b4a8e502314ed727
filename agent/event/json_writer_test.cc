#include "event/json_writer.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <limits>

namespace tailtrack::json {
namespace {

std::string Str(std::string_view s) {
  std::string out;
  AppendString(out, s);
  return out;
}

TEST(JsonWriter, CopiesPlainAsciiAndValidUtf8AsIs) {
  EXPECT_EQ(Str("hello"), "\"hello\"");
  EXPECT_EQ(Str("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
}

TEST(JsonWriter, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(Str("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(Str("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
  EXPECT_EQ(Str(std::string_view("a\0b\x01\x1f", 5)), "\"a\\u0000b\\u0001\\u001f\"");
}

TEST(JsonWriter, ReplacesEachInvalidSequenceWithOneReplacementCharacter) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(Str("Adi\xF3s"), "\"Adi" + r + "s\"");                 // Windows-1252
  EXPECT_EQ(Str("\x80"), "\"" + r + "\"");                         // lone continuation
  EXPECT_EQ(Str("\xC0\xAF"), "\"" + r + r + "\"");                 // overlong '/'
  EXPECT_EQ(Str("\xE0\x80\xAF"), "\"" + r + r + r + "\"");         // overlong, 3 bytes
  EXPECT_EQ(Str("\xED\xA0\x80"), "\"" + r + r + r + "\"");         // UTF-16 surrogate
  EXPECT_EQ(Str("\xF4\x90\x80\x80"), "\"" + r + r + r + r + "\""); // above U+10FFFF
  EXPECT_EQ(Str("\xE2\x82"), "\"" + r + "\"");                     // truncated: one maximal subpart
  EXPECT_EQ(Str("\xE2\x82x"), "\"" + r + "x\"");
  EXPECT_EQ(Str("\xFF\xFE"), "\"" + r + r + "\"");
}

TEST(JsonWriter, EscapesControlCharactersAfterInvalidBytesToo) {
  EXPECT_EQ(Str(std::string_view("\xFF\0\"", 3)), "\"\xEF\xBF\xBD\\u0000\\\"\"");
}

TEST(JsonWriter, OutputIsAlwaysValidJsonAndUtf8) {
  simdjson::dom::parser parser;
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  for (int i = 255; i >= 0; --i) bytes.push_back(static_cast<char>(i));
  const std::string out = Str(bytes);
  EXPECT_TRUE(IsValidUtf8(out));
  EXPECT_EQ(parser.parse(out).error(), simdjson::SUCCESS);
}

TEST(JsonWriter, WritesDoublesInTheirShortestExactForm) {
  std::string out;
  EXPECT_TRUE(AppendDouble(out, 99.99));
  EXPECT_EQ(out, "99.99");
  out.clear();
  EXPECT_TRUE(AppendDouble(out, 42.5));
  EXPECT_EQ(out, "42.5");
  out.clear();
  AppendInt(out, -9223372036854775807 - 1);
  EXPECT_EQ(out, "-9223372036854775808");
}

// Found by rule_set_fuzz: `| number` of "00178859639454016762223" gave an
// integer literal past 64 bits, which simdjson (and the collector) refuse.
TEST(JsonWriter, WritesDoublesPastSixtyFourBitIntegersWithAnExponent) {
  std::string out;
  EXPECT_TRUE(AppendDouble(out, 178859639454016762223.0));
  EXPECT_EQ(out, "1.7885963945401677e+20");
  out.clear();
  EXPECT_TRUE(AppendDouble(out, -1e19));
  EXPECT_EQ(out, "-1e+19");
  out.clear();
  EXPECT_TRUE(AppendDouble(out, 4611686018427387904.0));  // 2^62: digits still fit
  EXPECT_EQ(out, "4611686018427387904");
}

TEST(JsonWriter, RefusesNanAndInfinity) {
  std::string out;
  EXPECT_FALSE(AppendDouble(out, std::numeric_limits<double>::quiet_NaN()));
  EXPECT_FALSE(AppendDouble(out, std::numeric_limits<double>::infinity()));
  EXPECT_EQ(out, "");
}

TEST(JsonWriter, WritesParsedValuesMinified) {
  simdjson::dom::parser parser;
  auto doc = parser.parse(std::string(R"({ "a" : [1, 2.5, "x\u0000y", true, null, {}], "b": -3 })"));
  std::string out;
  AppendElement(out, doc.value_unsafe());
  EXPECT_EQ(out, R"({"a":[1,2.5,"x\u0000y",true,null,{}],"b":-3})");
}

TEST(JsonWriter, RepairUtf8KeepsValidTextAndReplacesTheRest) {
  std::string out;
  RepairUtf8("ok\xC3\xA9\xC3", out);
  EXPECT_EQ(out, "ok\xC3\xA9\xEF\xBF\xBD");
}

}  // namespace
}  // namespace tailtrack::json
