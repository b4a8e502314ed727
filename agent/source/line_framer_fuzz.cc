// libFuzzer: a byte stream, cut into reads of random sizes, through a
// LineFramer as the file source drives it (ReadBuffer, Framed, FlushHeld at
// the end), in UTF-8 and in UTF-16 of either byte order.
//
// Differential: the lines, their offsets and the truncated/skipped counts must
// be those of a plain model that sees the whole stream at once: split at each
// newline, NULs at the start of a line skipped (bytes only), one '\r'
// removed, empty lines dropped, a line over max_line_bytes
// cut (at a character boundary) or skipped. However the reads fall, the
// framer must not hold more than max_line_bytes, a '\r' and all but a byte of a newline.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "source/line_framer.h"

namespace {

using namespace tailtrack;
using Lines = std::vector<std::pair<uint64_t, std::string>>;

struct Model {
  LineUnits units;
  uint64_t max;
  LongLine on_long;
  Lines lines;
  uint64_t truncated = 0, skipped = 0;

  size_t Width() const { return units == LineUnits::kBytes ? 1 : 2; }
  uint32_t Unit(std::string_view s, size_t at) const {
    const auto b0 = static_cast<unsigned char>(s[at]), b1 = static_cast<unsigned char>(s[at + 1]);
    return units == LineUnits::kUtf16Be ? (b0 << 8 | b1) : (b1 << 8 | b0);
  }

  void Line(std::string_view line, uint64_t offset) {
    const size_t w = Width();
    if (w == 1) {  // NULs at the start of a line are skipped (a zeroed region of a file)
      const size_t nuls = std::min(line.size(), line.find_first_not_of('\0'));
      line.remove_prefix(nuls);
      offset += nuls;
    }
    if (line.size() >= w && (w == 1 ? line.back() == '\r' : Unit(line, line.size() - 2) == '\r')) {
      line.remove_suffix(w);
    }
    if (line.empty()) return;
    if (line.size() > max) {
      if (on_long == LongLine::kSkip) {
        ++skipped;
        return;
      }
      ++truncated;
      if (w == 1) {
        line = Utf8Prefix(line, max);
      } else {
        size_t end = max & ~uint64_t{1};
        if (end >= 2 && (Unit(line, end - 2) & 0xFC00) == 0xD800) end -= 2;
        line = line.substr(0, end);
      }
      if (line.empty()) return;
    }
    lines.emplace_back(offset, std::string(line));
  }

  void Stream(std::string_view s) {
    const size_t w = Width();
    size_t begin = 0;
    for (size_t at = 0; at + w <= s.size(); at += w) {
      const bool newline = w == 1 ? s[at] == '\n' : Unit(s, at) == '\n';
      if (!newline) continue;
      Line(s.substr(begin, at - begin), begin);
      begin = at + w;
    }
    if (begin < s.size()) Line(s.substr(begin), begin);
  }
};

void Print(const char* who, const Lines& lines) {
  std::fprintf(stderr, "%s:\n", who);
  for (const auto& [offset, line] : lines) {
    std::fprintf(stderr, "  %llu [", static_cast<unsigned long long>(offset));
    for (unsigned char c : line) std::fprintf(stderr, c < 0x20 || c >= 0x7f ? "\\x%02x" : "%c", c);
    std::fprintf(stderr, "]\n");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  static const LineUnits kUnits[] = {LineUnits::kBytes, LineUnits::kBytes, LineUnits::kUtf16Le, LineUnits::kUtf16Be};
  const LineUnits units = kUnits[in.ConsumeIntegralInRange<size_t>(0, 3)];
  const uint64_t max = in.ConsumeIntegralInRange<uint64_t>(1, 48);
  const LongLine on_long = in.ConsumeBool() ? LongLine::kSkip : LongLine::kTruncate;

  LineFramer framer(max, on_long, units);
  Lines got;
  auto emit = [&](std::string_view line, uint64_t offset) { got.emplace_back(offset, std::string(line)); };
  std::string stream, scratch;
  while (in.remaining_bytes() > 0) {
    const std::string chunk = in.ConsumeBytesAsString(in.ConsumeIntegralInRange<size_t>(1, 40));
    char* to = framer.ReadBuffer(scratch, chunk.size());
    std::memcpy(to, chunk.data(), chunk.size());
    stream += chunk;
    framer.Framed(scratch, chunk.size(), stream.size() - chunk.size(), emit);
    if (framer.held_bytes() > max + 3) std::abort();  // a line, a '\r' and half a UTF-16 newline
  }
  framer.FlushHeld(stream.size(), emit);

  Model model{units, max, on_long, {}};
  model.Stream(stream);
  if (got != model.lines || framer.truncated() != model.truncated || framer.skipped() != model.skipped) {
    std::fprintf(stderr, "units %d, max_line_bytes %llu, %s; truncated %llu (model %llu), skipped %llu (model %llu)\n",
                 static_cast<int>(units), static_cast<unsigned long long>(max), on_long == LongLine::kSkip ? "skip" : "truncate",
                 static_cast<unsigned long long>(framer.truncated()), static_cast<unsigned long long>(model.truncated),
                 static_cast<unsigned long long>(framer.skipped()), static_cast<unsigned long long>(model.skipped));
    Print("framer", got);
    Print("model", model.lines);
    std::abort();
  }
  return 0;
}
