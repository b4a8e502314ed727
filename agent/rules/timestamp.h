// Timestamps of log lines → Unix milliseconds.
//
// Formats are strftime-style and read as date::parse reads them, by a reader
// of our own (timestamp.cc says why); the date library does the calendar and
// the time zones. A parser remembers the last text it parsed with its
// fractional seconds cut out (log timestamps repeat their second across many
// lines): a repeated second costs a string compare (and, in a zone, no
// time-zone lookup), and the fraction is added back by hand.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace date {
class time_zone;
}

namespace tailtrack {

class TimestampParser {
 public:
  // `format`: a strftime-style format (`%d/%b/%Y:%H:%M:%S %z`; the directives
  // are listed in docs/rules.md; any other never parses);
  // empty for ISO 8601 / RFC 3339 (`T` or space, any fraction, `Z`, `+hh:mm`,
  // `+hhmm`, `+hh`, or no offset). `zone` reads times written without an
  // offset (nullptr: UTC), given to each Parse().
  explicit TimestampParser(std::string format = {});

  // Unix milliseconds of `text`; false when it does not parse as a whole or its
  // year is outside 0000-9999. Fractional seconds past milliseconds are cut.
  bool Parse(std::string_view text, const date::time_zone* zone, int64_t* unix_ms);

  const std::string& format() const { return format_; }

 private:
  bool ParseSeconds(std::string_view key, int64_t* unix_seconds);

  std::string format_;
  const date::time_zone* zone_ = nullptr;  // of the cached key
  std::string cached_key_;
  int64_t cached_seconds_ = 0;
  bool has_cache_ = false;
  bool cached_ok_ = false;
  std::string key_;  // scratch
};

// The zone called `name` (IANA), or nullptr for UTC. Throws std::runtime_error
// when the name is unknown.
const date::time_zone* LocateZone(const std::string& name);

}  // namespace tailtrack
