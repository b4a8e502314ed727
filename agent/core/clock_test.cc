#include "core/clock.h"

#include <gtest/gtest.h>

namespace tailtrack {

TEST(Clock, FormatsMillisecondsAsUtcIso8601) {
  EXPECT_EQ(FormatIsoMillis(0), "1970-01-01T00:00:00.000Z");
  // 2026-01-20T06:30:00.123Z
  EXPECT_EQ(FormatIsoMillis(1768890600123), "2026-01-20T06:30:00.123Z");
}

TEST(Clock, WallClockIsAfter2024) { EXPECT_GT(WallClockMillis(), 1704067200000); }

}  // namespace tailtrack

namespace tailtrack {

TEST(Clock, MonotonicMillisNeverGoesBackwards) {
  int64_t last = MonotonicMillis();
  for (int i = 0; i < 1000; ++i) {
    const int64_t now = MonotonicMillis();
    EXPECT_GE(now, last);
    last = now;
  }
}

}  // namespace tailtrack
