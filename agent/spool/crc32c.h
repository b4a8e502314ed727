// CRC32C (Castagnoli), the checksum of the spool's records.
//
// Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at run
// time) and a table otherwise; both give the same values. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tailtrack::crc32c {

// The CRC32C of `data` appended to a string whose CRC32C is `crc` (0 to start).
uint32_t Extend(uint32_t crc, const void* data, size_t n);
inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }

// A CRC stored beside the data is masked, as leveldb does: a CRC computed over
// bytes that themselves hold CRCs (a segment copied into a record, say) is
// prone to collide, and masking breaks that pattern.
inline uint32_t Mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }
inline uint32_t Unmask(uint32_t masked) {
  const uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

// The two implementations, for tests and benchmarks. ExtendHardware may only
// be called when HardwareAvailable().
uint32_t ExtendPortable(uint32_t crc, const void* data, size_t n);
uint32_t ExtendHardware(uint32_t crc, const void* data, size_t n);
bool HardwareAvailable();

}  // namespace tailtrack::crc32c
