#include "app/loss_log.h"

#include <fmt/format.h>

#include <vector>

namespace tailtrack {

std::string SourceLosses::Describe(std::string_view format_name) const {
  std::vector<std::string> parts;
  if (truncated > 0) parts.push_back(fmt::format("{} lines truncated for max_line_bytes", truncated));
  if (skipped > 0) parts.push_back(fmt::format("{} lines skipped for max_line_bytes", skipped));
  if (cut_clients > 0) parts.push_back(fmt::format("{} incomplete lines cut for clients_buffer", cut_clients));
  if (dropped > 0) parts.push_back(fmt::format("{} lines dropped while the pipeline was full", dropped));
  if (undecodable > 0) parts.push_back(fmt::format("{} lines were not {} records", undecodable, format_name));
  if (cut_records > 0) parts.push_back(fmt::format("{} records over max_line_bytes", cut_records));
  return fmt::format("{}", fmt::join(parts, ", "));
}

bool LossLog::Note(std::string_view source, std::string_view format_name, const SourceLosses& totals,
                   int64_t now_ms) {
  if (totals == SourceLosses{}) return false;
  auto [at, fresh] = logged_.try_emplace(std::string(source));
  if (!fresh && at->second == totals) return false;
  if (!throttle_.Due(source, now_ms)) return false;
  at->second = totals;
  Log(LogLevel::kWarn, "source {}: so far {}", source, totals.Describe(format_name));
  return true;
}

}  // namespace tailtrack
