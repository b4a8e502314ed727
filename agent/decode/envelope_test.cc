#include "decode/envelope.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <fstream>
#include <sstream>

#include "config/loader.h"

namespace tailtrack {
namespace {

// What the decoder passed on, copied out of the call.
struct Got {
  std::string line;
  uint64_t offset;
  uint64_t file_id;
  std::string stream;
  std::string time;
  int64_t read_time_ms;
  bool decoded;
};

struct Collect : LineSink {
  void OnLine(const LineContext& l) override {
    got.push_back({std::string(l.line), l.offset, l.file_id, std::string(l.stream), std::string(l.runtime_time),
                   l.read_time_ms, l.decoded});
  }
  std::vector<Got> got;
};

SourceConfig Source(Format format, uint64_t max_line_bytes = 1 << 20, LongLine on_long = LongLine::kTruncate) {
  SourceConfig s;
  s.name = "containers";
  s.format = format;
  s.max_line_bytes = max_line_bytes;
  s.on_long_line = on_long;
  return s;
}

// Feeds raw lines as the line framer would: each at the offset after the
// previous one and its "\n", read at 1000 + its index.
class Feeder {
 public:
  Feeder(EnvelopeDecoder& decoder, LineSink& next, uint64_t file_id = 7) : decoder_(decoder), next_(next) {
    ctx_.file_id = file_id;
    ctx_.path = "/var/log/containers/web.log";
  }
  uint64_t Feed(std::string_view line) {
    const uint64_t at = offset_;
    ctx_.line = line;
    ctx_.offset = offset_;
    ctx_.read_time_ms = 1000 + static_cast<int64_t>(count_++);
    decoder_.OnLine(ctx_, next_);
    offset_ += line.size() + 1;
    return at;
  }
  LineContext& ctx() { return ctx_; }

 private:
  EnvelopeDecoder& decoder_;
  LineSink& next_;
  LineContext ctx_;
  uint64_t offset_ = 0;
  size_t count_ = 0;
};

std::string Cri(std::string_view time, std::string_view stream, std::string_view tag, std::string_view message) {
  return std::string(time) + " " + std::string(stream) + " " + std::string(tag) + " " + std::string(message);
}

// A json-file record as docker writes it (Go's encoder escapes <, > and & too).
std::string Docker(std::string_view log, std::string_view stream, std::string_view time) {
  std::string out = "{\"log\":\"";
  for (const char c : log) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '<': out += "\\u003c"; break;
      case '>': out += "\\u003e"; break;
      case '&': out += "\\u0026"; break;
      default: out.push_back(c);
    }
  }
  return out + "\",\"stream\":\"" + std::string(stream) + "\",\"time\":\"" + std::string(time) + "\"}";
}

