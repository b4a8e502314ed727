#include "rules/timestamp.h"

#include <gtest/gtest.h>

#include "core/clock.h"

namespace tailtrack {
namespace {

std::string Parse(const std::string& text, const std::string& format = {}, const std::string& zone = "UTC") {
  TimestampParser parser(format);
  int64_t ms = 0;
  if (!parser.Parse(text, LocateZone(zone), &ms)) return "fail";
  return FormatIsoMillis(ms);
}

TEST(Timestamp, ReadsIso8601WithAnyOffsetAndFraction) {
  const struct {
    const char* in;
    const char* out;
  } cases[] = {
      {"2026-01-20T06:30:00.123Z", "2026-01-20T06:30:00.123Z"},
      {"2026-01-20T06:30:10Z", "2026-01-20T06:30:10.000Z"},
      {"2026-01-20T08:30:03+02:00", "2026-01-20T06:30:03.000Z"},
      {"2026-01-20T08:30:03+0200", "2026-01-20T06:30:03.000Z"},
      {"2026-01-20T08:30:03+02", "2026-01-20T06:30:03.000Z"},
      {"2026-01-20T01:00:00.5-05:30", "2026-01-20T06:30:00.500Z"},
      {"2026-01-20 06:30:00.123456789Z", "2026-01-20T06:30:00.123Z"},
      {"2026-01-20T06:30:00,25Z", "2026-01-20T06:30:00.250Z"},
      {"2026-01-20T06:30:00", "2026-01-20T06:30:00.000Z"},
      {"2026-01-01T00:30:00+01:00", "2025-12-31T23:30:00.000Z"},
  };
  for (const auto& c : cases) EXPECT_EQ(Parse(c.in), c.out) << c.in;
}

TEST(Timestamp, RejectsWhatIsNotATime) {
  for (const char* bad : {"", "yesterday", "2026-01-20", "2026-13-20T06:30:00Z", "2026-01-20T06:30:00Zjunk",
                          "2026-01-20T06:30:00+25:00x", "Dec 10 06:55:46"}) {
    EXPECT_EQ(Parse(bad), "fail") << bad;
  }
}

TEST(Timestamp, RejectsYearsPastFourDigits) {
  EXPECT_EQ(Parse("12026-01-20T06:30:00Z"), "fail");
  EXPECT_EQ(Parse("0001-01-01T00:00:00Z"), "0001-01-01T00:00:00.000Z");
}

TEST(Timestamp, ReadsStrftimeFormats) {
  EXPECT_EQ(Parse("20/Jan/2026:07:30:02 +0100", "%d/%b/%Y:%H:%M:%S %z"), "2026-01-20T06:30:02.000Z");
  EXPECT_EQ(Parse("Sun Dec 04 04:47:44 2005", "%a %b %d %H:%M:%S %Y"), "2005-12-04T04:47:44.000Z");
  EXPECT_EQ(Parse("2015-07-29 17:41:44,747", "%Y-%m-%d %H:%M:%S"), "2015-07-29T17:41:44.747Z");
  EXPECT_EQ(Parse("20/Jan/2026", "%d/%b/%Y:%H:%M:%S %z"), "fail");
}

TEST(Timestamp, ReadsTimesWithoutOffsetInTheSourceZone) {
  EXPECT_EQ(Parse("2026-07-01T12:00:00", {}, "Europe/Berlin"), "2026-07-01T10:00:00.000Z");
  EXPECT_EQ(Parse("2026-01-20 12:00:00", "%Y-%m-%d %H:%M:%S", "America/New_York"), "2026-01-20T17:00:00.000Z");
  // An explicit offset wins over the zone.
  EXPECT_EQ(Parse("2026-07-01T12:00:00Z", {}, "Europe/Berlin"), "2026-07-01T12:00:00.000Z");
}

TEST(Timestamp, RepeatedSecondsComeFromTheCacheWithTheirOwnFraction) {
  TimestampParser parser;
  int64_t a = 0, b = 0, c = 0;
  ASSERT_TRUE(parser.Parse("2026-01-20T06:30:00.001Z", nullptr, &a));
  ASSERT_TRUE(parser.Parse("2026-01-20T06:30:00.999Z", nullptr, &b));
  EXPECT_FALSE(parser.Parse("2026-01-20T06:30:00.5Zx", nullptr, &c));
  ASSERT_TRUE(parser.Parse("2026-01-20T06:30:01Z", nullptr, &c));
  EXPECT_EQ(b - a, 998);
  EXPECT_EQ(c - a, 999);
}

TEST(Timestamp, UnknownZoneThrows) { EXPECT_THROW(LocateZone("Mars/Olympus"), std::runtime_error); }

}  // namespace
}  // namespace tailtrack
