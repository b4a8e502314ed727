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

std::string_view Batch::event(size_t i) const {
  const size_t begin = i == 0 ? kPrefix.size() : ends_[i - 1] + 1;
  return std::string_view(body_).substr(begin, ends_[i] - begin);
}

}  // namespace tailtrack