std::vector<std::string> ReadDataLines(const std::string& name) {
  std::ifstream in(std::string(TAILTRACK_SOURCE_DIR) + "/tests/data/logs/" + name);
  EXPECT_TRUE(in) << name;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A long line as a program would write it: ASCII, recognisable at any offset.
std::string ProgramLine(size_t size) {
  std::string s;
  for (size_t i = 0; s.size() < size; ++i) s += "item-" + std::to_string(i) + ",";
  s.resize(size);
  return s;
}

// ---------------------------------------------------------------------------
// CRI (containerd, CRI-O)

TEST(CriEnvelope, WholeLinesArePassedOnWithTheirStreamAndTheRuntimesTime) {
  EnvelopeDecoder decoder(Source(Format::kCri));
  Collect out;
  Feeder feed(decoder, out);
  feed.Feed("2026-01-20T06:30:01.123456789Z stdout F /docker-entrypoint.sh: Configuration complete; ready for start up");
  const uint64_t second =
      feed.Feed("2026-01-20T06:30:01.201934512Z stderr F 2026/01/20 06:30:01 [notice] 1#1: start worker processes");
  ASSERT_EQ(out.got.size(), 2u);
  EXPECT_EQ(out.got[0].line, "/docker-entrypoint.sh: Configuration complete; ready for start up");
  EXPECT_EQ(out.got[0].stream, "stdout");
  EXPECT_EQ(out.got[0].time, "2026-01-20T06:30:01.123456789Z");
  EXPECT_EQ(out.got[0].offset, 0u);
  EXPECT_TRUE(out.got[0].decoded);
  EXPECT_EQ(out.got[1].line, "2026/01/20 06:30:01 [notice] 1#1: start worker processes");
  EXPECT_EQ(out.got[1].stream, "stderr");
  EXPECT_EQ(out.got[1].offset, second);
  EXPECT_EQ(decoder.stats().records, 2u);
  EXPECT_EQ(decoder.stats().joined, 0u);
  EXPECT_EQ(decoder.HeldFrom(7), std::nullopt);
}

TEST(CriEnvelope, PartialRecordsAreJoinedUntilTheFullOneWithTheOtherStreamKeptApart) {
  // containerd reads 16 KiB at a time: a 40000-byte line is P, P, F; a stderr
  // line the container wrote meanwhile lands between the pieces.
  const std::string line = ProgramLine(40000);
  EnvelopeDecoder decoder(Source(Format::kCri));
  Collect out;
  Feeder feed(decoder, out);
  feed.Feed("2026-01-20T06:30:00.000000001Z stdout F before");
  const uint64_t first = feed.Feed(Cri("2026-01-20T06:30:01.100000000Z", "stdout", "P", line.substr(0, 16384)));
  feed.Feed(Cri("2026-01-20T06:30:01.100000100Z", "stdout", "P", line.substr(16384, 16384)));
  const uint64_t err = feed.Feed("2026-01-20T06:30:01.100000200Z stderr F warning: slow request");
  EXPECT_EQ(decoder.HeldFrom(7), first);
  feed.Feed(Cri("2026-01-20T06:30:01.100000300Z", "stdout", "F", line.substr(32768)));
  feed.Feed("2026-01-20T06:30:02.000000000Z stdout F after");

  ASSERT_EQ(out.got.size(), 4u);
  EXPECT_EQ(out.got[0].line, "before");
  EXPECT_EQ(out.got[1].line, "warning: slow request");
  EXPECT_EQ(out.got[1].stream, "stderr");
  EXPECT_EQ(out.got[1].offset, err);
  EXPECT_EQ(out.got[2].line, line);
  EXPECT_EQ(out.got[2].stream, "stdout");
  EXPECT_EQ(out.got[2].offset, first);  // a record read again after a crash gets the same messageId
  EXPECT_EQ(out.got[2].time, "2026-01-20T06:30:01.100000000Z");
  EXPECT_EQ(out.got[2].read_time_ms, 1001);
  EXPECT_EQ(out.got[3].line, "after");
  EXPECT_EQ(decoder.stats().records, 4u);
  EXPECT_EQ(decoder.stats().joined, 1u);
  EXPECT_EQ(decoder.stats().cut, 0u);
  EXPECT_EQ(decoder.HeldFrom(7), std::nullopt);
  EXPECT_EQ(decoder.held_bytes(), 0u);
}

TEST(CriEnvelope, APartialOnStdoutIsNotCompletedByAFullRecordOnStderr) {
  EnvelopeDecoder decoder(Source(Format::kCri));
  Collect out;
  Feeder feed(decoder, out);
  const uint64_t partial = feed.Feed("2026-01-20T06:30:01.000000000Z stdout P {\"user\":\"ann\",");
  feed.Feed("2026-01-20T06:30:01.000000001Z stderr F \"level\":\"error\"}");
  ASSERT_EQ(out.got.size(), 1u);
  EXPECT_EQ(out.got[0].line, "\"level\":\"error\"}");
  EXPECT_EQ(out.got[0].stream, "stderr");
  EXPECT_EQ(decoder.HeldFrom(7), partial);
  feed.Feed("2026-01-20T06:30:01.000000002Z stdout F \"n\":1}");
  ASSERT_EQ(out.got.size(), 2u);
  EXPECT_EQ(out.got[1].line, "{\"user\":\"ann\",\"n\":1}");
  EXPECT_EQ(out.got[1].offset, partial);
}

TEST(CriEnvelope, HeldFromIsTheOldestRecordBeingJoinedOfThatFileOnly) {
  EnvelopeDecoder decoder(Source(Format::kCri));
  Collect out;
  Feeder a(decoder, out, 1), b(decoder, out, 2);
  a.Feed("2026-01-20T06:30:01.000000000Z stdout F done");
  const uint64_t out_from = a.Feed("2026-01-20T06:30:01.000000001Z stdout P part one ");
  const uint64_t err_from = a.Feed("2026-01-20T06:30:01.000000002Z stderr P err part ");
  EXPECT_EQ(decoder.HeldFrom(1), out_from);
  EXPECT_EQ(decoder.HeldFrom(2), std::nullopt);
  b.Feed("2026-01-20T06:30:01.000000003Z stdout F other file");
  a.Feed("2026-01-20T06:30:01.000000004Z stdout F two");
  // Only the stderr record is held now: it started later.
  EXPECT_EQ(decoder.HeldFrom(1), err_from);
  a.Feed("2026-01-20T06:30:01.000000005Z stderr F end");
  EXPECT_EQ(decoder.HeldFrom(1), std::nullopt);
  ASSERT_EQ(out.got.size(), 4u);
  EXPECT_EQ(out.got[1].line, "other file");
  EXPECT_EQ(out.got[1].file_id, 2u);
  EXPECT_EQ(out.got[2].line, "part one two");
  EXPECT_EQ(out.got[3].line, "err part end");
  EXPECT_EQ(out.got[3].offset, err_from);
}

TEST(CriEnvelope, AnInvalidLineIsCountedAndDoesNotBreakThePendingJoin) {
  EnvelopeDecoder decoder(Source(Format::kCri));
  Collect out;
  Feeder feed(decoder, out);
  const uint64_t first = feed.Feed("2026-01-20T06:30:01.000000000Z stdout P hello ");
  for (const char* bad : {"garbage without an envelope", "2026-01-20T06:30:01.000000001Z stdin F not a stream",
                          "2026-01-20T06:30:01.000000002Z stdout X not a tag", "yesterday stdout F not a time",
                          "2026-01-20T06:30:01.000000003Z stdout", "2026-01-20T06:30:01.000000004Z"}) {
    feed.Feed(bad);
  }
  feed.Feed("2026-01-20T06:30:01.000000005Z stdout F world");
  ASSERT_EQ(out.got.size(), 1u);
  EXPECT_EQ(out.got[0].line, "hello world");
  EXPECT_EQ(out.got[0].offset, first);
  EXPECT_EQ(decoder.stats().undecodable, 6u);
  EXPECT_EQ(decoder.stats().records, 1u);
  EXPECT_EQ(decoder.stats().joined, 1u);
}

TEST(CriEnvelope, FurtherTagsAfterAColonAreAllowed) {
  EnvelopeDecoder decoder(Source(Format::kCri));
  Collect out;
  Feeder feed(decoder, out);
  feed.Feed("2026-01-20T06:30:01.000000000Z stdout P:x a");
  feed.Feed("2026-01-20T06:30:01.000000001Z stdout F:x b");
  ASSERT_EQ(out.got.size(), 1u);
  EXPECT_EQ(out.got[0].line, "ab");
}

TEST(CriEnvelope, EmptyMessagesMakeNoLine) {
  EnvelopeDecoder decoder(Source(Format::kCri));
  Collect out;
  Feeder feed(decoder, out);
  feed.Feed("2026-01-20T06:30:01.000000000Z stdout F ");
  feed.Feed("2026-01-20T06:30:01.000000001Z stdout F");
  feed.Feed("2026-01-20T06:30:01.000000002Z stdout P ");  // a piece of nothing holds nothing
  EXPECT_EQ(decoder.HeldFrom(7), std::nullopt);
  feed.Feed("2026-01-20T06:30:01.000000003Z stdout F  two spaces kept");
  ASSERT_EQ(out.got.size(), 1u);
  EXPECT_EQ(out.got[0].line, " two spaces kept");
  EXPECT_EQ(decoder.stats().records, 3u);
  EXPECT_EQ(decoder.stats().undecodable, 0u);
}

TEST(CriEnvelope, AJoinPastMaxLineBytesIsTruncatedAtACharacterBoundaryAndCounted) {
  EnvelopeDecoder decoder(Source(Format::kCri, 10));
  Collect out;
  Feeder feed(decoder, out);
  const uint64_t first = feed.Feed("2026-01-20T06:30:01.000000000Z stdout P 12345678");
  feed.Feed("2026-01-20T06:30:01.000000001Z stdout P \xC3\xA9\xC3\xA9");  // é straddles the limit
  EXPECT_LE(decoder.held_bytes(), 10u);
  feed.Feed("2026-01-20T06:30:01.000000002Z stdout P more that is dropped");
  EXPECT_EQ(decoder.HeldFrom(7), first);  // held until its end, so that a re-read cuts it the same way
  feed.Feed("2026-01-20T06:30:01.000000003Z stdout F end");
  feed.Feed("2026-01-20T06:30:01.000000004Z stdout F next");
  ASSERT_EQ(out.got.size(), 2u);
  EXPECT_EQ(out.got[0].line, "12345678\xC3\xA9");
  EXPECT_EQ(out.got[0].offset, first);
  EXPECT_EQ(out.got[1].line, "next");
  EXPECT_EQ(decoder.stats().cut, 1u);
  EXPECT_EQ(decoder.stats().joined, 1u);
  EXPECT_EQ(decoder.held_bytes(), 0u);
}

TEST(CriEnvelope, AJoinPastMaxLineBytesIsSkippedWhenOnLongLineSaysSo) {
  EnvelopeDecoder decoder(Source(Format::kCri, 10, LongLine::kSkip));
  Collect out;
  Feeder feed(decoder, out);
  feed.Feed("2026-01-20T06:30:01.000000000Z stdout P 12345678");
  feed.Feed("2026-01-20T06:30:01.000000001Z stdout P 901");
  EXPECT_EQ(decoder.held_bytes(), 0u);
  feed.Feed("2026-01-20T06:30:01.000000002Z stdout F end");
  feed.Feed("2026-01-20T06:30:01.000000003Z stdout F exactly10!");
  feed.Feed("2026-01-20T06:30:01.000000004Z stdout F eleven bytes");
  ASSERT_EQ(out.got.size(), 1u);
  EXPECT_EQ(out.got[0].line, "exactly10!");
  EXPECT_EQ(decoder.stats().cut, 2u);
  EXPECT_EQ(decoder.stats().records, 3u);
}

// ---------------------------------------------------------------------------
// docker json-file

TEST(DockerEnvelope, ARealLogDecodesEveryRecordButTheCorruptedOne) {
  // beats' sample: 21 records, the 7th without its leading '{'.
  const auto lines = ReadDataLines("edge-cases/beats_docker_corrupted.log");
  ASSERT_EQ(lines.size(), 21u);
  EnvelopeDecoder decoder(Source(Format::kDocker));
  Collect out;
  Feeder feed(decoder, out);
  for (const auto& line : lines) feed.Feed(line);
  ASSERT_EQ(out.got.size(), 20u);
  EXPECT_EQ(decoder.stats().undecodable, 1u);
  EXPECT_EQ(out.got[0].line, "Fetching main repository github.com/elastic/beats...");
  EXPECT_EQ(out.got[0].stream, "stdout");
  EXPECT_EQ(out.got[0].time, "2016-03-02T22:58:51.338462311Z");
  EXPECT_EQ(out.got[0].offset, 0u);
  EXPECT_EQ(out.got[6].line, "# binary");
  EXPECT_EQ(out.got[10].line, "sed -i.bk 's/device: any/device: en0/' /build/packetbeat-darwin.yml");
  EXPECT_EQ(decoder.stats().joined, 0u);
}

TEST(DockerEnvelope, ARealLogWithSplitLinesIsJoined) {
  // fluent-bit's sample: {"log":"2020-03-24 Single "} {"log":"li"} {"log":"ne\n"}, twice; no stream, no time.
  const auto lines = ReadDataLines("edge-cases/fluent-bit_tail_dockermode_splitted_line.log");
  ASSERT_EQ(lines.size(), 6u);
  EnvelopeDecoder decoder(Source(Format::kDocker));
  Collect out;
  Feeder feed(decoder, out);
  std::vector<uint64_t> offsets;
  for (const auto& line : lines) offsets.push_back(feed.Feed(line));
  ASSERT_EQ(out.got.size(), 2u);
  EXPECT_EQ(out.got[0].line, "2020-03-24 Single line");
  EXPECT_EQ(out.got[0].offset, offsets[0]);
  EXPECT_EQ(out.got[0].stream, "");
  EXPECT_EQ(out.got[0].time, "");
  EXPECT_EQ(out.got[1].line, "2020-03-24 Another single line");
  EXPECT_EQ(out.got[1].offset, offsets[3]);
  EXPECT_EQ(decoder.stats().joined, 2u);
}

TEST(DockerEnvelope, ALineSplitAtSixteenKibibytesIsJoinedPerStream) {
  const std::string line = "<html> & " + ProgramLine(40000) + " \"quoted\"";
  EnvelopeDecoder decoder(Source(Format::kDocker));
  Collect out;
  Feeder feed(decoder, out);
  const uint64_t first = feed.Feed(Docker(line.substr(0, 16384), "stdout", "2026-01-20T06:30:01.5Z"));
  feed.Feed(Docker("stderr in between\n", "stderr", "2026-01-20T06:30:01.50000001Z"));
  feed.Feed(Docker(line.substr(16384, 16384), "stdout", "2026-01-20T06:30:01.500000002Z"));
  EXPECT_EQ(decoder.HeldFrom(7), first);
  feed.Feed(Docker(line.substr(32768) + "\n", "stdout", "2026-01-20T06:30:01.500000003Z"));
  ASSERT_EQ(out.got.size(), 2u);
  EXPECT_EQ(out.got[0].line, "stderr in between");
  EXPECT_EQ(out.got[0].stream, "stderr");
  EXPECT_EQ(out.got[1].line, line);
  EXPECT_EQ(out.got[1].offset, first);
  EXPECT_EQ(out.got[1].stream, "stdout");
  EXPECT_EQ(out.got[1].time, "2026-01-20T06:30:01.5Z");
  EXPECT_EQ(decoder.stats().joined, 1u);
  EXPECT_EQ(decoder.HeldFrom(7), std::nullopt);
}

TEST(DockerEnvelope, ACarriageReturnBeforeTheNewlineIsRemoved) {
  EnvelopeDecoder decoder(Source(Format::kDocker));
  Collect out;
  Feeder feed(decoder, out);
  feed.Feed(Docker("windows line\r\n", "stdout", "2026-01-20T06:30:01Z"));
  feed.Feed(Docker("split before the newline\r", "stdout", "2026-01-20T06:30:02Z"));
  feed.Feed(Docker("\n", "stdout", "2026-01-20T06:30:03Z"));
  ASSERT_EQ(out.got.size(), 2u);
  EXPECT_EQ(out.got[0].line, "windows line");
  EXPECT_EQ(out.got[1].line, "split before the newline");
}

TEST(DockerEnvelope, RecordsThatAreNotDockersAreCountedAndDoNotBreakThePendingJoin) {
  EnvelopeDecoder decoder(Source(Format::kDocker));
  Collect out;
  Feeder feed(decoder, out);
  feed.Feed(Docker("first ", "stdout", "2026-01-20T06:30:01Z"));
  for (const char* bad : {"not json", "[1,2]", "{\"stream\":\"stdout\"}", "{\"log\":5}", "{\"log\":\"x\\n\",\"stream\":\"stdin\"}",
                          "{\"log\":\"x\\n\",\"stream\":1}", "{\"log\":\"x\\n\",\"time\":2}", "{\"log\":\"trunc"}) {
    feed.Feed(bad);
  }
  feed.Feed(Docker("second\n", "stdout", "2026-01-20T06:30:02Z"));
  ASSERT_EQ(out.got.size(), 1u);
  EXPECT_EQ(out.got[0].line, "first second");
  EXPECT_EQ(decoder.stats().undecodable, 8u);
}

TEST(DockerEnvelope, InvalidUtf8IsRepairedNotRefused) {
  EnvelopeDecoder decoder(Source(Format::kDocker));
  Collect out;
  Feeder feed(decoder, out);
  feed.Feed("{\"log\":\"Adi\xf3s\\n\",\"stream\":\"stdout\",\"time\":\"2026-01-20T06:30:01Z\"}");
  ASSERT_EQ(out.got.size(), 1u);
  EXPECT_EQ(out.got[0].line, "Adi\xEF\xBF\xBDs");
}

TEST(DockerEnvelope, FlushPassesOnALastLineWithoutNewlineOldestFirst) {
  // A container's last output without a newline is never continued.
  EnvelopeDecoder decoder(Source(Format::kDocker));
  Collect out;
  Feeder feed(decoder, out);
  const uint64_t err = feed.Feed(Docker("Enter password: ", "stderr", "2026-01-20T06:30:01Z"));
  const uint64_t std_out = feed.Feed(Docker("progress 50%", "stdout", "2026-01-20T06:30:02Z"));
  EXPECT_GT(decoder.held_bytes(), 0u);
  decoder.Flush(feed.ctx(), out);
  ASSERT_EQ(out.got.size(), 2u);
  EXPECT_EQ(out.got[0].line, "Enter password: ");
  EXPECT_EQ(out.got[0].offset, err);
  EXPECT_EQ(out.got[1].line, "progress 50%");
  EXPECT_EQ(out.got[1].offset, std_out);
  EXPECT_EQ(decoder.HeldFrom(7), std::nullopt);
  EXPECT_EQ(decoder.held_bytes(), 0u);
  decoder.Flush(feed.ctx(), out);  // nothing more
  EXPECT_EQ(out.got.size(), 2u);
}

TEST(DockerEnvelope, ForgetDropsWhatIsHeldForThatFile) {
  EnvelopeDecoder decoder(Source(Format::kDocker));
  Collect out;
  Feeder a(decoder, out, 1), b(decoder, out, 2);
  a.Feed(Docker("gone ", "stdout", "2026-01-20T06:30:01Z"));
  const uint64_t kept = b.Feed(Docker("kept ", "stdout", "2026-01-20T06:30:01Z"));
  decoder.Forget(1);
  EXPECT_EQ(decoder.HeldFrom(1), std::nullopt);
  EXPECT_EQ(decoder.HeldFrom(2), kept);
  EXPECT_EQ(decoder.held_bytes(), 5u);
  a.Feed(Docker("fresh\n", "stdout", "2026-01-20T06:30:02Z"));
  ASSERT_EQ(out.got.size(), 1u);
  EXPECT_EQ(out.got[0].line, "fresh");
}

// ---------------------------------------------------------------------------
// Through the rules

struct Events : EventSink {
  void OnEvent(std::string_view e, const LineContext&) override { events.emplace_back(e); }
  void OnInvalid(std::string_view r, std::string_view, const LineContext&) override { invalid.emplace_back(r); }
  std::vector<std::string> events, invalid;
};

struct ToRules : LineSink {
  ToRules(RuleSet& r, EventSink& s) : rules(r), sink(s) {}
  void OnLine(const LineContext& line) override { rules.Map(line, sink); }
  RuleSet& rules;
  EventSink& sink;
};

const std::string kRules = R"(
collector: {url: https://c.example, write_key: k}
sources:
  - {name: k8s, type: file, paths: [/var/log/containers/*.log], format: cri}
  - {name: dk, type: file, paths: [/var/lib/docker/containers/*/*.log], format: docker, inner: json}
  - {name: app, type: file, paths: [/var/log/app.jsonl], format: json}
rules:
  - name: container-errors
    sources: [k8s]
    regex: '^(?P<level>[A-Z]+) (?P<msg>.*)$'
    when:
      _stream: stderr
    event:
      type: track
      event: Container Error
      anonymousId: "{{ _host }}"
      timestamp: "{{ _time }}"
      properties: {level: "{{ level }}", message: "{{ msg }}", stream: "{{ _stream }}"}
  - name: requests
    sources: [dk]
    when:
      _stream: {in: [stdout]}
    event:
      type: track
      event: Request
      userId: "{{ user }}"
      timestamp: "{{ _time | timestamp }}"
      properties: {path: "{{ path }}", time_exists: "{{ _time }}"}
  - name: splunk-style
    sources: [app]
    event:
      type: track
      event: App
      userId: "{{ user }}"
      timestamp: "{{ _time }}"
)";

std::string Field(const std::string& event, const char* pointer) {
  simdjson::dom::parser parser;
  std::string_view v;
  if (parser.parse(event).at_pointer(pointer).get(v) != simdjson::SUCCESS) return "(missing)";
  return std::string(v);
}

TEST(EnvelopeRules, StreamAndRuntimeTimeAreVariablesForWhenAndTimestamp) {
  const Config config = LoadConfigFromString(kRules, "t.yaml");
  auto rules = RuleSet::Compile(config);
  Events events;
  ToRules to_rules(*rules, events);

  EnvelopeDecoder cri(config.sources[0]);
  Feeder k8s(cri, to_rules);
  k8s.ctx().source = 0;
  k8s.Feed("2026-01-20T06:30:01.123456789Z stdout F ERROR on stdout is not matched");
  const uint64_t first = k8s.Feed("2026-01-20T06:30:01.223456789+02:00 stderr P ERROR disk ");
  k8s.Feed("2026-01-20T06:30:01.323456789+02:00 stderr F full");
  ASSERT_EQ(events.events.size(), 1u) << (events.invalid.empty() ? "" : events.invalid[0]);
  const std::string& e = events.events[0];
  EXPECT_EQ(Field(e, "/timestamp"), "2026-01-20T04:30:01.223Z");  // the first piece's, in UTC
  EXPECT_EQ(Field(e, "/properties/message"), "disk full");
  EXPECT_EQ(Field(e, "/properties/stream"), "stderr");
  char id[64];
  std::snprintf(id, sizeof id, "-%llx-", static_cast<unsigned long long>(first));
  EXPECT_NE(Field(e, "/messageId").find(id), std::string::npos) << e;
  EXPECT_EQ(rules->stats().unmatched[0], 1u);

  EnvelopeDecoder docker(config.sources[1]);
  Feeder dk(docker, to_rules);
  dk.ctx().source = 1;
  dk.Feed(Docker("{\"user\":\"ann\",\"path\":\"/cart\"}\n", "stdout", "2016-03-02T22:58:51.338462311Z"));
  dk.Feed(Docker("{\"user\":\"bob\",\"path\":\"/err\"}\n", "stderr", "2016-03-02T22:58:52Z"));
  ASSERT_EQ(events.events.size(), 2u);
  EXPECT_EQ(Field(events.events[1], "/userId"), "ann");
  EXPECT_EQ(Field(events.events[1], "/timestamp"), "2016-03-02T22:58:51.338Z");
  EXPECT_EQ(Field(events.events[1], "/properties/time_exists"), "2016-03-02T22:58:51.338462311Z");
  EXPECT_EQ(rules->stats().timestamp_fallbacks, 0u);
}

TEST(EnvelopeRules, ARecordWithoutARuntimeTimeFallsBackToTheReadTime) {
  const Config config = LoadConfigFromString(kRules, "t.yaml");
  auto rules = RuleSet::Compile(config);
  Events events;
  ToRules to_rules(*rules, events);
  EnvelopeDecoder docker(config.sources[1]);
  LineContext ctx;
  ctx.source = 1;
  ctx.file_id = 9;
  ctx.read_time_ms = 1768890600000;  // 2026-01-20T06:30:00Z
  ctx.line = R"({"log":"{\"user\":\"ann\"}\n","stream":"stdout"})";
  docker.OnLine(ctx, to_rules);
  ASSERT_EQ(events.events.size(), 1u);
  EXPECT_EQ(Field(events.events[0], "/timestamp"), "2026-01-20T06:30:00.000Z");
  EXPECT_EQ(Field(events.events[0], "/properties/time_exists"), "(missing)");
}

