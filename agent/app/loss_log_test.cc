#include "app/loss_log.h"

#include <gtest/gtest.h>

namespace tailtrack {
namespace {

TEST(LossLog, TheFirstLossIsLoggedAtOnceThenAtMostOnceAMinuteWithTheRunningTotal) {
  LossLog log;
  SourceLosses l;
  EXPECT_FALSE(log.Note("web", "CRI", l, 1'000)) << "nothing lost, nothing said";
  l.truncated = 1;
  EXPECT_TRUE(log.Note("web", "CRI", l, 2'000));
  l.truncated = 5;
  EXPECT_FALSE(log.Note("web", "CRI", l, 3'000)) << "within the minute";
  EXPECT_TRUE(log.Note("other", "CRI", l, 3'000)) << "each source has its own minute";
  EXPECT_TRUE(log.Note("web", "CRI", l, 62'000)) << "a minute later, the new total";
  EXPECT_FALSE(log.Note("web", "CRI", l, 200'000)) << "the totals did not move";
  l.dropped = 3;
  EXPECT_TRUE(log.Note("web", "CRI", l, 200'001));
}

TEST(SourceLosses, DescribeNamesTheNonZeroCountsOnly) {
  SourceLosses l;
  EXPECT_EQ(l.Describe("CRI"), "");
  l.skipped = 2;
  l.dropped = 7;
  l.undecodable = 1;
  EXPECT_EQ(l.Describe("docker"), "2 lines skipped for max_line_bytes, 7 lines dropped while the pipeline was full, "
                                  "1 lines were not docker records");
}

}  // namespace
}  // namespace tailtrack
