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

// The reader of formats answers as date::parse does (which it replaced,
// because date::parse's failure paths are undefined behaviour): each
// expectation is what date::parse 3.0.1 (Debian 12) gave for the same format
// and text, in UTC; -1 where it refused the text.
TEST(Timestamp, ReadsFormatsAsDateParseDid) {
  const struct {
    const char* format;
    const char* text;
    int64_t seconds;
  } cases[] = {
      {"%d/%b/%Y:%H:%M:%S %z", "10/Oct/2000:13:55:36 -0700", 971211336},
      {"%d/%b/%Y:%H:%M:%S %z", "10/oct/2000:13:55:36 -0700", 971211336},
      {"%d/%b/%Y:%H:%M:%S %z", "10/OCT/2000:13:55:36 -0700", 971211336},
      {"%d/%b/%Y:%H:%M:%S %z", "10/October/2000:13:55:36 -0700", 971211336},
      {"%d/%b/%Y:%H:%M:%S %z", "10/Octo/2000:13:55:36 -0700", -1},
      {"%d/%b/%Y:%H:%M:%S %z", "10/Oct/2000:13:55:36 0700", 971160936},
      {"%d/%b/%Y:%H:%M:%S %z", "10/Oct/2000:13:55:36 +07", 971160936},
      {"%d/%b/%Y:%H:%M:%S %z", "10/Oct/2000:13:55:36 +07:00", -1},
      {"%d/%b/%Y:%H:%M:%S %z", "10/Oct/2000:13:55:36  -0700", 971211336},
      {"%d/%b/%Y:%H:%M:%S %z", "10/Oct/2000:13:55:36-0700", 971211336},
      {"%d/%b/%Y:%H:%M:%S %z", "1/Oct/2000:3:5:6 -0700", 970394706},
      {"%d/%b/%Y:%H:%M:%S %z", "10/Oct/2000:13:55:60 -0700", -1},
      {"%d/%b/%Y:%H:%M:%S %z", "10/Oct/2000:24:55:00 -0700", -1},
      {"%d/%b/%Y:%H:%M:%S %z", "31/Feb/2000:13:55:00 -0700", -1},
      {"%a %b %d %H:%M:%S %Y", "Tue Oct 10 13:55:36 2000", 971186136},
      {"%a %b %d %H:%M:%S %Y", "Mon Oct 10 13:55:36 2000", -1},  // not a Monday
      {"%a %b %d %H:%M:%S %Y", "tue Oct 10 13:55:36 2000", 971186136},
      {"%a %b %d %H:%M:%S %Y", "Tuesday Oct 10 13:55:36 2000", 971186136},
      {"%a %b %e %H:%M:%S %Y", "Sun Oct  1 13:55:36 2000", 970408536},
      {"%b %d %H:%M:%S", "Oct 10 13:55:36", -1},  // no year
      {"%Y-%m-%d", "2000-10-10", 971136000},
      {"%Y-%m-%d %H:%M", "2000-10-10 13:55", 971186100},
      {"%Y-%m-%d %I:%M:%S %p", "2000-10-10 01:55:00 PM", 971186100},
      {"%Y-%m-%d %I:%M:%S %p", "2000-10-10 01:55:00 pm", 971186100},
      {"%Y-%m-%d %I:%M:%S %p", "2000-10-10 12:55:00 AM", 971139300},
      {"%Y-%m-%d %I:%M:%S", "2000-10-10 01:55:00", -1},  // %I without %p
      {"%y%m%d %H%M%S", "001010 135536", 971186136},
      {"%y%m%d %H%M%S", "691010 135536", -7121064},
      {"%y-%m-%d", "68-10-10", 3117052800},
      {"%Y-%m-%d", "+2000-10-10", 971136000},
      {"%Y-%m-%d", "20000-10-10", -1},
      {"%Y %j", "2000 366", 978220800},
      {"%FT%T", "2000-10-10T13:55:36", 971186136},
      {"%Y-%m-%dT%H:%M:%S", "2000-10-10T13:55:36 ", -1},
      {"%Y-%m-%d %H:%M:%S", "2000-10-10   13:55:36", 971186136},
      {"%Y-%m-%d %H:%M:%S", "2000-10-1013:55:36", 971186136},
      {"%Y-%m-%d %H:%M:%S", " 2000-10-10 13:55:36", -1},
      {"%Y-%m-%d%n%H:%M:%S", "2000-10-10 13:55:36", 971186136},
      {"%Y-%m-%d%t%H:%M:%S", "2000-10-1013:55:36", 971186136},
      {"%Y-%m-%d %H:%M:%S %Z", "2000-10-10 13:55:36 GMT", 971186136},
      {"%Y-%m-%dT%H:%M:%S%Ez", "2000-10-10T13:55:36+5:30", 971166336},
      {"%Y-%m-%dT%H:%M:%S%Ez", "2000-10-10T13:55:36+05", 971168136},
      {"%Y-%m-%dT%H:%M:%S%Ez", "2000-10-10T13:55:36+0530", -1},
      {"%Y-%m-%d %H:%M:%S", "2000-10-10 13:55:6", 971186106},
      {"%Y-%m-%d %H:%M:%S", "2000-10-10 13:55:123", -1},
      {"%Y-%m-%d %H:%M:%S", "2000-1-1 1:5:6", 946688706},
      {"%Y/%m/%d", "0/1/1", -62167219200},
      {"%d.%m.%Y %H:%M:%S", "10.10.2000 13:55:36", 971186136},
      {"%Y-%m-%d %H:%M:%S%%", "2000-10-10 13:55:36%", 971186136},
      {"%Y-%m-%d %u", "2000-10-10 2", 971136000},
      {"%Y-%m-%d %u", "2000-10-10 3", -1},
      {"%D %T", "10/10/00 13:55:36", 971186136},
      {"%c", "Tue Oct 10 13:55:36 2000", -1},
      {"%Y-%m-%d %4H", "2000-10-10 0013", 971182800},
      {"%Y-%m-%d %OH", "2000-10-10 13", 971182800},
      {"%s", "971186136", -1},
      {"%Y-%m-%d %M", "2000-10-10 13", 971136780},
      {"%Y-%m-%d %S", "2000-10-10 13", 971136013},
      {"%Y-%m-%d %X", "2000-10-10 13:55:36", 971186136},
      {"%x %H:%M:%S", "10/10/00 13:55:36", 971186136},
      {"%Y-%m-%d %r", "2000-10-10 01:55:36 PM", 971186136},
      {"%C%y-%m-%d", "2000-10-10", 971136000},
      {"%Y-%m-%d %U", "2000-10-10 41", 971136000},
      {"%Y %j %m %d", "2000 284 10 10", 971136000},
      {"%Y %j %m %d", "2000 285 10 10", -1},
      {"%Y %Y-%m-%d", "2001 2000-10-10", -1},
      {"%Y %Y-%m-%d", "2000 2000-10-10", 971136000},
      {"%Y-%m-%d %H %I:%M %p", "2000-10-10 13 01:55 PM", -1},
      {"%Y-%m-%d %H:%M %p", "2000-10-10 13:55 PM", 971186100},
      {"%Y-%m-%d%", "2000-10-10%", 971136000},
  };
  for (const auto& c : cases) {
    TimestampParser parser(c.format);
    int64_t ms = 0;
    const int64_t got = parser.Parse(c.text, nullptr, &ms) ? ms / 1000 : -1;
    EXPECT_EQ(got, c.seconds) << c.format << " on \"" << c.text << "\"";
  }
}

