// The value of a collector's Retry-After header (RFC 9110 §10.2.3): a number
// of seconds or an HTTP date. A pure function, apart from curl's date parser,
// so that it can be tested and fuzzed without a collector.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace tailtrack {

// No collector holds tailtrack back for longer than this at one time.
inline constexpr uint64_t kMaxRetryAfterMs = 3'600'000;

// The delay `value` asks for, in milliseconds, at wall-clock time `now_ms`
// (Unix milliseconds): at most kMaxRetryAfterMs, 0 for a date in the past;
// nullopt when it is neither digits nor a date curl can read.
std::optional<uint64_t> ParseRetryAfter(std::string_view value, int64_t now_ms);

}  // namespace tailtrack
