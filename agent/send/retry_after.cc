#include "send/retry_after.h"

#include <curl/curl.h>

#include <algorithm>
#include <limits>
#include <string>

namespace tailtrack {

std::optional<uint64_t> ParseRetryAfter(std::string_view value, int64_t now_ms) {
  if (value.empty()) return std::nullopt;
  uint64_t ms;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    ms = value.size() > 7 ? kMaxRetryAfterMs : std::stoull(std::string(value)) * 1000;
  } else {
    const time_t when = curl_getdate(std::string(value).c_str(), nullptr);
    if (when < 0) return std::nullopt;
    // curl reads years of nine digits: past what milliseconds can count, a
    // date is as far as any. (Found by retry_after_fuzz.)
    if (when > std::numeric_limits<int64_t>::max() / 1000) return kMaxRetryAfterMs;
    const int64_t diff = static_cast<int64_t>(when) * 1000 - now_ms;
    ms = diff > 0 ? static_cast<uint64_t>(diff) : 0;
  }
  return std::min(ms, kMaxRetryAfterMs);
}

}  // namespace tailtrack
