// A sealed batch as the payload of one spool record, and back.
//
//   u8  version (1)
//   i64 created_ms        wall clock (ms since the epoch) when the batch opened
//   u32 event count N, u32 origin count M, u32 body length B
//   N x u32 ends, N x u32 sources
//   M x (u32 source, u64 file_id, u64 first_offset, u64 last_offset)
//   B bytes: the body exactly as sealed
//
// Fixed-width little-endian. The payload has its own version, apart from the
// segment's, so that the batch layout can change without a new framing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "batch/batch.h"

namespace tailtrack {

inline constexpr uint8_t kBatchRecordVersion = 1;

// Replaces *out with the record of sealed `batch`, stamped `created_wall_ms`
// (the batch itself counts its age on the monotonic clock, which means
// nothing after a restart).
void EncodeBatchRecord(const Batch& batch, int64_t created_wall_ms, std::string* out);

// The batch of a record, with its origins; *created_wall_ms as encoded. Null
// when the payload is not a whole, consistent version 1 record: every length
// is checked against the payload's size before it is used, and the body must
// pass Batch::Restore. `payload` is consumed (its bytes become the body).
std::unique_ptr<Batch> DecodeBatchRecord(std::string&& payload, int64_t* created_wall_ms);

}  // namespace tailtrack
