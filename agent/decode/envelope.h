// Container runtime envelopes (`format: cri`, `format: docker`): raw lines of
// a log file in, the containers' own lines out.
//
// containerd and CRI-O write `TIME STREAM TAG MESSAGE`, TIME in RFC 3339 with
// nanoseconds, STREAM `stdout` or `stderr`, TAG `P` for a piece of a line the
// runtime split (containerd reads 16 KiB at a time) and `F` for its last piece.
// Docker's json-file driver writes `{"log":"...\n","stream":"stdout","time":"..."}`
// and splits lines at 16 KiB too: a `log` that does not end in "\n" continues
// in the next record of the same stream. A runtime interleaves the records of
// stdout and stderr, so each stream of each file is joined on its own.
//
// Memory: at most max_line_bytes (+ the runtime's timestamp) per stream of a
// file with a line in progress; a file with none holds nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "config/config.h"
#include "rules/rule_set.h"
#include "source/line_sink.h"

namespace simdjson::dom {
class parser;
}

namespace tailtrack {

// One per cri/docker source. Single-threaded (the loop).
class EnvelopeDecoder {
 public:
  // Takes format (cri or docker), max_line_bytes and on_long_line of `config`.
  explicit EnvelopeDecoder(const SourceConfig& config);
  ~EnvelopeDecoder();
  EnvelopeDecoder(const EnvelopeDecoder&) = delete;
  EnvelopeDecoder& operator=(const EnvelopeDecoder&) = delete;

  // One raw line of the source, as the line framer made it. Calls
  // next.OnLine() for each record it completes: `line` the joined message
  // (without its "\n", and a "\r" before it), `offset` and `read_time_ms` those
  // of the record's FIRST raw line (so that a record read again after a crash
  // gets the same messageId), `decoded` true, `stream` and `runtime_time` (also
  // of the first raw line) set; the other fields as `raw`'s. Views are valid
  // during the call only. A record whose message is empty is not passed on (an
  // empty line makes no event). A raw line that is not an envelope is counted
  // (stats().undecodable) and dropped; it does not end a pending join.
  // A joined message over max_line_bytes is cut at a UTF-8 boundary or
  // skipped, as on_long_line says, and counted (stats().cut).
  void OnLine(const LineContext& raw, LineSink& next);

  // Passes on what is held for file `file.file_id` as if its last pieces had
  // come, oldest first, with `file`'s source and path: the file has been idle
  // for idle_flush, or is being closed (docker never continues a container's
  // last line that had no newline). `file.line` and `file.offset` are unused.
  void Flush(const LineContext& file, LineSink& next);

  // Drops what is held for file `file_id` (it was truncated and is read again
  // from 0, or is forgotten).
  void Forget(uint64_t file_id);

  // Checkpoints of `file_id` may not pass a held piece: the offset of the
  // first raw line of the oldest record still being joined, if any.
  std::optional<uint64_t> HeldFrom(uint64_t file_id) const;

  // Bytes of messages held, over all files (for memory metrics).
  uint64_t held_bytes() const { return held_bytes_; }

  struct Stats {
    uint64_t records = 0;      // records completed (passed on, empty, or skipped as too long)
    uint64_t joined = 0;       // of those, made of more than one raw line
    uint64_t cut = 0;          // of those, over max_line_bytes: truncated or skipped
    uint64_t undecodable = 0;  // raw lines that are not an envelope of the source's format
  };
  const Stats& stats() const { return stats_; }

 private:
  enum Stream : uint8_t { kStdout, kStderr, kNoStream, kStreams };

  // One raw line, read: views into the raw line or the JSON parser.
  struct Piece {
    Stream stream = kNoStream;
    std::string_view time;
    std::string_view message;  // without the "\n" that ends a docker line
    bool last = true;          // ends its record
  };

  // A record of one stream of one file, being joined.
  struct Pending {
    bool active = false;
    bool cut = false;
    uint32_t pieces = 0;
    uint64_t offset = 0;
    int64_t read_time_ms = 0;
    std::string time;
    std::string text;
  };
  struct FileState {
    Pending streams[kStreams];
  };

  bool ParseCri(std::string_view line, Piece* piece) const;
  bool ParseDocker(std::string_view line, Piece* piece);
  void Append(Pending& pending, std::string_view message);
  // Passes on one complete record of `pieces` raw lines.
  void Complete(const LineContext& raw, uint64_t offset, int64_t read_time_ms, Stream stream,
                std::string_view time, std::string_view message, uint32_t pieces, bool cut, LineSink& next);
  // Completes the record `pending` holds and resets it.
  void CompletePending(const LineContext& raw, Stream stream, Pending& pending, LineSink& next);

  Format format_;
  uint64_t max_;
  LongLine on_long_;
  std::unordered_map<uint64_t, FileState> files_;  // only files with a record being joined
  std::unique_ptr<simdjson::dom::parser> parser_;  // docker
  std::string repaired_;                           // a docker line with invalid UTF-8, repaired
  std::string text_, time_;                        // a joined record being passed on
  uint64_t held_bytes_ = 0;
  Stats stats_;
};

}  // namespace tailtrack
