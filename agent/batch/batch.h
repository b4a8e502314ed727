// A batch: the request body, serialised once.
//
// The body is `{"batch":[e1,e2,...],"sentAt":"YYYY-MM-DDTHH:MM:SS.mmmZ"}`.
// `sentAt` sits at a fixed position and is overwritten in place at each
// attempt, so that the same bytes are sent, retried, (later) spooled and
// replayed. A batch also remembers where its events came from, so that an
// acknowledgement can move file checkpoints, and where each event sits in the
// body, so that a refused batch can be split or dead-lettered event by event.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tailtrack {

// The lines of one file that a batch holds: a checkpoint may not pass
// first_offset until the batch is delivered or safely in the spool.
struct BatchOrigin {
  uint32_t source = 0;
  uint64_t file_id = 0;       // 0: not a file
  uint64_t first_offset = 0;  // the byte offset of the first line of this file in the batch
  uint64_t last_offset = 0;   // the byte offset of the first byte of the last line
};

// Where a batch read back from the spool sits in it (see spool/spool.h).
struct SpoolRef {
  uint64_t segment = 0;
  uint64_t record = 0;
};

class Batch {
 public:
  static constexpr std::string_view kPrefix = "{\"batch\":[";
  static constexpr std::string_view kSentAtKey = "],\"sentAt\":\"";
  static constexpr size_t kSentAtLength = 24;
  // What Seal() adds: kSentAtKey, the time and `"}`.
  static constexpr size_t kSuffixLength = kSentAtKey.size() + kSentAtLength + 2;

  // `capacity`: the body's expected size (the batcher's max_bytes), reserved
  // up front so that appending never reallocates and copies the body.
  explicit Batch(size_t capacity = 0);

  // A sealed batch rebuilt from its parts (the spool's record): `body` as it
  // was sealed, `ends` where each event ends in it, `sources` the source of
  // each. Null when the parts do not describe a sealed body.
  static std::unique_ptr<Batch> Restore(std::string body, std::vector<uint32_t> ends,
                                        std::vector<uint32_t> sources);
  // A new sealed batch holding events [begin, end) of this sealed one (the
  // split that isolates events a collector refuses). No origins.
  std::unique_ptr<Batch> Slice(size_t begin, size_t end) const;

  // While open: appends one event (a JSON object) from `source`.
  void Append(std::string_view event_json, uint32_t source);
  // The body size once sealed, if `event_json` were appended now.
  size_t SizeWith(size_t event_bytes) const {
    return body_.size() + (event_count() ? 1 : 0) + event_bytes + kSuffixLength;
  }
  // Closes the array and reserves the place of sentAt. Nothing is appended
  // after; a body that used less than half its capacity gives the rest back.
  void Seal();
  // Writes the time of this attempt into the sealed body.
  void StampSentAt(int64_t unix_millis);

  const std::string& body() const { return body_; }
  const std::vector<uint32_t>& ends() const { return ends_; }
  const std::vector<uint32_t>& sources() const { return sources_; }
  size_t event_count() const { return ends_.size(); }
  std::string_view event(size_t i) const;
  uint32_t event_source(size_t i) const { return sources_[i]; }

  std::vector<BatchOrigin> origins;
  int64_t created_ms = 0;  // MonotonicMillis() at its first event: flush_interval counts from here
  uint64_t id = 0;         // a sequence number, for logs

  // Delivery state, owned by the sender and the delivery.
  int attempts = 0;
  bool from_spool = false;  // read back from the spool: `spool_ref` says where
  SpoolRef spool_ref;

 private:
  std::string body_;
  size_t sent_at_pos_ = 0;
  std::vector<uint32_t> ends_;     // where each event ends in body_
  std::vector<uint32_t> sources_;  // the source of each event
};

}  // namespace tailtrack
