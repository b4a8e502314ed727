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
// NUL bytes at the start of a line (bytes framing only) are skipped and
// counted: a log file preallocated, or extended by a crash before its data
// blocks were written, reads as zeros, and the lines written after them must
// not be lost inside one over-long line of NULs.
#pragma once

#include <cstdint>
#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>

#include "config/config.h"

namespace tailtrack {

// The longest prefix of `s` that is at most `limit` bytes and does not end
// inside a UTF-8 multi-byte sequence.
std::string_view Utf8Prefix(std::string_view s, size_t limit);

// How a file's bytes make lines: UTF-8 and single-byte encodings end a line
// at the byte '\n'; UTF-16 at the code unit U+000A (two bytes, at an even
// offset in the file), in the byte order given or, for kUtf16Bom, the one a
// byte order mark at offset 0 says (little-endian without one).
enum class LineUnits { kBytes, kUtf16Le, kUtf16Be, kUtf16Bom };

class LineFramer {
 public:
  // Framed() frees the held line's memory above this once the line is complete.
  static constexpr size_t kKeepCapacity = 64 * 1024;

  LineFramer(uint64_t max_line_bytes, LongLine on_long_line, LineUnits units = LineUnits::kBytes)
      : max_(max_line_bytes), on_long_(on_long_line), units_(units) {}

  bool utf16() const { return units_ != LineUnits::kBytes; }
  // For UTF-16: the lines' byte order (for kUtf16Bom, known once offset 0 was framed).
  bool big_endian() const { return units_ == LineUnits::kUtf16Be; }
  // kUtf16Bom reading from past offset 0: the owner reads the file's first
  // two bytes and gives them here.
  bool needs_first_bytes() const { return units_ == LineUnits::kUtf16Bom; }
  void NoteFirstBytes(unsigned char b0, unsigned char b1) {
    units_ = b0 == 0xFE && b1 == 0xFF ? LineUnits::kUtf16Be : LineUnits::kUtf16Le;
    bom_decides_ = true;
  }

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
    // A long line once held must not keep its memory after it is complete.
    if (tail == 0 && held_.capacity() > kKeepCapacity) std::string().swap(held_);
  }
  // Emits the held line as if it were complete (it ends just before stream
  // offset `next`), then forgets it.
  template <typename Emit>
  void FlushHeld(uint64_t next, Emit&& emit) {
    if (discarding_) return;  // at most half a UTF-16 code unit, not a line
    FlushPartial(held_.data(), held_.size(), next - held_.size(), emit);
    held_.clear();
  }
  // The held incomplete line (it ends just before stream offset `next`) may
  // not wait for its newline (the owner's memory budget): it is handled now as
  // a line over max_line_bytes (truncate: emitted as it stands; skip: dropped;
  // counted either way), the rest of it is discarded up to its newline, and
  // its memory is freed.
  template <typename Emit>
  void CutHeld(uint64_t next, Emit&& emit) {
    if (held_.empty() || discarding_) return;
    if (on_long_ == LongLine::kSkip) {
      ++skipped_;
    } else {
      ++truncated_;
      std::string_view line = Utf8Prefix(held_, std::min<uint64_t>(max_, held_.size()));
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!line.empty()) emit(line, next - held_.size());
    }
    discarding_ = true;
    const size_t keep = HalfUnit(next);
    std::string half = held_.substr(held_.size() - keep);
    std::string().swap(held_);
    held_ = std::move(half);
  }
  bool holds_partial() const { return !held_.empty() && !discarding_; }
  size_t held_bytes() const { return held_.size(); }
  void DropHeld() { held_.clear(); }

  // Forgets any state (the file was truncated and is read again from 0).
  void Reset() {
    discarding_ = false;
    held_.clear();
    if (bom_decides_) units_ = LineUnits::kUtf16Bom;
  }

  uint64_t truncated() const { return truncated_; }
  uint64_t skipped() const { return skipped_; }
  uint64_t nul_bytes() const { return nul_bytes_; }

 private:
  template <typename Emit>
  void EmitLine(std::string_view line, uint64_t offset, Emit& emit) {
    if (units_ != LineUnits::kBytes) return EmitUtf16Line(line, offset, emit);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (FitsOrIsCut(line, [&] { return Utf8Prefix(line, max_); })) emit(line, offset);
  }

  // max_line_bytes: false for an empty line or one skipped (counted); a
  // longer one is cut to `cut()` (counted) and true while something is left.
  template <typename Cut>
  bool FitsOrIsCut(std::string_view& line, Cut cut) {
    if (line.empty()) return false;
    if (line.size() <= max_) return true;
    if (on_long_ == LongLine::kSkip) {
      ++skipped_;
      return false;
    }
    ++truncated_;
    line = cut();
    return !line.empty();
  }

  template <typename Emit>
  void EmitUtf16Line(std::string_view line, uint64_t offset, Emit& emit) {
    const bool be = big_endian();
    auto unit = [&](size_t at) {
      const auto b0 = static_cast<unsigned char>(line[at]), b1 = static_cast<unsigned char>(line[at + 1]);
      return be ? (b0 << 8 | b1) : (b1 << 8 | b0);
    };
    if (line.size() >= 2 && unit(line.size() - 2) == '\r') line.remove_suffix(2);
    const auto cut = [&] {
      size_t end = max_ & ~size_t{1};
      if (end >= 2 && (unit(end - 2) & 0xFC00) == 0xD800) end -= 2;  // not between the halves of a pair
      return line.substr(0, end);
    };
    if (FitsOrIsCut(line, cut)) emit(line, offset);
  }

  // What a discarded UTF-16 line must still keep when the bytes read so far
  // end at an odd offset `end`: the first byte of a code unit, which may be
  // half of the newline that ends the discarding. (Found by line_framer_fuzz.)
  size_t HalfUnit(uint64_t end) const { return units_ != LineUnits::kBytes && (end & 1) ? 1 : 0; }

  // Where the code unit '\n' ends, from data[pos] (whose file offset is
  // start + pos); npos if none. Sets the byte order at offset 0 for kUtf16Bom.
  size_t FindUtf16Newline(const char* data, size_t size, size_t pos, uint64_t start) {
    if (units_ == LineUnits::kUtf16Bom && start + pos == 0 && size - pos >= 2) {
      NoteFirstBytes(static_cast<unsigned char>(data[pos]), static_cast<unsigned char>(data[pos + 1]));
    }
    if (units_ == LineUnits::kUtf16Bom) return std::string_view::npos;  // offset 0 not here yet
    const bool be = big_endian();
    // Code units start at even file offsets.
    size_t at = pos + ((start + pos) & 1);
    for (; at + 1 < size; at += 2) {
      if (data[at + (be ? 1 : 0)] == '\n' && data[at + (be ? 0 : 1)] == '\0') return at + 2;
    }
    return std::string_view::npos;
  }

  uint64_t max_;
  LongLine on_long_;
  LineUnits units_;
  bool bom_decides_ = false;  // units_ was kUtf16Bom: Reset() forgets the byte order
  bool discarding_ = false;  // inside an over-long line that was already handled
  std::string held_;         // for ReadBuffer()/Framed(): the incomplete last line
  uint64_t truncated_ = 0;
  uint64_t skipped_ = 0;
  uint64_t nul_bytes_ = 0;   // skipped at the start of lines
};

