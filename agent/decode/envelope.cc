#include "decode/envelope.h"

#include <simdjson.h>

#include "event/json_writer.h"
#include "source/line_framer.h"

namespace tailtrack {
namespace {

constexpr std::string_view kStreamNames[] = {"stdout", "stderr", ""};

// The shape of RFC 3339 as runtimes write it (`2026-01-20T06:30:01.123456789Z`):
// enough to tell an envelope from a line of something else. The rules parse it
// when a rule asks (`_time`).
bool LooksLikeTime(std::string_view t) {
  if (t.size() < 20 || t[4] != '-' || t[7] != '-' || t[10] != 'T') return false;
  for (size_t i = 0; i < 4; ++i) {
    if (t[i] < '0' || t[i] > '9') return false;
  }
  return true;
}

}  // namespace

EnvelopeDecoder::EnvelopeDecoder(const SourceConfig& config)
    : format_(config.format), max_(config.max_line_bytes), on_long_(config.on_long_line) {
  if (format_ == Format::kDocker) parser_ = std::make_unique<simdjson::dom::parser>();
}

EnvelopeDecoder::~EnvelopeDecoder() = default;

bool EnvelopeDecoder::ParseCri(std::string_view line, Piece* piece) const {
  // TIME SP STREAM SP TAG [SP MESSAGE]. TAG is P or F; the CRI log format
  // leaves room for more tags after a ':', which say nothing to us.
  const size_t sp = line.find(' ');
  if (sp == std::string_view::npos) return false;
  piece->time = line.substr(0, sp);
  if (!LooksLikeTime(piece->time)) return false;
  std::string_view rest = line.substr(sp + 1);
  if (rest.starts_with("stdout ")) {
    piece->stream = kStdout;
  } else if (rest.starts_with("stderr ")) {
    piece->stream = kStderr;
  } else {
    return false;
  }
  rest.remove_prefix(7);
  const size_t end = rest.find(' ');
  const std::string_view tags = rest.substr(0, end);
  const std::string_view tag = tags.substr(0, tags.find(':'));
  if (tag == "F") {
    piece->last = true;
  } else if (tag == "P") {
    piece->last = false;
  } else {
    return false;
  }
  // An empty message may come without the space before it.
  piece->message = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
  return true;
}

bool EnvelopeDecoder::ParseDocker(std::string_view line, Piece* piece) {
  // Docker escapes what it writes, so invalid UTF-8 means damage; it is
  // repaired (U+FFFD) rather than the line lost, as RuleSet does with JSON.
  auto parsed = parser_->parse(line.data(), line.size(), true);
  if (parsed.error() == simdjson::UTF8_ERROR) {
    json::RepairUtf8(line, repaired_);
    parsed = parser_->parse(repaired_.data(), repaired_.size(), true);
  }
  simdjson::dom::object object;
  if (parsed.error() || parsed.value_unsafe().get_object().get(object) != simdjson::SUCCESS) return false;
  bool has_log = false;
  std::string_view log;
  piece->stream = kNoStream;  // not docker's, but some tools write records without it
  piece->time = {};
  for (const auto field : object) {
    std::string_view text;
    if (field.key == "log") {
      if (field.value.get_string().get(log) != simdjson::SUCCESS) return false;
      has_log = true;
    } else if (field.key == "stream") {
      if (field.value.get_string().get(text) != simdjson::SUCCESS) return false;
      if (text == "stdout") piece->stream = kStdout;
      else if (text == "stderr") piece->stream = kStderr;
      else return false;
    } else if (field.key == "time") {
      if (field.value.get_string().get(text) != simdjson::SUCCESS) return false;
      piece->time = text;
    }
  }
  if (!has_log) return false;
  piece->last = !log.empty() && log.back() == '\n';
  if (piece->last) log.remove_suffix(1);
  piece->message = log;
  return true;
}

void EnvelopeDecoder::OnLine(const LineContext& raw, LineSink& next) {
  Piece piece;
  const bool ok = format_ == Format::kDocker ? ParseDocker(raw.line, &piece) : ParseCri(raw.line, &piece);
  if (!ok) {
    ++stats_.undecodable;
    return;
  }
  const auto it = files_.find(raw.file_id);
  Pending* pending = it == files_.end() ? nullptr : &it->second.streams[piece.stream];
  if (pending == nullptr || !pending->active) {
    if (piece.last) {  // the common case: a whole line in one record, passed on as a view
      Complete(raw, raw.offset, raw.read_time_ms, piece.stream, piece.time, piece.message, 1, false, next);
      return;
    }
    // A piece of nothing would hold the file's checkpoint for nothing.
    if (piece.message.empty()) return;
    if (pending == nullptr) pending = &files_[raw.file_id].streams[piece.stream];
    pending->active = true;
    pending->cut = false;
    pending->pieces = 0;
    pending->offset = raw.offset;
    pending->read_time_ms = raw.read_time_ms;
    pending->time.assign(piece.time);
    pending->text.clear();
  }
  Append(*pending, piece.message);
  ++pending->pieces;
  if (piece.last) CompletePending(raw, piece.stream, *pending, next);
}

void EnvelopeDecoder::Append(Pending& pending, std::string_view message) {
  if (pending.cut) return;  // the rest of a record already cut
  std::string& text = pending.text;
  const size_t before = text.size();  // at most max_
  if (message.size() <= max_ - before) {
    text.append(message);
    held_bytes_ += message.size();
    return;
  }
  pending.cut = true;
  if (on_long_ == LongLine::kSkip) {
    held_bytes_ -= before;
    std::string().swap(text);  // nothing of it will be needed
    return;
  }
  // Utf8Prefix looks at the byte after the limit to find a character boundary.
  text.append(message.substr(0, max_ - before + 1));
  text.resize(Utf8Prefix(text, max_).size());
  held_bytes_ = held_bytes_ - before + text.size();
}

void EnvelopeDecoder::CompletePending(const LineContext& raw, Stream stream, Pending& pending, LineSink& next) {
  // Taken out first, so that the file's state can go before the record is passed on.
  text_.swap(pending.text);
  time_.swap(pending.time);
  held_bytes_ -= text_.size();
  const uint64_t offset = pending.offset;
  const int64_t read_time_ms = pending.read_time_ms;
  const uint32_t pieces = pending.pieces;
  const bool cut = pending.cut;
  pending = Pending{};
  const auto it = files_.find(raw.file_id);
  bool idle = true;
  for (const Pending& p : it->second.streams) idle = idle && !p.active;
  if (idle) files_.erase(it);
  Complete(raw, offset, read_time_ms, stream, time_, text_, pieces, cut, next);
}

void EnvelopeDecoder::Complete(const LineContext& raw, uint64_t offset, int64_t read_time_ms, Stream stream,
                               std::string_view time, std::string_view message, uint32_t pieces, bool cut,
                               LineSink& next) {
  ++stats_.records;
  if (pieces > 1) ++stats_.joined;
  if (!message.empty() && message.back() == '\r') message.remove_suffix(1);
  if (cut || message.size() > max_) {
    ++stats_.cut;
    if (on_long_ == LongLine::kSkip) return;
    message = Utf8Prefix(message, max_);
  }
  if (message.empty()) return;
  LineContext out = raw;
  out.line = message;
  out.offset = offset;
  out.read_time_ms = read_time_ms;
  out.decoded = true;
  out.stream = kStreamNames[stream];
  out.runtime_time = time;
  next.OnLine(out);
}

void EnvelopeDecoder::Flush(const LineContext& file, LineSink& next) {
  while (true) {
    const auto it = files_.find(file.file_id);
    if (it == files_.end()) return;
    Pending* oldest = nullptr;
    Stream stream = kNoStream;
    for (int s = 0; s < kStreams; ++s) {
      Pending& p = it->second.streams[s];
      if (p.active && (oldest == nullptr || p.offset < oldest->offset)) oldest = &p, stream = static_cast<Stream>(s);
    }
    if (oldest == nullptr) {  // not reached: a file without a record being joined is not kept
      files_.erase(it);
      return;
    }
    CompletePending(file, stream, *oldest, next);
  }
}

void EnvelopeDecoder::Forget(uint64_t file_id) {
  const auto it = files_.find(file_id);
  if (it == files_.end()) return;
  for (const Pending& p : it->second.streams) held_bytes_ -= p.text.size();
  files_.erase(it);
}

std::optional<uint64_t> EnvelopeDecoder::HeldFrom(uint64_t file_id) const {
  const auto it = files_.find(file_id);
  if (it == files_.end()) return std::nullopt;
  std::optional<uint64_t> from;
  for (const Pending& p : it->second.streams) {
    if (p.active && (!from || p.offset < *from)) from = p.offset;
  }
  return from;
}

}  // namespace tailtrack
