#include "config/units.h"

#include <cctype>
#include <limits>

namespace tailtrack {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads the digits at the front of `s` into `*value`; false on overflow or none.
bool TakeNumber(std::string_view& s, uint64_t* value, std::string* why) {
  size_t i = 0;
  uint64_t v = 0;
  while (i < s.size() && IsDigit(s[i])) {
    const uint64_t digit = static_cast<uint64_t>(s[i] - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
      *why = "the number is too large";
      return false;
    }
    v = v * 10 + digit;
    ++i;
  }
  if (i == 0) return false;
  s.remove_prefix(i);
  *value = v;
  return true;
}

bool MultiplyChecked(uint64_t a, uint64_t b, uint64_t* out) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return false;
  *out = a * b;
  return true;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::optional<Duration> ParseDuration(std::string_view text, std::string* why) {
  why->clear();
  static constexpr struct {
    std::string_view name;
    uint64_t ms;
  } kUnits[] = {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};
  const std::string kExpected = "expected a number and a unit (ms, s, m, h, d), e.g. 250ms, 5s, 1m30s";
  if (!text.empty() && text[0] == '-') {
    *why = "durations cannot be negative";
    return std::nullopt;
  }
  if (text.empty()) {
    *why = kExpected;
    return std::nullopt;
  }
  uint64_t total = 0;
  uint64_t previous_unit = std::numeric_limits<uint64_t>::max();
  std::string_view s = text;
  while (!s.empty()) {
    uint64_t n = 0;
    if (!TakeNumber(s, &n, why)) {
      if (why->empty()) *why = kExpected;
      return std::nullopt;
    }
    if (!s.empty() && s[0] == '.') {
      *why = "write whole numbers, e.g. 1500ms rather than 1.5s";
      return std::nullopt;
    }
    size_t len = 0;
    while (len < s.size() && std::isalpha(static_cast<unsigned char>(s[len]))) ++len;
    const std::string_view unit = s.substr(0, len);
    uint64_t unit_ms = 0;
    for (const auto& u : kUnits) {
      if (u.name == unit) unit_ms = u.ms;
    }
    if (unit_ms == 0) {
      *why = unit.empty() ? "a unit is required (ms, s, m, h, d), e.g. 250ms, 5s, 1m30s" : kExpected;
      return std::nullopt;
    }
    if (unit_ms >= previous_unit) {
      *why = "write the units largest first, each once, e.g. 1h30m";
      return std::nullopt;
    }
    previous_unit = unit_ms;
    s.remove_prefix(len);
    uint64_t part = 0;
    if (!MultiplyChecked(n, unit_ms, &part) || total + part < total ||
        total + part > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      *why = "the duration is too long";
      return std::nullopt;
    }
    total += part;
  }
  return Duration(static_cast<int64_t>(total));
}

std::optional<uint64_t> ParseSize(std::string_view text, std::string* why) {
  why->clear();
  static constexpr struct {
    std::string_view name;
    uint64_t factor;
  } kUnits[] = {{"", 1},
                {"b", 1},
                {"kb", 1000},
                {"mb", 1000ull * 1000},
                {"gb", 1000ull * 1000 * 1000},
                {"tb", 1000ull * 1000 * 1000 * 1000},
                {"kib", 1ull << 10},
                {"mib", 1ull << 20},
                {"gib", 1ull << 30},
                {"tib", 1ull << 40}};
  const std::string kExpected =
      "expected a number of bytes and a unit (B, KB, MB, GB, KiB, MiB, GiB), e.g. 512B, 500KiB, 64MiB";
  if (!text.empty() && text[0] == '-') {
    *why = "sizes cannot be negative";
    return std::nullopt;
  }
  std::string_view s = text;
  uint64_t n = 0;
  if (!TakeNumber(s, &n, why)) {
    if (why->empty()) *why = kExpected;
    return std::nullopt;
  }
  if (!s.empty() && s[0] == '.') {
    *why = "write whole numbers, e.g. 1536MiB rather than 1.5GiB";
    return std::nullopt;
  }
  if (!s.empty() && s[0] == ' ') s.remove_prefix(1);
  const std::string unit = Lower(s);
  for (const auto& u : kUnits) {
    if (u.name != unit) continue;
    uint64_t bytes = 0;
    if (!MultiplyChecked(n, u.factor, &bytes)) {
      *why = "the size is too large";
      return std::nullopt;
    }
    return bytes;
  }
  *why = kExpected;
  return std::nullopt;
}

std::string FormatDuration(Duration d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  static constexpr struct {
    const char* name;
    int64_t ms;
  } kUnits[] = {{"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1000}, {"ms", 1}};
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  for (const auto& u : kUnits) {
    if (ms >= u.ms) {
      out += std::to_string(ms / u.ms) + u.name;
      ms %= u.ms;
    }
  }
  return out;
}

std::string FormatSize(uint64_t bytes) {
  static constexpr struct {
    const char* name;
    uint64_t factor;
  } kUnits[] = {{"TiB", 1ull << 40}, {"GiB", 1ull << 30}, {"MiB", 1ull << 20}, {"KiB", 1ull << 10}};
  for (const auto& u : kUnits) {
    if (bytes != 0 && bytes % u.factor == 0) return std::to_string(bytes / u.factor) + u.name;
  }
  return std::to_string(bytes) + "B";
}

}  // namespace tailtrack