template <typename Emit>
size_t LineFramer::Frame(const char* data, size_t size, uint64_t start, Emit&& emit) {
  size_t pos = 0;
  const size_t newline = units_ == LineUnits::kBytes ? 1 : 2;
  while (pos < size) {
    if (units_ == LineUnits::kBytes && !discarding_ && data[pos] == '\0') {
      const size_t from = pos;
      while (pos < size && data[pos] == '\0') ++pos;
      nul_bytes_ += pos - from;
      continue;
    }
    size_t end;  // where the line's newline begins
    if (units_ == LineUnits::kBytes) {
      const void* nl = std::memchr(data + pos, '\n', size - pos);
      if (nl == nullptr) break;
      end = static_cast<const char*>(nl) - data;
    } else {
      const size_t after = FindUtf16Newline(data, size, pos, start);
      if (after == std::string_view::npos) break;
      end = after - 2;
    }
    if (discarding_) {
      discarding_ = false;
    } else {
      EmitLine(std::string_view(data + pos, end - pos), start + pos, emit);
    }
    pos = end + newline;
  }
  if (discarding_) return HalfUnit(start + size);  // the tail belongs to a line already handled
  const size_t tail = size - pos;
  // An incomplete line may not grow without bound: handle it now and drop the
  // rest of it as it comes. It may still end in a '\r' to strip and all but
  // the last byte of its newline (UTF-16: three bytes; found by line_framer_fuzz).
  if (tail > max_ + 2 * newline - 1) {
    if (units_ != LineUnits::kBytes) {
      EmitUtf16Line(std::string_view(data + pos, tail), start + pos, emit);  // over max_: cut or skipped
    } else if (on_long_ == LongLine::kSkip) {
      ++skipped_;
    } else {
      ++truncated_;
      std::string_view line = Utf8Prefix(std::string_view(data + pos, tail), max_);
      if (!line.empty()) emit(line, start + pos);
    }
    discarding_ = true;
    return HalfUnit(start + size);
  }
  return tail;
}

}  // namespace tailtrack
