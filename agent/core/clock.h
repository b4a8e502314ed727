// Wall-clock time and its one wire format.
#pragma once

#include <cstdint>
#include <string>

namespace tailtrack {

// Milliseconds since the Unix epoch, UTC.
int64_t WallClockMillis();

// "YYYY-MM-DDTHH:MM:SS.mmmZ" (always 24 characters): the only timestamp
// format tailtrack writes on the wire.
std::string FormatIsoMillis(int64_t unix_millis);

// Writes the same 24 characters to `out` (no terminator); for hot paths and
// for overwriting `sentAt` in place in an already serialised batch.
void FormatIsoMillis(int64_t unix_millis, char out[24]);

}  // namespace tailtrack
