// libFuzzer: log timestamps through TimestampParser, with ISO 8601 and the
// strftime formats rules use (and a format from the bytes, as `format:` may
// be anything a user writes), in UTC or a zone with daylight saving time.
//
// Nothing may crash; an accepted time lies within the years 0000-9999; and the
// cache (the last second parsed, fraction cut out) never changes an answer: a
// parser that has just parsed another text says what a fresh one says.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "rules/timestamp.h"

namespace {

using namespace tailtrack;

constexpr int64_t kYear0Ms = -62'167'219'200'000;      // 0000-01-01T00:00:00Z
constexpr int64_t kYear10000Ms = 253'402'300'800'000;  // 10000-01-01T00:00:00Z
constexpr int64_t kDayMs = 86'400'000;                 // zones move a local time by less

const date::time_zone* Zone(int which) {
  static const date::time_zone* const zones[] = {
      nullptr,
      [] {
        try {
          return LocateZone("America/New_York");
        } catch (const std::runtime_error&) {
          return static_cast<const date::time_zone*>(nullptr);  // no tzdata: UTC twice
        }
      }(),
  };
  return zones[which];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  static const char* kFormats[] = {"", "", "%d/%b/%Y:%H:%M:%S %z", "%Y-%m-%d %H:%M:%S", "%b %d %H:%M:%S",
                                   "%y%m%d %H%M%S", "%Y-%m-%dT%H:%M:%S%Ez", "%s", "%FT%T", "%a, %d %b %Y %T %Z"};
  const size_t pick = in.ConsumeIntegralInRange<size_t>(0, std::size(kFormats));
  const std::string format = pick < std::size(kFormats) ? kFormats[pick] : in.ConsumeRandomLengthString(24);
  const date::time_zone* zone = Zone(in.ConsumeIntegralInRange(0, 1));
  const std::string other = in.ConsumeRandomLengthString(40);
  const std::string text = in.ConsumeRemainingBytesAsString();

  TimestampParser fresh(format);
  int64_t ms = 0;
  const bool ok = fresh.Parse(text, zone, &ms);
  if (ok && (ms < kYear0Ms - kDayMs || ms >= kYear10000Ms + kDayMs)) std::abort();

  // The same text again, and after another one: the same answer.
  int64_t again = 0;
  if (fresh.Parse(text, zone, &again) != ok || (ok && again != ms)) std::abort();
  TimestampParser used(format);
  int64_t ignored = 0;
  used.Parse(other, zone, &ignored);
  if (used.Parse(text, zone, &again) != ok || (ok && again != ms)) std::abort();
  return 0;
}
