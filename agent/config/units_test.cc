#include "config/units.h"

#include <gtest/gtest.h>

namespace tailtrack {
namespace {

TEST(ConfigDurations, AcceptTheUnitsAndTheirCombinations) {
  const struct {
    const char* text;
    int64_t ms;
  } cases[] = {{"250ms", 250},     {"5s", 5000},          {"1m", 60'000},  {"1h", 3'600'000},
               {"1d", 86'400'000}, {"1m30s", 90'000},     {"1h30m", 5'400'000},
               {"0s", 0},          {"2h0m5s", 7'205'000}, {"1s500ms", 1500}};
  for (const auto& c : cases) {
    std::string why;
    const auto d = ParseDuration(c.text, &why);
    ASSERT_TRUE(d.has_value()) << c.text << ": " << why;
    EXPECT_EQ(d->count(), c.ms) << c.text;
  }
}

TEST(ConfigDurations, RejectGarbageWithAReason) {
  const struct {
    const char* text;
    const char* why;
  } cases[] = {
      {"", "expected a number and a unit (ms, s, m, h, d), e.g. 250ms, 5s, 1m30s"},
      {"5", "a unit is required (ms, s, m, h, d), e.g. 250ms, 5s, 1m30s"},
      {"-5s", "durations cannot be negative"},
      {"5x", "expected a number and a unit (ms, s, m, h, d), e.g. 250ms, 5s, 1m30s"},
      {"1.5s", "write whole numbers, e.g. 1500ms rather than 1.5s"},
      {"5 s", "a unit is required (ms, s, m, h, d), e.g. 250ms, 5s, 1m30s"},
      {"s", "expected a number and a unit (ms, s, m, h, d), e.g. 250ms, 5s, 1m30s"},
      {"30s1m", "write the units largest first, each once, e.g. 1h30m"},
      {"1s1s", "write the units largest first, each once, e.g. 1h30m"},
      {"99999999999999999999s", "the number is too large"},
      {"9999999999999999d", "the duration is too long"},
      {"5S", "expected a number and a unit (ms, s, m, h, d), e.g. 250ms, 5s, 1m30s"},
  };
  for (const auto& c : cases) {
    std::string why;
    EXPECT_FALSE(ParseDuration(c.text, &why).has_value()) << c.text;
    EXPECT_EQ(why, c.why) << c.text;
  }
}

TEST(ConfigDurations, FormatAsTheShortestExactSpelling) {
  EXPECT_EQ(FormatDuration(Duration(0)), "0s");
  EXPECT_EQ(FormatDuration(Duration(250)), "250ms");
  EXPECT_EQ(FormatDuration(Duration(90'000)), "1m30s");
  EXPECT_EQ(FormatDuration(Duration(86'400'000)), "1d");
}

TEST(ConfigSizes, AcceptBinaryAndDecimalUnits) {
  const struct {
    const char* text;
    uint64_t bytes;
  } cases[] = {{"512", 512},
               {"512B", 512},
               {"500KiB", 500 * 1024},
               {"64MiB", 64ull << 20},
               {"1GiB", 1ull << 30},
               {"2TiB", 2ull << 40},
               {"10KB", 10'000},
               {"5MB", 5'000'000},
               {"1GB", 1'000'000'000},
               {"1kib", 1024},
               {"64 MiB", 64ull << 20},
               {"0", 0}};
  for (const auto& c : cases) {
    std::string why;
    const auto size = ParseSize(c.text, &why);
    ASSERT_TRUE(size.has_value()) << c.text << ": " << why;
    EXPECT_EQ(*size, c.bytes) << c.text;
  }
}

TEST(ConfigSizes, RejectGarbageWithAReason) {
  const std::string expected =
      "expected a number of bytes and a unit (B, KB, MB, GB, KiB, MiB, GiB), e.g. 512B, 500KiB, 64MiB";
  const struct {
    const char* text;
    std::string why;
  } cases[] = {{"", expected},
               {"lots", expected},
               {"-1MiB", "sizes cannot be negative"},
               {"1.5GiB", "write whole numbers, e.g. 1536MiB rather than 1.5GiB"},
               {"10 XB", expected},
               {"MiB", expected},
               {"1MiB ", expected},
               {"99999999999999999999", "the number is too large"},
               {"99999999999TiB", "the size is too large"}};
  for (const auto& c : cases) {
    std::string why;
    EXPECT_FALSE(ParseSize(c.text, &why).has_value()) << c.text;
    EXPECT_EQ(why, c.why) << c.text;
  }
}

TEST(ConfigSizes, FormatWithTheLargestExactBinaryUnit) {
  EXPECT_EQ(FormatSize(0), "0B");
  EXPECT_EQ(FormatSize(1000), "1000B");
  EXPECT_EQ(FormatSize(500 * 1024), "500KiB");
  EXPECT_EQ(FormatSize(1ull << 30), "1GiB");
}

}  // namespace
}  // namespace tailtrack