// Where date::parse took nonsense, the reader refuses it: an offset of 24
// hours or more, or of 60 minutes or more (date::parse read +2400 and +0099).
TEST(Timestamp, RefusesOffsetsNoZoneHas) {
  EXPECT_EQ(Parse("10/Oct/2000:13:55:36 +2400", "%d/%b/%Y:%H:%M:%S %z"), "fail");
  EXPECT_EQ(Parse("10/Oct/2000:13:55:36 +0099", "%d/%b/%Y:%H:%M:%S %z"), "fail");
  EXPECT_EQ(Parse("10/Oct/2000:13:55:36 +2359", "%d/%b/%Y:%H:%M:%S %z"), "2000-10-09T13:56:36.000Z");
}

// What the fuzzer found date::parse reading uninitialised or overflowing:
// the reader refuses such text, and a huge width in the format is harmless.
TEST(Timestamp, MalformedTextAndFormatsAreRefusedCleanly) {
  EXPECT_EQ(Parse("TMonue, 20 Jan 282& 06:30:01 GMT", "%a, %d %b %Y %T %Z"), "fail");
  EXPECT_EQ(Parse("2000-10-10 13:55:xx", "%Y-%m-%d %T"), "fail");
  EXPECT_EQ(Parse("2000-10-10 13:55:36 -9223372036854775808", "%Y-%m-%d %T %z"), "fail");
  EXPECT_EQ(Parse("2000-10-10", "%99999999999999999999Y-%m-%d"), "2000-10-10T00:00:00.000Z");
  EXPECT_EQ(Parse("2000-10-10", "%Y-%m-%d%"), "fail");
  EXPECT_EQ(Parse("2000-10-10", "%Y-%m-%d%E"), "fail");
}

TEST(Timestamp, UnknownZoneThrows) { EXPECT_THROW(LocateZone("Mars/Olympus"), std::runtime_error); }

}  // namespace
}  // namespace tailtrack
