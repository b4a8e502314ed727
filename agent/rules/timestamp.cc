#include "rules/timestamp.h"

#include <date/date.h>
#include <date/tz.h>

#include <sstream>

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

// `TimePoint`: a date::sys_time or date::local_time.
template <typename TimePoint>
bool ParseWith(const std::string& text, const char* format, TimePoint* tp) {
  std::istringstream in(text);
  in.imbue(std::locale::classic());
  in >> date::parse(format, *tp);
  if (in.fail()) return false;
  return in.peek() == std::char_traits<char>::eof();
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

TimestampParser::TimestampParser(std::string format) : format_(std::move(format)) {
  format_has_offset_ = format_.find("%z") != std::string::npos || format_.find("%Ez") != std::string::npos ||
                       format_.find("%Oz") != std::string::npos;
}

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
  date::sys_seconds tp;
  if (format_.empty()) {
    // ISO 8601 / RFC 3339: date and time, then Z, an offset, or nothing.
    if (text.size() < 19 || text[4] != '-' || text[7] != '-' || text[13] != ':' || text[16] != ':') return false;
    if (text[10] != 'T' && text[10] != 't' && text[10] != ' ') return false;
    text[10] = 'T';
    std::string zone = text.substr(19);
    text.resize(19);
    if (zone == "Z" || zone == "z") {
      if (!ParseWith(text, "%Y-%m-%dT%H:%M:%S", &tp)) return false;
    } else if (!zone.empty()) {
      if (zone[0] != '+' && zone[0] != '-') return false;
      text += zone;
      const char* format = zone.find(':') != std::string::npos ? "%Y-%m-%dT%H:%M:%S%Ez" : "%Y-%m-%dT%H:%M:%S%z";
      if (!ParseWith(text, format, &tp)) return false;
    } else {
      date::local_seconds local;
      if (!ParseWith(text, "%Y-%m-%dT%H:%M:%S", &local)) return false;
      tp = zone_ ? zone_->to_sys(local, date::choose::earliest) : date::sys_seconds{local.time_since_epoch()};
    }
  } else if (format_has_offset_) {
    if (!ParseWith(text, format_.c_str(), &tp)) return false;
  } else {
    date::local_seconds local;
    if (!ParseWith(text, format_.c_str(), &local)) return false;
    tp = zone_ ? zone_->to_sys(local, date::choose::earliest) : date::sys_seconds{local.time_since_epoch()};
  }
  if (!YearInRange(tp)) return false;
  *unix_seconds = tp.time_since_epoch().count();
  return true;
}

}  // namespace tailtrack
