#include "core/log.h"

#include <gtest/gtest.h>

namespace tailtrack {
namespace {

TEST(LogThrottle, LetsTheFirstMessageOfACauseThrough) {
  LogThrottle throttle;
  EXPECT_TRUE(throttle.Due("http 503", 1'000));
  EXPECT_TRUE(throttle.Due("curl 7", 1'000));
}

TEST(LogThrottle, HoldsACauseForAMinuteThenLetsItThroughAgain) {
  LogThrottle throttle;
  EXPECT_TRUE(throttle.Due("http 503", 1'000));
  EXPECT_FALSE(throttle.Due("http 503", 1'001));
  EXPECT_FALSE(throttle.Due("http 503", 1'000 + LogThrottle::kWindowMs - 1));
  EXPECT_TRUE(throttle.Due("http 503", 1'000 + LogThrottle::kWindowMs));
  EXPECT_FALSE(throttle.Due("http 503", 1'000 + LogThrottle::kWindowMs + 1));
}

TEST(LogThrottle, CountsFromZeroOnTheMonotonicClock) {
  // MonotonicMillis() may be small after boot: 0 is a time, not "never".
  LogThrottle throttle;
  EXPECT_TRUE(throttle.Due("x", 0));
  EXPECT_FALSE(throttle.Due("x", 10));
}

TEST(LogThrottle, AForgottenCauseIsLoggedAtOnce) {
  LogThrottle throttle;
  EXPECT_TRUE(throttle.Due("open /a", 5));
  throttle.Forget("open /a");
  EXPECT_TRUE(throttle.Due("open /a", 6));
}

}  // namespace
}  // namespace tailtrack

namespace tailtrack {
namespace {

TEST(RecentProblems, KeepsTheLastTenWarningsAndErrorsOldestFirstAsOneLineEach) {
  Log(LogLevel::kInfo, "not kept: info");
  for (int i = 0; i < 12; ++i) Log(i % 2 ? LogLevel::kError : LogLevel::kWarn, "problem {}\nsecond line", i);
  const std::vector<LogRecord> recent = RecentProblems();
  ASSERT_EQ(recent.size(), kRecentProblems);
  for (size_t i = 0; i < recent.size(); ++i) {
    EXPECT_EQ(recent[i].message, fmt::format("problem {} second line", i + 2));
    EXPECT_EQ(recent[i].level, (i + 2) % 2 ? LogLevel::kError : LogLevel::kWarn);
    EXPECT_GT(recent[i].at_ms, 1'700'000'000'000);
  }
  EXPECT_EQ(LogLevelName(recent[0].level), "warn");
}

}  // namespace
}  // namespace tailtrack
