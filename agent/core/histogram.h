// A fixed-bucket histogram, as Prometheus exposes one: counts per upper
// bound, a sum and a count. Observe() is a short scan over a handful of
// bounds and three additions: cheap enough for once per request or batch.
// One thread.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace tailtrack {

class Histogram {
 public:
  // `bounds` ascending; a last +Inf bucket is implied.
  Histogram(std::initializer_list<double> bounds) : bounds_(bounds), counts_(bounds_.size() + 1, 0) {}

  void Observe(double value) {
    size_t i = 0;
    while (i < bounds_.size() && value > bounds_[i]) ++i;
    ++counts_[i];
    sum_ += value;
    ++count_;
  }

  const std::vector<double>& bounds() const { return bounds_; }
  // Per bucket, not cumulative; the last one is +Inf.
  const std::vector<uint64_t>& counts() const { return counts_; }
  double sum() const { return sum_; }
  uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

}  // namespace tailtrack
