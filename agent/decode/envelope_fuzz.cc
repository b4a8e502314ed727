// libFuzzer: random bytes, cut into lines, through an EnvelopeDecoder. It must
// never crash, and what it passes on must keep the contract: a decoded,
// non-empty line of at most max_line_bytes, at an offset already read and not
// before what HeldFrom() allowed to checkpoint, from one of the files fed;
// after a flush of every file nothing is held.
//
// The first bytes choose the format, max_line_bytes, on_long_line and whether
// each line is taken as it is or wrapped in a well-formed envelope whose
// stream, tag and file come from the line's first byte (so that joins, cuts
// and interleaved streams are reached, not only refusals).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

#include "decode/envelope.h"
#include "event/json_writer.h"

namespace {

using namespace tailtrack;

struct Check : LineSink {
  uint64_t max = 0;
  uint64_t read_to = 0;  // the offset of the raw line being fed
  std::map<uint64_t, uint64_t> floor;  // per file: the lowest offset a record may still have
  void OnLine(const LineContext& l) override {
    if (!l.decoded || l.line.empty() || l.line.size() > max || l.offset > read_to) std::abort();
    if (l.stream != "stdout" && l.stream != "stderr" && !l.stream.empty()) std::abort();
    const auto it = floor.find(l.file_id);
    if (it == floor.end() || l.offset < it->second) std::abort();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  SourceConfig config;
  config.format = in.ConsumeBool() ? Format::kDocker : Format::kCri;
  config.max_line_bytes = in.ConsumeIntegralInRange<uint64_t>(1, 64);
  config.on_long_line = in.ConsumeBool() ? LongLine::kSkip : LongLine::kTruncate;
  const bool wrap = in.ConsumeBool();
  EnvelopeDecoder decoder(config);
  Check check;
  check.max = config.max_line_bytes;

  std::string wrapped;
  uint64_t offset = 0;
  const std::string rest = in.ConsumeRemainingBytesAsString();
  size_t pos = 0;
  while (pos < rest.size()) {
    size_t end = rest.find('\n', pos);
    if (end == std::string::npos) end = rest.size();
    std::string_view line(rest.data() + pos, end - pos);
    pos = end + 1;
    const uint8_t selector = line.empty() ? 0 : static_cast<uint8_t>(line[0]);
    LineContext raw;
    raw.file_id = 1 + (selector >> 6);  // four files
    raw.offset = offset;
    offset += line.size() + 1;
    check.floor.emplace(raw.file_id, 0);
    if ((selector & 0x30) == 0x30) {  // now and then, what the agent would do at idle_flush or truncation
      if (selector & 1) {
        decoder.Flush(raw, check);
      } else {
        decoder.Forget(raw.file_id);
      }
      check.floor[raw.file_id] = raw.offset;  // nothing older may come
      if (decoder.HeldFrom(raw.file_id)) std::abort();
      continue;
    }
    if (wrap && !line.empty()) {
      const std::string_view message = line.substr(1);
      const char* stream = (selector & 1) ? "stderr" : "stdout";
      const bool last = selector & 2;
      wrapped.clear();
      if (config.format == Format::kCri) {
        wrapped = std::string("2026-01-20T06:30:01.000000000Z ") + stream + (last ? " F " : " P ");
        wrapped.append(message);
      } else {
        wrapped = "{\"log\":";
        json::AppendString(wrapped, std::string(message) + (last ? "\n" : ""));
        wrapped += std::string(",\"stream\":\"") + stream + "\",\"time\":\"2026-01-20T06:30:01Z\"}";
      }
      line = wrapped;
    }
    raw.line = line;
    check.read_to = raw.offset;
    decoder.OnLine(raw, check);
    const auto held = decoder.HeldFrom(raw.file_id);
    if (held && (*held > raw.offset || *held < check.floor[raw.file_id])) std::abort();
  }
  for (const auto& [file_id, _] : check.floor) {
    LineContext file;
    file.file_id = file_id;
    check.read_to = offset;
    decoder.Flush(file, check);
    if (decoder.HeldFrom(file_id)) std::abort();
  }
  if (decoder.held_bytes() != 0) std::abort();
  return 0;
}
