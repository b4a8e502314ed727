// Writes the Prometheus text exposition format 0.0.4: a # HELP and # TYPE
// line per family, then its samples. Label values are escaped; names are the
// caller's constants.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/histogram.h"

namespace tailtrack {

class PrometheusText {
 public:
  using Labels = std::vector<std::pair<std::string_view, std::string_view>>;

  // Starts a family: `type` is counter, gauge or histogram.
  void Family(std::string_view name, std::string_view type, std::string_view help);
  void Sample(std::string_view name, const Labels& labels, double value);
  void Sample(std::string_view name, double value) { Sample(name, {}, value); }
  // The _bucket, _sum and _count samples of a histogram family `name`.
  void HistogramSamples(std::string_view name, const Histogram& h);

  const std::string& text() const { return out_; }

 private:
  std::string out_;
};

// "1", "0.25", "1e+21", "+Inf", "NaN" as Prometheus reads them.
std::string FormatPromValue(double value);

}  // namespace tailtrack
