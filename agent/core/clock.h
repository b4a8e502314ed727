// Wall-clock time and its one wire format.
#pragma once

#include <cstdint>
#include <string>

namespace tailtrack {

// Milliseconds since the Unix epoch, UTC.
int64_t WallClockMillis();

// Milliseconds on a clock that never steps (CLOCK_MONOTONIC): for ages and
// deadlines, which a wall-clock step (NTP, an operator) must not stretch.
int64_t MonotonicMillis();

// "YYYY-MM-DDTHH:MM:SS.mmmZ" (always 24 characters): the only timestamp
// format tailtrack writes on the wire.
std::string FormatIsoMillis(int64_t unix_millis);

// Writes the same 24 characters to `out` (no terminator); for hot paths and
// for overwriting `sentAt` in place in an already serialised batch.
void FormatIsoMillis(int64_t unix_millis, char out[24]);

}  // namespace tailtrack