TEST(EnvelopeRules, UnderscoreTimeIsStillAJsonFieldOfOtherSources) {
  const Config config = LoadConfigFromString(kRules, "t.yaml");
  auto rules = RuleSet::Compile(config);
  Events events;
  LineContext ctx;
  ctx.source = 2;
  ctx.line = R"({"user":"ann","_time":"2026-01-20T06:30:05Z"})";
  rules->Map(ctx, events);
  ASSERT_EQ(events.events.size(), 1u);
  EXPECT_EQ(Field(events.events[0], "/timestamp"), "2026-01-20T06:30:05.000Z");
}

TEST(EnvelopeRules, ALineThatDidNotPassTheDecoderIsCountedNotMapped) {
  const Config config = LoadConfigFromString(kRules, "t.yaml");
  auto rules = RuleSet::Compile(config);
  Events events;
  LineContext ctx;
  ctx.source = 0;
  ctx.line = "2026-01-20T06:30:01.123456789Z stderr F ERROR raw";
  rules->Map(ctx, events);
  EXPECT_TRUE(events.events.empty());
  EXPECT_EQ(rules->stats().not_json[0], 1u);
}

TEST(EnvelopeRules, StreamOnASourceWithoutEnvelopesIsAConfigError) {
  const std::string yaml = R"(
collector: {url: https://c.example, write_key: k}
sources:
  - {name: app, type: file, paths: [/var/log/app.log]}
rules:
  - name: r
    regex: '^(?P<user>\S+)'
    when:
      _stream: stderr
    event: {type: track, event: E, userId: "{{ user }}"}
)";
  const Config config = LoadConfigFromString(yaml, "t.yaml");
  try {
    RuleSet::Compile(config);
    FAIL() << "compiled";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "t.yaml:9:16: variable \"_stream\" is set for cri and docker sources only, and rule \"r\" "
                           "applies to none");
  }
}

}  // namespace
}  // namespace tailtrack
