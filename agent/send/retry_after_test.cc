#include "send/retry_after.h"

#include <gtest/gtest.h>

namespace tailtrack {
namespace {

constexpr int64_t kNow = 1'768'890'601'000;  // Tue, 20 Jan 2026 06:30:01 GMT

TEST(RetryAfter, SecondsAreTakenAsTheyAreUpToAnHour) {
  EXPECT_EQ(ParseRetryAfter("0", kNow), 0u);
  EXPECT_EQ(ParseRetryAfter("120", kNow), 120'000u);
  EXPECT_EQ(ParseRetryAfter("3600", kNow), kMaxRetryAfterMs);
  EXPECT_EQ(ParseRetryAfter("3601", kNow), kMaxRetryAfterMs);
  EXPECT_EQ(ParseRetryAfter("99999999999999999999999", kNow), kMaxRetryAfterMs);
}

TEST(RetryAfter, AnHttpDateInAnyOfItsFormsIsTheTimeLeftUntilIt) {
  EXPECT_EQ(ParseRetryAfter("Tue, 20 Jan 2026 06:31:01 GMT", kNow), 60'000u);
  EXPECT_EQ(ParseRetryAfter("Tuesday, 20-Jan-26 06:31:01 GMT", kNow), 60'000u);
  EXPECT_EQ(ParseRetryAfter("Tue Jan 20 06:31:01 2026", kNow), 60'000u);
  EXPECT_EQ(ParseRetryAfter("Mon, 19 Jan 2026 06:31:01 GMT", kNow), 0u);  // in the past: at once
  EXPECT_EQ(ParseRetryAfter("Fri, 31 Dec 9999 23:59:59 GMT", kNow), kMaxRetryAfterMs);
}

// Found by retry_after_fuzz: curl reads a nine-digit year, whose seconds
// overflowed when counted in milliseconds.
TEST(RetryAfter, ADateTooFarToCountInMillisecondsIsTheLongestDelay) {
  EXPECT_EQ(ParseRetryAfter("Fri, 31 Dec 999999999 23:59:59 GMT", kNow), kMaxRetryAfterMs);
}

TEST(RetryAfter, AnythingElseSaysNothing) {
  for (const char* value : {"", "-1", "1.5", "soon", "120 seconds"}) {
    EXPECT_EQ(ParseRetryAfter(value, kNow), std::nullopt) << value;
  }
}

}  // namespace
}  // namespace tailtrack
