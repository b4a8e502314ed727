#include "admin/prometheus_text.h"

#include <gtest/gtest.h>

namespace tailtrack {
namespace {

TEST(PrometheusText, WritesHelpTypeAndSamplesWithEscapedLabelValues) {
  PrometheusText p;
  p.Family("tailtrack_lines_read_total", "counter", "Lines read, per source.");
  p.Sample("tailtrack_lines_read_total", {{"source", "web"}}, 1000);
  p.Sample("tailtrack_lines_read_total", {{"source", "a\"b\\c\nd"}}, 0);
  p.Family("tailtrack_ready", "gauge", "1 when ready.");
  p.Sample("tailtrack_ready", 1);
  EXPECT_EQ(p.text(),
            "# HELP tailtrack_lines_read_total Lines read, per source.\n"
            "# TYPE tailtrack_lines_read_total counter\n"
            "tailtrack_lines_read_total{source=\"web\"} 1000\n"
            "tailtrack_lines_read_total{source=\"a\\\"b\\\\c\\nd\"} 0\n"
            "# HELP tailtrack_ready 1 when ready.\n"
            "# TYPE tailtrack_ready gauge\n"
            "tailtrack_ready 1\n");
}

TEST(PrometheusText, AHistogramHasCumulativeBucketsEndingInInfThenSumAndCount) {
  Histogram h{0.1, 1};
  for (double v : {0.05, 0.1, 0.5, 3.0}) h.Observe(v);
  PrometheusText p;
  p.HistogramSamples("x_seconds", h);
  EXPECT_EQ(p.text(),
            "x_seconds_bucket{le=\"0.1\"} 2\n"
            "x_seconds_bucket{le=\"1\"} 3\n"
            "x_seconds_bucket{le=\"+Inf\"} 4\n"
            "x_seconds_sum 3.65\n"
            "x_seconds_count 4\n");
}

TEST(PrometheusText, ValuesAreWholeNumbersWhenTheyCanBe) {
  EXPECT_EQ(FormatPromValue(0), "0");
  EXPECT_EQ(FormatPromValue(1764514800.5), "1764514800.5");
  EXPECT_EQ(FormatPromValue(18446744073709551615.0), "1.8446744073709552e+19");
}

}  // namespace
}  // namespace tailtrack
