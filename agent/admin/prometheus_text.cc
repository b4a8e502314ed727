#include "admin/prometheus_text.h"

#include <fmt/format.h>

#include <cmath>

namespace tailtrack {

std::string FormatPromValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Counters are integers: printed whole up to 2^53, where doubles stay exact.
  if (value == std::floor(value) && std::fabs(value) < 9007199254740992.0) {
    return fmt::format("{}", static_cast<int64_t>(value));
  }
  return fmt::format("{}", value);
}

void PrometheusText::Family(std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void PrometheusText::Sample(std::string_view name, const Labels& labels, double value) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out_ += ',';
      out_ += labels[i].first;
      out_ += "=\"";
      for (char c : labels[i].second) {
        if (c == '\\') out_ += "\\\\";
        else if (c == '"') out_ += "\\\"";
        else if (c == '\n') out_ += "\\n";
        else out_ += c;
      }
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  out_ += FormatPromValue(value);
  out_ += '\n';
}

void PrometheusText::HistogramSamples(std::string_view name, const Histogram& h) {
  const std::string bucket = fmt::format("{}_bucket", name);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.counts().size(); ++i) {
    cumulative += h.counts()[i];
    const std::string le = i < h.bounds().size() ? FormatPromValue(h.bounds()[i]) : "+Inf";
    Sample(bucket, {{"le", le}}, static_cast<double>(cumulative));
  }
  Sample(fmt::format("{}_sum", name), h.sum());
  Sample(fmt::format("{}_count", name), static_cast<double>(h.count()));
}

}  // namespace tailtrack
