#include "core/error.h"

#include <gtest/gtest.h>

namespace tailtrack {

TEST(ConfigError, WhatIsOneLineWithFileLineAndColumn) {
  ConfigError e("c.yaml", Mark{3, 7}, "unknown key \"colector\"");
  EXPECT_STREQ(e.what(), "c.yaml:3:7: unknown key \"colector\"");
  EXPECT_EQ(e.mark().line, 3);
  EXPECT_EQ(e.message(), "unknown key \"colector\"");
}

TEST(ConfigError, LineBreaksInWhatItQuotesAreWrittenOut) {
  ConfigError e("c.yaml", Mark{3, 7}, "bad regex: a\nb\r\nc");
  EXPECT_STREQ(e.what(), "c.yaml:3:7: bad regex: a\\nb\\r\\nc");
  EXPECT_EQ(e.message(), "bad regex: a\\nb\\r\\nc");
}

}  // namespace tailtrack
