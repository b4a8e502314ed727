// libFuzzer: a collector's Retry-After value through ParseRetryAfter, as
// arbitrary bytes and as an HTTP date made from the bytes.
//
// Whatever the value, the delay is at most kMaxRetryAfterMs; digits say their
// own number of seconds; and an IMF-fixdate (RFC 9110), in any of the three
// forms RFC 9110 lets a recipient read, comes back as the time it names.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <string>

#include "send/retry_after.h"

namespace {

using namespace tailtrack;

constexpr int64_t kNowMs = 1'768'890'601'234;  // 2026-01-20T06:30:01.234Z

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const int64_t offset_s = in.ConsumeIntegralInRange<int64_t>(-400'000'000, 4'000'000'000);
  const int form = in.ConsumeIntegralInRange(0, 2);
  const std::string value = in.ConsumeRemainingBytesAsString();

  const auto ms = ParseRetryAfter(value, kNowMs);
  if (ms && *ms > kMaxRetryAfterMs) std::abort();
  const bool digits = !value.empty() && value.find_first_not_of("0123456789") == std::string::npos;
  if (digits) {
    if (!ms) std::abort();
    const uint64_t want = value.size() > 7 ? kMaxRetryAfterMs : std::min<uint64_t>(std::stoull(value) * 1000, kMaxRetryAfterMs);
    if (*ms != want) std::abort();
  }

  // A date `offset_s` seconds from now, written as a collector would.
  const time_t when = kNowMs / 1000 + offset_s;
  std::tm tm{};
  if (!gmtime_r(&when, &tm)) return 0;
  static const char* kForms[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"};
  char date[64];
  if (std::strftime(date, sizeof date, kForms[form], &tm) == 0) return 0;
  if (form == 1 && (tm.tm_year < 80 || tm.tm_year >= 160)) return 0;  // two digits: 1980-2059 are unambiguous
  const auto dated = ParseRetryAfter(date, kNowMs);
  const int64_t diff = static_cast<int64_t>(when) * 1000 - kNowMs;
  const uint64_t want = diff > 0 ? std::min<uint64_t>(diff, kMaxRetryAfterMs) : 0;
  if (!dated || *dated != want) std::abort();
  return 0;
}
