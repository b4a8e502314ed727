#include "core/clock.h"

#include <date/date.h>

#include <chrono>

namespace tailtrack {

int64_t WallClockMillis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

int64_t MonotonicMillis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

void FormatIsoMillis(int64_t unix_millis, char out[24]) {
  using namespace std::chrono;
  const sys_time<milliseconds> tp{milliseconds{unix_millis}};
  const auto day = floor<date::days>(tp);
  const date::year_month_day ymd{day};
  const date::hh_mm_ss<milliseconds> hms{tp - day};
  const auto put = [&](int pos, int width, long long value) {
    for (int i = width - 1; i >= 0; --i, value /= 10) out[pos + i] = static_cast<char>('0' + value % 10);
  };
  put(0, 4, static_cast<int>(ymd.year()));
  out[4] = '-';
  put(5, 2, static_cast<unsigned>(ymd.month()));
  out[7] = '-';
  put(8, 2, static_cast<unsigned>(ymd.day()));
  out[10] = 'T';
  put(11, 2, hms.hours().count());
  out[13] = ':';
  put(14, 2, hms.minutes().count());
  out[16] = ':';
  put(17, 2, hms.seconds().count());
  out[19] = '.';
  put(20, 3, hms.subseconds().count());
  out[23] = 'Z';
}

std::string FormatIsoMillis(int64_t unix_millis) {
  std::string s(24, '\0');
  FormatIsoMillis(unix_millis, s.data());
  return s;
}

}  // namespace tailtrack
