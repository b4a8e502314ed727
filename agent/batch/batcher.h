// Collects events into batches and hands each one on when it is complete.
//
// A batch is complete when it holds `max_events`, when the next event would
// take its body past `max_bytes` (so a body never exceeds it), or when its
// first event is `flush_interval` old. The batcher has no clock and no timer:
// its owner arms a timer at opened_ms() + flush_interval and calls Flush().
// Single-threaded (the loop's thread).
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "batch/batch.h"
#include "config/config.h"
#include "rules/rule_set.h"

namespace tailtrack {

class BatchListener {
 public:
  virtual ~BatchListener() = default;
  // A sealed batch, ready to be sent.
  virtual void OnBatch(std::unique_ptr<Batch> batch) = 0;
  // An event that may not be sent, and why.
  virtual void OnDeadLetter(std::string_view reason, std::string_view event_json, uint32_t source) = 0;
};

struct BatcherStats {
  uint64_t events = 0;        // taken into batches
  uint64_t batches = 0;       // handed on
  uint64_t dead_letters = 0;  // invalid or too large
};

class Batcher : public EventSink {
 public:
  Batcher(const BatchConfig& config, BatchListener& listener);

  void OnEvent(std::string_view event_json, const LineContext& line) override;
  void OnInvalid(std::string_view reason, std::string_view event_json, const LineContext& line) override;

  // Hands on the open batch, if it holds anything.
  void Flush();

  bool has_open_batch() const { return open_ != nullptr; }
  const Batch* open_batch() const { return open_.get(); }
  // When the open batch's first event was read; meaningful if has_open_batch().
  int64_t opened_ms() const { return open_ ? open_->created_ms : 0; }
  const BatcherStats& stats() const { return stats_; }

 private:
  void Note(const LineContext& line);

  const BatchConfig& config_;
  BatchListener& listener_;
  std::unique_ptr<Batch> open_;
  size_t last_origin_ = 0;
  size_t last_bytes_ = 0;  // the body of the last batch handed on
  uint64_t next_id_ = 1;
  BatcherStats stats_;
};

}  // namespace tailtrack
