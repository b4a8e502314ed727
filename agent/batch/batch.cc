#include "batch/batch.h"

#include <algorithm>
#include <cassert>

#include "core/clock.h"

namespace tailtrack {

Batch::Batch(size_t capacity) {
  body_.reserve(std::max(capacity, kPrefix.size()));
  body_.assign(kPrefix);
}

void Batch::Append(std::string_view event_json, uint32_t source) {
  assert(sent_at_pos_ == 0);
  if (!ends_.empty()) body_ += ',';
  body_.append(event_json);
  ends_.push_back(static_cast<uint32_t>(body_.size()));
  sources_.push_back(source);
}

void Batch::Seal() {
  body_.append(kSentAtKey);
  sent_at_pos_ = body_.size();
  body_.append(kSentAtLength, '0');
  body_.append("\"}");
  // A batch flushed by age may be small: queued batches should not each hold max_bytes.
  if (body_.capacity() > 2 * body_.size()) body_.shrink_to_fit();
}

void Batch::StampSentAt(int64_t unix_millis) {
  assert(sent_at_pos_ != 0);
  FormatIsoMillis(unix_millis, body_.data() + sent_at_pos_);
}

std::unique_ptr<Batch> Batch::Restore(std::string body, std::vector<uint32_t> ends, std::vector<uint32_t> sources) {
  // {"batch":[e1,...,en],"sentAt":"<24>"}: each event is followed by ',' or
  // by the suffix, and the suffix sits where the last end says.
  if (ends.empty() || ends.size() != sources.size()) return nullptr;
  if (body.size() < kPrefix.size() + kSuffixLength || std::string_view(body).substr(0, kPrefix.size()) != kPrefix) {
    return nullptr;
  }
  size_t begin = kPrefix.size();
  for (size_t i = 0; i < ends.size(); ++i) {
    if (ends[i] <= begin || ends[i] > body.size()) return nullptr;
    if (i + 1 < ends.size() && body[ends[i]] != ',') return nullptr;
    begin = ends[i] + 1;
  }
  if (body.size() - ends.back() != kSuffixLength ||
      std::string_view(body).substr(ends.back(), kSentAtKey.size()) != kSentAtKey ||
      std::string_view(body).substr(body.size() - 2) != "\"}") {
    return nullptr;
  }
  auto batch = std::make_unique<Batch>();
  batch->sent_at_pos_ = ends.back() + kSentAtKey.size();
  batch->body_ = std::move(body);
  batch->ends_ = std::move(ends);
  batch->sources_ = std::move(sources);
  return batch;
}

std::unique_ptr<Batch> Batch::Slice(size_t begin, size_t end) const {
  size_t bytes = kPrefix.size() + kSuffixLength;
  for (size_t i = begin; i < end; ++i) bytes += event(i).size() + 1;
  auto piece = std::make_unique<Batch>(bytes);
  for (size_t i = begin; i < end; ++i) piece->Append(event(i), sources_[i]);
  piece->Seal();
  piece->created_ms = created_ms;
  piece->id = id;
  return piece;
}

std::string_view Batch::event(size_t i) const {
  const size_t begin = i == 0 ? kPrefix.size() : ends_[i - 1] + 1;
  return std::string_view(body_).substr(begin, ends_[i] - begin);
}

}  // namespace tailtrack
