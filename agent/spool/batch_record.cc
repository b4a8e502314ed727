#include "spool/batch_record.h"

#include <utility>
#include <vector>

namespace tailtrack {
namespace {

void PutFixed(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

// Reads fixed-width little-endian fields; once a read runs past the end every
// later one fails too, so a decoder checks ok() once at the end of a group.
class Cursor {
 public:
  explicit Cursor(std::string_view data) : data_(data) {}

  uint64_t Fixed(size_t bytes) {
    if (data_.size() - pos_ < bytes || !ok_) {
      ok_ = false;
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; ++i) v |= uint64_t{static_cast<uint8_t>(data_[pos_ + i])} << (8 * i);
    pos_ += bytes;
    return v;
  }
  uint32_t U32() { return static_cast<uint32_t>(Fixed(4)); }
  uint64_t U64() { return Fixed(8); }
  bool ok() const { return ok_; }
  size_t left() const { return data_.size() - pos_; }
  size_t pos() const { return pos_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

constexpr size_t kFixedHeader = 1 + 8 + 4 + 4 + 4;
constexpr size_t kOriginBytes = 4 + 8 + 8 + 8;

}  // namespace

void EncodeBatchRecord(const Batch& batch, int64_t created_wall_ms, std::string* out) {
  const size_t n = batch.event_count();
  out->clear();
  out->reserve(kFixedHeader + 8 * n + kOriginBytes * batch.origins.size() + batch.body().size());
  out->push_back(static_cast<char>(kBatchRecordVersion));
  PutFixed(out, static_cast<uint64_t>(created_wall_ms), 8);
  PutFixed(out, n, 4);
  PutFixed(out, batch.origins.size(), 4);
  PutFixed(out, batch.body().size(), 4);
  for (uint32_t end : batch.ends()) PutFixed(out, end, 4);
  for (uint32_t source : batch.sources()) PutFixed(out, source, 4);
  for (const BatchOrigin& o : batch.origins) {
    PutFixed(out, o.source, 4);
    PutFixed(out, o.file_id, 8);
    PutFixed(out, o.first_offset, 8);
    PutFixed(out, o.last_offset, 8);
  }
  out->append(batch.body());
}

std::unique_ptr<Batch> DecodeBatchRecord(std::string&& payload, int64_t* created_wall_ms) {
  Cursor in(payload);
  if (in.Fixed(1) != kBatchRecordVersion) return nullptr;
  const auto created = static_cast<int64_t>(in.U64());
  const uint64_t events = in.U32();
  const uint64_t origins = in.U32();
  const uint64_t body = in.U32();
  // 64-bit arithmetic: three u32 counts cannot overflow it.
  if (!in.ok() || in.left() != 8 * events + kOriginBytes * origins + body) return nullptr;

  std::vector<uint32_t> ends(events), sources(events);
  for (uint32_t& end : ends) end = in.U32();
  for (uint32_t& source : sources) source = in.U32();
  std::vector<BatchOrigin> batch_origins(origins);
  for (BatchOrigin& o : batch_origins) {
    o.source = in.U32();
    o.file_id = in.U64();
    o.first_offset = in.U64();
    o.last_offset = in.U64();
  }
  if (!in.ok()) return nullptr;

  payload.erase(0, in.pos());  // what is left is the body
  auto batch = Batch::Restore(std::move(payload), std::move(ends), std::move(sources));
  if (!batch) return nullptr;
  batch->origins = std::move(batch_origins);
  *created_wall_ms = created;
  return batch;
}

}  // namespace tailtrack
