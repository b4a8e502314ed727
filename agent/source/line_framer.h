// Cuts a byte stream into lines, in place: lines are views into the caller's
// buffer, never copies.
//
// Contract: the caller reads into a buffer whose first bytes are the
// incomplete line the previous call left over (Frame() returns how many
// trailing bytes that is), and passes the whole buffer with the file offset
// of its first byte. Lines end at '\n'; one '\r' before it is removed; empty
// lines are dropped. A line longer than `max_line_bytes` is truncated at a
// UTF-8 character boundary or skipped, as configured, and counted; the rest
// of an over-long line is discarded up to its newline, even across calls.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "config/config.h"

namespace tailtrack {

// The longest prefix of `s` that is at most `limit` bytes and does not end
// inside a UTF-8 multi-byte sequence.
std::string_view Utf8Prefix(std::string_view s, size_t limit);

class LineFramer {
 public:
  LineFramer(uint64_t max_line_bytes, LongLine on_long_line)
      : max_(max_line_bytes), on_long_(on_long_line) {}

  // Frames data[0, size); calls emit(std::string_view line, uint64_t offset)
  // for each complete line. Returns the number of trailing bytes that are an
  // incomplete line: the caller keeps them and puts them first next time.
  template <typename Emit>
  size_t Frame(const char* data, size_t size, uint64_t start, Emit&& emit);

  // Emits an incomplete line as if it were complete (the file went idle).
  template <typename Emit>
  void FlushPartial(const char* data, size_t size, uint64_t start, Emit&& emit) {
    if (discarding_ || size == 0) return;
    EmitLine(std::string_view(data, size), start, emit);
  }

  // Reading with the incomplete last line held here, in two steps around a
  // read into one `scratch` buffer shared by many framers: ReadBuffer() puts
  // the held line at the front of `scratch` and returns where at most
  // `chunk` new bytes go; Framed() frames the held line and the `n` bytes
  // read (the first at stream offset `next`) and holds the new tail.
  char* ReadBuffer(std::string& scratch, size_t chunk) {
    if (scratch.size() < held_.size() + chunk) scratch.resize(held_.size() + chunk);
    std::memcpy(scratch.data(), held_.data(), held_.size());
    return scratch.data() + held_.size();
  }
  template <typename Emit>
  void Framed(const std::string& scratch, size_t n, uint64_t next, Emit&& emit) {
    const size_t carry = held_.size();
    const size_t tail = Frame(scratch.data(), carry + n, next - carry, emit);
    held_.assign(scratch.data() + carry + n - tail, tail);
  }
  // Emits the held line as if it were complete (it ends just before stream
  // offset `next`), then forgets it.
  template <typename Emit>
  void FlushHeld(uint64_t next, Emit&& emit) {
    FlushPartial(held_.data(), held_.size(), next - held_.size(), emit);
    held_.clear();
  }
  bool holds_partial() const { return !held_.empty(); }
  size_t held_bytes() const { return held_.size(); }
  void DropHeld() { held_.clear(); }

  // Forgets any state (the file was truncated and is read again from 0).
  void Reset() {
    discarding_ = false;
    held_.clear();
  }

  uint64_t truncated() const { return truncated_; }
  uint64_t skipped() const { return skipped_; }

 private:
  template <typename Emit>
  void EmitLine(std::string_view line, uint64_t offset, Emit& emit) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) return;
    if (line.size() > max_) {
      if (on_long_ == LongLine::kSkip) {
        ++skipped_;
        return;
      }
      ++truncated_;
      line = Utf8Prefix(line, max_);
      if (line.empty()) return;
    }
    emit(line, offset);
  }

  uint64_t max_;
  LongLine on_long_;
  bool discarding_ = false;  // inside an over-long line that was already handled
  std::string held_;         // for ReadBuffer()/Framed(): the incomplete last line
  uint64_t truncated_ = 0;
  uint64_t skipped_ = 0;
};

template <typename Emit>
size_t LineFramer::Frame(const char* data, size_t size, uint64_t start, Emit&& emit) {
  size_t pos = 0;
  while (pos < size) {
    const void* nl = std::memchr(data + pos, '\n', size - pos);
    if (nl == nullptr) break;
    const size_t end = static_cast<const char*>(nl) - data;
    if (discarding_) {
      discarding_ = false;
    } else {
      EmitLine(std::string_view(data + pos, end - pos), start + pos, emit);
    }
    pos = end + 1;
  }
  if (discarding_) return 0;  // the tail belongs to a line already handled
  const size_t tail = size - pos;
  // An incomplete line may not grow without bound: handle it now (a '\r' may
  // still be stripped, hence the +1) and drop the rest of it as it comes.
  if (tail > max_ + 1) {
    if (on_long_ == LongLine::kSkip) {
      ++skipped_;
    } else {
      ++truncated_;
      std::string_view line = Utf8Prefix(std::string_view(data + pos, tail), max_);
      if (!line.empty()) emit(line, start + pos);
    }
    discarding_ = true;
    return 0;
  }
  return tail;
}

}  // namespace tailtrack
