// Compiled rules: one line (or record) in, zero or more events out.
//
// Single-threaded: a RuleSet owns scratch buffers and is used from one thread
// (the loop). Map() never throws and never allocates on the path of a line that
// matches no rule (but for RE2::Set's match list, on sources with a prefilter).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace tailtrack {

// One line and where it came from. Views are valid for the duration of Map().
struct LineContext {
  std::string_view line;    // without its '\n' and a '\r' before it
  uint32_t source = 0;      // index into Config::sources
  std::string_view path;    // file path, or socket path
  uint64_t offset = 0;      // byte offset of the line's first byte in its file
  uint64_t file_id = 0;     // stable identity of the file (device, inode, fingerprint); 0 if not a file
  int64_t read_time_ms = 0; // when the line was read: the timestamp of last resort
  // Set by EnvelopeDecoder (decode/envelope.h) for cri/docker sources: `line`
  // is the container's message, joined from its partial records, and `offset`
  // the offset of its first record. Map() takes no other line of such a source.
  bool decoded = false;
  std::string_view stream;        // "stdout" or "stderr"; empty when the record names none (`_stream`)
  std::string_view runtime_time;  // the runtime's timestamp, RFC 3339 as written (`_time`)
};

// Receives what Map() makes.
class EventSink {
 public:
  virtual ~EventSink() = default;
  // One complete event: a JSON object, valid UTF-8, at most kMaxEventBytes,
  // with messageId and context.library. The view is valid during the call only.
  virtual void OnEvent(std::string_view event_json, const LineContext& line) = 0;
  // An event that was made but may not be sent: it breaks the collector's field
  // reference or is too large. `event_json` is what was made (valid JSON).
  virtual void OnInvalid(std::string_view reason, std::string_view event_json, const LineContext& line) = 0;
};

// The collector refuses events larger than this once serialised.
inline constexpr size_t kMaxEventBytes = 32 * 1024;

struct RuleStats {
  std::vector<uint64_t> matched;           // per rule, by index in Config::rules
  std::vector<uint64_t> matched_by_source; // per rule and source: [rule * sources + source]
  std::vector<uint64_t> unmatched;         // per source: lines no rule matched
  std::vector<uint64_t> not_json;          // per source: json/event lines that did not parse
  uint64_t events = 0;
  uint64_t invalid = 0;
  std::vector<uint64_t> invalid_by_source;  // per source: events made but not sendable (dead letters)
  uint64_t timestamp_fallbacks = 0;        // timestamps that failed to parse
};

class RuleSet {
 public:
  // Compiles every rule of `config`, which LoadConfig has validated (every
  // source a rule names exists and is not format: event). Throws ConfigError
  // pointing at the offending regex, template, filter or time zone.
  static std::unique_ptr<RuleSet> Compile(const Config& config);

  virtual ~RuleSet() = default;

  // Maps one line of source `line.source`; calls `sink` for each event made.
  virtual void Map(const LineContext& line, EventSink& sink) = 0;

  virtual const RuleStats& stats() const = 0;
};

}  // namespace tailtrack
