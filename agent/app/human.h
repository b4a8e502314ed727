// Numbers for a person: counts with separators, bytes, durations, rates.
#pragma once

#include <cstdint>
#include <string>

namespace tailtrack {

// 1234567 -> "1,234,567".
std::string HumanCount(uint64_t n);
// 1536 -> "1.5 KiB"; under 1 KiB, "512 B".
std::string HumanBytes(uint64_t bytes);
// 45 -> "45s", 3725 -> "1h02m", 90061 -> "1d01h".
std::string HumanSeconds(double seconds);
// A rate per second: "0", "3.5", "1,234"; "1.2 M" from a million up.
std::string HumanRate(double per_second);

}  // namespace tailtrack
