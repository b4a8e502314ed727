#include "rules/timestamp.h"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <cctype>
#include <limits>

namespace tailtrack {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Finds fractional seconds written as ":SS.fff" or ":SS,fff": returns the index
// of the '.'/',' and the end of the digits, or npos.
size_t FindFraction(std::string_view text, size_t* end) {
  for (size_t i = 0; i + 4 < text.size(); ++i) {
    if (text[i] == ':' && IsDigit(text[i + 1]) && IsDigit(text[i + 2]) &&
        (text[i + 3] == '.' || text[i + 3] == ',') && IsDigit(text[i + 4])) {
      size_t j = i + 4;
      while (j < text.size() && IsDigit(text[j])) ++j;
      *end = j;
      return i + 3;
    }
  }
  return std::string_view::npos;
}

// What a format read from a text: the fields date::parse would set. A field
// read twice must agree with itself (`%Y ... %Y`), as with date::parse.
struct TimeFields {
  static constexpr int kUnset = std::numeric_limits<int>::min();
  int year = kUnset;     // %Y
  int century = kUnset;  // %C
  int yy = kUnset;       // %y
  int month = kUnset;
  int day = kUnset;
  int yday = kUnset;     // %j
  int hour = kUnset;     // %H
  int hour12 = kUnset;   // %I
  int pm = kUnset;       // %p: 0 AM, 1 PM
  int minute = kUnset;
  int second = kUnset;
  int weekday = kUnset;  // 0 Sunday .. 6 Saturday
  int offset = kUnset;   // minutes east of UTC
};

// Sets `*field` to `value`, or checks that it already is.
bool Set(int* field, int value) {
  if (*field != TimeFields::kUnset && *field != value) return false;
  *field = value;
  return true;
}

bool IsSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// From 1 to `max_digits` digits, after a sign if `sign`.
bool ReadNumber(std::string_view text, size_t* at, int max_digits, bool sign, int* out) {
  size_t i = *at;
  bool negative = false;
  if (sign && i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
  int value = 0, digits = 0;
  max_digits = std::min(max_digits, 9);  // an int; no field is longer
  while (digits < max_digits && i < text.size() && IsDigit(text[i])) {
    value = value * 10 + (text[i++] - '0');
    ++digits;
  }
  if (digits == 0) return false;
  *out = negative ? -value : value;
  *at = i;
  return true;
}

bool ReadInRange(std::string_view text, size_t* at, int max_digits, int lo, int hi, int* out) {
  return ReadNumber(text, at, max_digits, false, out) && *out >= lo && *out <= hi;
}

// A month or weekday name, whole or its first three letters, in any case.
bool ReadName(std::string_view text, size_t* at, const char* const* names, int count, int* index) {
  for (const size_t len : {size_t{0}, size_t{3}}) {  // 0: the whole name
    for (int n = 0; n < count; ++n) {
      const std::string_view whole(names[n]);
      const std::string_view name = whole.substr(0, len == 0 ? whole.size() : len);
      if (text.size() - *at < name.size()) continue;
      bool same = true;
      for (size_t k = 0; k < name.size() && same; ++k) same = Lower(text[*at + k]) == Lower(name[k]);
      if (same) {
        *at += name.size();
        *index = n;
        return true;
      }
    }
  }
  return false;
}

constexpr const char* kMonths[] = {"January", "February", "March",     "April",   "May",      "June",
                                   "July",    "August",   "September", "October", "November", "December"};
constexpr const char* kWeekdays[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};

// +hh, +hhmm (%z) or +h[h][:mm] (%Ez); the sign may be left out, as
// date::parse allows.
bool ReadOffset(std::string_view text, size_t* at, bool colon, int* minutes) {
  size_t i = *at;
  const bool negative = i < text.size() && text[i] == '-';
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
  int h = 0, m = 0;
  const size_t before = i;
  if (!ReadNumber(text, &i, 2, false, &h) || (!colon && i - before != 2) || h > 23) return false;
  if (colon ? (i < text.size() && text[i] == ':') : (i < text.size() && IsDigit(text[i]))) {
    if (colon) ++i;
    const size_t from = i;
    if (!ReadNumber(text, &i, 2, false, &m) || i - from != 2 || m > 59) return false;
  }
  *minutes = (negative ? -1 : 1) * (h * 60 + m);
  *at = i;
  return true;
}

// Reads `text` from `*at` by the strftime-style `format`, as date::parse
// does for the directives log formats use (checked against it in
// timestamp_test.cc). By hand because date::parse's failure paths read an
// uninitialised value and overflow on malformed text (UBSan, fuzzing), and a
// log line is untrusted input. An unknown directive fails.
bool Scan(std::string_view format, std::string_view text, size_t* at, TimeFields* f) {
  for (size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if (IsSpace(c)) {  // any run of white space, or none
      while (*at < text.size() && IsSpace(text[*at])) ++*at;
      continue;
    }
    if (c != '%') {
      if (*at >= text.size() || text[*at] != c) return false;
      ++*at;
      continue;
    }
    // %[width][E|O]directive
    int width = 0;
    while (++i < format.size() && IsDigit(format[i])) width = std::min(width * 10 + (format[i] - '0'), 100);
    bool alternative = false;
    if (i < format.size() && (format[i] == 'E' || format[i] == 'O')) {
      alternative = true;
      ++i;
    }
    if (i >= format.size()) {  // a lone % at the end is itself, as date::parse reads it
      if (width > 0 || alternative || *at >= text.size() || text[*at] != '%') return false;
      ++*at;
      break;
    }
    auto digits = [&](int usual) { return width > 0 ? width : usual; };
    // Reads a number of `usual` digits at most (or the width) within [lo, hi] into `*field`.
    auto number = [&](int usual, int lo, int hi, int* field) {
      int v = 0;
      return ReadInRange(text, at, digits(usual), lo, hi, &v) && Set(field, v);
    };
    int v = 0;
    switch (format[i]) {
      case 'Y':
        if (!ReadNumber(text, at, digits(4), true, &v) || !Set(&f->year, v)) return false;
        break;
      case 'C':
        if (!number(2, 0, 99, &f->century)) return false;
        break;
      case 'y':
        if (!number(2, 0, 99, &f->yy)) return false;
        break;
      case 'm':
        if (!number(2, 1, 12, &f->month)) return false;
        break;
      case 'd':
      case 'e':
        if (!number(2, 1, 31, &f->day)) return false;
        break;
      case 'j':
        if (!number(3, 1, 366, &f->yday)) return false;
        break;
      case 'H':
        if (!number(2, 0, 23, &f->hour)) return false;
        break;
      case 'I':
        if (!number(2, 1, 12, &f->hour12)) return false;
        break;
      case 'M':
        if (!number(2, 0, 59, &f->minute)) return false;
        break;
      case 'S':
        if (!number(2, 0, 59, &f->second)) return false;
        break;
      case 'U':  // week numbers: read; the date comes from the other fields
      case 'W':
      case 'V':
        if (!ReadInRange(text, at, digits(2), 0, 53, &v)) return false;
        break;
      case 'G':  // the ISO 8601 week-based year, and its last two digits: read, not used
        if (!ReadNumber(text, at, digits(4), true, &v)) return false;
        break;
      case 'g':
        if (!ReadInRange(text, at, digits(2), 0, 99, &v)) return false;
        break;
      case 'p': {
        static constexpr const char* kHalves[] = {"AM", "PM"};
        if (!ReadName(text, at, kHalves, 2, &v) || !Set(&f->pm, v)) return false;
        break;
      }
      case 'b':
      case 'B':
      case 'h':
        if (!ReadName(text, at, kMonths, 12, &v) || !Set(&f->month, v + 1)) return false;
        break;
      case 'a':
      case 'A':
        if (!ReadName(text, at, kWeekdays, 7, &v) || !Set(&f->weekday, v)) return false;
        break;
      case 'u':  // 1 Monday .. 7 Sunday
        if (!ReadInRange(text, at, 1, 1, 7, &v) || !Set(&f->weekday, v % 7)) return false;
        break;
      case 'w':
        if (!number(1, 0, 6, &f->weekday)) return false;
        break;
      case 'z':
        if (!ReadOffset(text, at, alternative, &v) || !Set(&f->offset, v)) return false;
        break;
      case 'Z': {  // a zone's name or abbreviation: read, not used
        const size_t from = *at;
        while (*at < text.size() && (std::isalnum(static_cast<unsigned char>(text[*at])) || text[*at] == '_' ||
                                     text[*at] == '/' || text[*at] == '-' || text[*at] == '+')) {
          ++*at;
        }
        if (*at == from) return false;
        break;
      }
      case 'T':
      case 'X':
        if (!Scan("%H:%M:%S", text, at, f)) return false;
        break;
      case 'R':
        if (!Scan("%H:%M", text, at, f)) return false;
        break;
      case 'r':
        if (!Scan("%I:%M:%S %p", text, at, f)) return false;
        break;
      case 'F':
        if (!Scan(width > 0 ? "%" + std::to_string(width) + "Y-%m-%d" : "%Y-%m-%d", text, at, f)) return false;
        break;
      case 'D':
      case 'x':
        if (!Scan("%m/%d/%y", text, at, f)) return false;
        break;
      case 'n':  // one white space
        if (*at >= text.size() || !IsSpace(text[*at])) return false;
        ++*at;
        break;
      case 't':  // one white space, or none
        if (*at < text.size() && IsSpace(text[*at])) ++*at;
        break;
      case '%':
        if (*at >= text.size() || text[*at] != '%') return false;
        ++*at;
        break;
      default:
        return false;
    }
  }
  return true;
}

// The year the fields give: %Y, else %y in %C's century or, without %C,
// 1969-2068; they must agree when both are given.
int YearOf(const TimeFields& f) {
  int from_yy = TimeFields::kUnset;
  if (f.yy != TimeFields::kUnset) {
    from_yy = f.century != TimeFields::kUnset ? f.century * 100 + f.yy : f.yy < 69 ? 2000 + f.yy : 1900 + f.yy;
  }
  if (f.year == TimeFields::kUnset) return from_yy;
  if (from_yy != TimeFields::kUnset && from_yy != f.year) return TimeFields::kUnset;
  if (f.century != TimeFields::kUnset && f.year / 100 != f.century) return TimeFields::kUnset;
  return f.year;
}

// The time `text` gives by `format`, as a local time (offset false) or, when
// the text carries its offset, in UTC (offset true). False unless the whole
// text is read and names a real date and time.
bool ParseFields(std::string_view format, std::string_view text, int64_t* seconds, bool* offset) {
  TimeFields f;
  size_t at = 0;
  if (!Scan(format, text, &at, &f) || at != text.size()) return false;
  const int year = YearOf(f);
  if (year < 0 || year > 9999) return false;  // none, or a year no timestamp of ours has
  if (f.hour12 != TimeFields::kUnset) {
    // %I needs %p, and %H with it is refused, as date::parse does.
    if (f.pm == TimeFields::kUnset || f.hour != TimeFields::kUnset) return false;
    f.hour = f.hour12 % 12 + 12 * f.pm;
  }
  const date::sys_days new_year{date::year{year} / date::January / 1};
  date::sys_days day;
  if (f.month != TimeFields::kUnset && f.day != TimeFields::kUnset) {
    const date::year_month_day ymd{date::year{year}, date::month{static_cast<unsigned>(f.month)},
                                   date::day{static_cast<unsigned>(f.day)}};
    if (!ymd.ok()) return false;
    day = ymd;
  } else if (f.yday != TimeFields::kUnset && f.month == TimeFields::kUnset && f.day == TimeFields::kUnset) {
    day = new_year + date::days{f.yday - 1};
  } else {
    return false;
  }
  if (f.yday != TimeFields::kUnset && (day - new_year).count() + 1 != f.yday) return false;  // 366 of 365, or a clash
  if (f.weekday != TimeFields::kUnset && date::weekday{day}.c_encoding() != static_cast<unsigned>(f.weekday)) {
    return false;
  }
  auto or_zero = [](int field) { return field == TimeFields::kUnset ? 0 : field; };
  *seconds = int64_t{day.time_since_epoch().count()} * 86'400 + or_zero(f.hour) * 3'600 + or_zero(f.minute) * 60 +
             or_zero(f.second) - int64_t{or_zero(f.offset)} * 60;
  *offset = f.offset != TimeFields::kUnset;
  return true;
}

bool YearInRange(date::sys_seconds tp) {
  const auto ymd = date::year_month_day{date::floor<date::days>(tp)};
  return ymd.year() >= date::year{0} && ymd.year() <= date::year{9999};
}

}  // namespace

const date::time_zone* LocateZone(const std::string& name) {
  if (name.empty() || name == "UTC" || name == "Etc/UTC") return nullptr;
  return date::locate_zone(name);
}

TimestampParser::TimestampParser(std::string format) : format_(std::move(format)) {}

bool TimestampParser::Parse(std::string_view text, const date::time_zone* zone, int64_t* unix_ms) {
  size_t frac_end = 0;
  const size_t frac = FindFraction(text, &frac_end);
  int64_t millis = 0;
  std::string_view key = text;
  if (frac != std::string_view::npos) {
    for (size_t i = frac + 1, k = 0; k < 3; ++i, ++k) millis = millis * 10 + (i < frac_end ? text[i] - '0' : 0);
    key_.assign(text.substr(0, frac));
    key_.append(text.substr(frac_end));
    key = key_;
  }
  if (!(has_cache_ && zone == zone_ && key == cached_key_)) {
    int64_t seconds = 0;
    zone_ = zone;
    cached_ok_ = ParseSeconds(key, &seconds);
    cached_key_.assign(key);
    cached_seconds_ = seconds;
    has_cache_ = true;
  }
  if (!cached_ok_) return false;
  *unix_ms = cached_seconds_ * 1000 + millis;
  return true;
}

bool TimestampParser::ParseSeconds(std::string_view key_view, int64_t* unix_seconds) {
  std::string text(key_view);
  std::string_view format = format_;
  bool zulu = false;  // ISO 8601's `Z`: UTC
  if (format_.empty()) {
    // ISO 8601 / RFC 3339: date and time, then Z, an offset, or nothing.
    if (text.size() < 19 || text[4] != '-' || text[7] != '-' || text[13] != ':' || text[16] != ':') return false;
    if (text[10] != 'T' && text[10] != 't' && text[10] != ' ') return false;
    text[10] = 'T';
    const std::string_view zone = std::string_view(text).substr(19);
    if (zone == "Z" || zone == "z") {
      text.resize(19);
      format = "%Y-%m-%dT%H:%M:%S";
      zulu = true;
    } else if (!zone.empty()) {
      if (zone[0] != '+' && zone[0] != '-') return false;
      format = zone.find(':') != std::string_view::npos ? "%Y-%m-%dT%H:%M:%S%Ez" : "%Y-%m-%dT%H:%M:%S%z";
    } else {
      format = "%Y-%m-%dT%H:%M:%S";
    }
    // Four digits of year, two of each other field: what ISO 8601 writes.
    for (const size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18}) {
      if (!IsDigit(text[i])) return false;
    }
  }
  int64_t seconds = 0;
  bool offset = false;
  if (!ParseFields(format, text, &seconds, &offset)) return false;
  date::sys_seconds tp{std::chrono::seconds{seconds}};
  // A time written without its offset is local to the source's zone.
  if (!offset && !zulu && zone_ != nullptr) tp = zone_->to_sys(date::local_seconds{tp.time_since_epoch()}, date::choose::earliest);
  if (!YearInRange(tp)) return false;
  *unix_seconds = tp.time_since_epoch().count();
  return true;
}

}  // namespace tailtrack
