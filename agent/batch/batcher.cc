#include "batch/batcher.h"

#include <algorithm>

#include "core/clock.h"

namespace tailtrack {

Batcher::Batcher(const BatchConfig& config, BatchListener& listener) : config_(config), listener_(listener) {}

void Batcher::OnEvent(std::string_view event_json, const LineContext& line) {
  if (event_json.size() > kMaxEventBytes) {
    OnInvalid("event larger than 32 KiB", event_json, line);
    return;
  }
  if (open_ && open_->SizeWith(event_json.size()) > config_.max_bytes) Flush();
  if (!open_) {
    if (Batch::kPrefix.size() + event_json.size() + Batch::kSuffixLength > config_.max_bytes) {
      OnInvalid("event larger than batch.max_bytes allows", event_json, line);
      return;
    }
    // Reserved for what the last batch held, not for max_bytes: a batch cut by
    // max_events or flushed by age is usually far smaller, and Seal() would
    // then copy it to give the rest back. The string grows if this one is larger.
    const size_t expected = last_bytes_ ? last_bytes_ + last_bytes_ / 8 : static_cast<size_t>(config_.max_bytes);
    open_ = std::make_unique<Batch>(std::min(expected, static_cast<size_t>(config_.max_bytes)));
    open_->id = next_id_++;
    open_->created_ms = MonotonicMillis();
    last_origin_ = 0;
  }
  open_->Append(event_json, line.source);
  Note(line);
  ++stats_.events;
  if (open_->event_count() >= config_.max_events) Flush();
}

void Batcher::OnInvalid(std::string_view reason, std::string_view event_json, const LineContext& line) {
  ++stats_.dead_letters;
  listener_.OnDeadLetter(reason, event_json, line.source);
}

void Batcher::Flush() {
  if (!open_) return;
  open_->Seal();
  last_bytes_ = open_->body().size();
  ++stats_.batches;
  listener_.OnBatch(std::move(open_));
}

void Batcher::Note(const LineContext& line) {
  auto& origins = open_->origins;
  // Lines come in runs from one file: the last origin is nearly always it.
  if (last_origin_ < origins.size() && origins[last_origin_].source == line.source &&
      origins[last_origin_].file_id == line.file_id) {
    origins[last_origin_].last_offset = line.offset;
    return;
  }
  for (size_t i = 0; i < origins.size(); ++i) {
    if (origins[i].source == line.source && origins[i].file_id == line.file_id) {
      origins[i].last_offset = std::max(origins[i].last_offset, line.offset);
      last_origin_ = i;
      return;
    }
  }
  origins.push_back({line.source, line.file_id, line.offset, line.offset});
  last_origin_ = origins.size() - 1;
}

}  // namespace tailtrack
