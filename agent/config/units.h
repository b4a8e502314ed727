// Durations and sizes as written in the configuration: "250ms", "1m30s",
// "500KiB", "1GiB". Pure functions, no YAML.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"

namespace tailtrack {

// "250ms", "5s", "1m", "1h", "1d" and combinations written largest unit
// first ("1h30m", "1m30s"). A unit is required; negatives and values past
// int64 milliseconds are rejected. On failure returns nullopt and says why in
// `*why` (a phrase, without the value).
std::optional<Duration> ParseDuration(std::string_view text, std::string* why);

// A whole number of bytes: "512", "512B", "500KiB", "64MiB", "1GiB", "1TiB",
// or powers of 1000: "10KB", "5MB", "1GB", "1TB". Units are case-insensitive;
// one space may separate number and unit.
std::optional<uint64_t> ParseSize(std::string_view text, std::string* why);

// The shortest exact spelling: FormatDuration(90s) == "1m30s", FormatSize(524288) == "512KiB".
std::string FormatDuration(Duration d);
std::string FormatSize(uint64_t bytes);

}  // namespace tailtrack
