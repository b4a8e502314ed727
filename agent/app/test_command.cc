// `tailtrack test`: the rules of one source applied to lines from a file or
// stdin, each event printed as it would be sent; or the rule tests written in
// the configuration. Nothing is sent and no state is written.
#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sys/stat.h>

#include "app/commands.h"
#include "app/progress.h"
#include "config/loader.h"
#include "core/clock.h"
#include "decode/encoding.h"
#include "decode/envelope.h"
#include "event/canonical.h"
#include "rules/rule_set.h"
#include "source/line_framer.h"
#include "source/line_sink.h"

namespace tailtrack {
namespace {

constexpr int kExitUsage = 2;     // as main.cc: a mistake on the command line
constexpr int kExitNoInput = 66;  // sysexits.h EX_NOINPUT
constexpr size_t kSamplesPerSource = 5;
constexpr size_t kSampleChars = 200;

uint64_t Fnv1a64(std::string_view s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

class PrintSink final : public EventSink {
 public:
  void OnEvent(std::string_view event_json, const LineContext&) override {
    std::fwrite(event_json.data(), 1, event_json.size(), stdout);
    std::fputc('\n', stdout);
  }
  void OnInvalid(std::string_view reason, std::string_view event_json, const LineContext&) override {
    std::fprintf(stderr, "invalid: %.*s: %.*s\n", static_cast<int>(reason.size()), reason.data(),
                 static_cast<int>(event_json.size()), event_json.data());
  }
};

class CollectSink final : public EventSink {
 public:
  void OnEvent(std::string_view event_json, const LineContext&) override { events.emplace_back(event_json); }
  void OnInvalid(std::string_view reason, std::string_view event_json, const LineContext&) override {
    invalid.push_back(fmt::format("{}: {}", reason, event_json));
  }
  std::vector<std::string> events;
  std::vector<std::string> invalid;
};

// Lines on their way to the rules: through the envelope decoder first for a
// cri/docker source, as the agent does.
class ToRules final : public LineSink {
 public:
  ToRules(const SourceConfig& source, RuleSet& rules, EventSink& sink)
      : rules_(rules), sink_(sink), transcoder_(LineTranscoder::For(source.encoding)) {
    if (source.format == Format::kCri || source.format == Format::kDocker) decoder.emplace(source);
  }
  void Raw(const LineContext& raw) {
    LineContext line = raw;
    if (transcoder_) line.line = transcoder_->ToUtf8(raw.line);
    if (decoder) decoder->OnLine(line, *this);
    else rules_.Map(line, sink_);
  }
  // The end of the input: a line still in pieces is mapped as it is.
  void End(const LineContext& file) {
    if (decoder) decoder->Flush(file, *this);
  }
  void OnLine(const LineContext& line) override { rules_.Map(line, sink_); }

  std::optional<EnvelopeDecoder> decoder;

 private:
  RuleSet& rules_;
  EventSink& sink_;
  std::unique_ptr<LineTranscoder> transcoder_;
};

// The rules (by index) that apply to source `name`.
std::vector<size_t> RulesOf(const Config& config, const std::string& name) {
  std::vector<size_t> rules;
  const auto source = config.FindSource(name);
  if (source && config.sources[*source].format == Format::kEvent) return rules;  // rules do not apply
  for (size_t r = 0; r < config.rules.size(); ++r) {
    const auto& s = config.rules[r].sources;
    if (s.empty() || std::find(s.begin(), s.end(), name) != s.end()) rules.push_back(r);
  }
  return rules;
}

uint64_t Undecodable(const ToRules& to_rules) {
  return to_rules.decoder ? to_rules.decoder->stats().undecodable : 0;
}

std::string Printable(std::string_view line) {
  std::string out;
  for (unsigned char c : line.substr(0, kSampleChars)) {
    if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out.push_back(static_cast<char>(c));
  }
  if (line.size() > kSampleChars) out += "…";
  return out;
}

int MapInput(const Config& config, RuleSet& rules, const TestOptions& options) {
  const auto source = config.FindSource(options.source);
  if (!source) {
    std::string names;
    for (const auto& s : config.sources) names += (names.empty() ? "" : ", ") + s.name;
    // The configuration is fine; the command line names a source it does not have.
    std::fprintf(stderr, "tailtrack: unknown source \"%s\" (sources: %s) (see tailtrack --help)\n",
                 options.source.c_str(), names.c_str());
    return kExitUsage;
  }
  const bool is_stdin = options.input == "-" || options.input.empty();
  FILE* in = is_stdin ? stdin : std::fopen(options.input.c_str(), "rb");
  if (!in) {
    std::fprintf(stderr, "tailtrack test: cannot open %s: %s\n", options.input.c_str(), std::strerror(errno));
    return kExitNoInput;
  }
  const std::string path = is_stdin ? std::string("-") : options.input;
  PrintSink sink;
  ToRules to_rules(config.sources[*source], rules, sink);
  LineContext ctx;
  ctx.source = static_cast<uint32_t>(*source);
  ctx.path = path;
  // Deterministic ids: the same input gives the same messageIds.
  ctx.file_id = is_stdin ? 0x7474737464696e31ull : (Fnv1a64(path) | 1);

  std::vector<std::pair<uint64_t, std::string>> unmatched_samples, not_json_samples;
  uint64_t lines = 0, offset = 0;
  struct stat input{};
  const bool sized = ::fstat(fileno(in), &input) == 0 && S_ISREG(input.st_mode);
  TerminalProgress progress(sized ? static_cast<uint64_t>(input.st_size) : 0);
  auto map = [&](std::string_view line, uint64_t line_offset) {
    ++lines;
    progress.Update(lines, line_offset + line.size());
    if (line.empty()) return;
    ctx.line = line;
    ctx.offset = line_offset;
    ctx.read_time_ms = WallClockMillis();
    const uint64_t unmatched = rules.stats().unmatched[*source];
    const uint64_t not_json = rules.stats().not_json[*source] + Undecodable(to_rules);
    to_rules.Raw(ctx);
    if (rules.stats().unmatched[*source] != unmatched && unmatched_samples.size() < kSamplesPerSource) {
      unmatched_samples.emplace_back(lines, Printable(line));
    }
    if (rules.stats().not_json[*source] + Undecodable(to_rules) != not_json &&
        not_json_samples.size() < kSamplesPerSource) {
      not_json_samples.emplace_back(lines, Printable(line));
    }
  };
  const SourceConfig& sc = config.sources[*source];
  char* buf = nullptr;
  size_t cap = 0;
  ssize_t n;
  if (sc.encoding == Encoding::kUtf16Le || sc.encoding == Encoding::kUtf16Be || sc.encoding == Encoding::kUtf16) {
    // Framed in code units, as the file source does, then decoded.
    const LineUnits units = sc.encoding == Encoding::kUtf16Le   ? LineUnits::kUtf16Le
                            : sc.encoding == Encoding::kUtf16Be ? LineUnits::kUtf16Be
                                                                : LineUnits::kUtf16Bom;
    std::string all, utf8;
    for (char chunk[65536]; size_t got = std::fread(chunk, 1, sizeof chunk, in);) all.append(chunk, got);
    LineFramer framer(sc.max_line_bytes, sc.on_long_line, units);
    auto decoded = [&](std::string_view line, uint64_t line_offset) {
      Utf16ToUtf8(line, framer.big_endian(), &utf8);
      map(WithoutByteOrderMark(utf8, line_offset), line_offset);
    };
    const size_t tail = framer.Frame(all.data(), all.size(), 0, decoded);
    framer.FlushPartial(all.data() + all.size() - tail, tail, all.size() - tail, decoded);
  } else {
    while ((n = getline(&buf, &cap, in)) > 0) {
      std::string_view line(buf, static_cast<size_t>(n));
      const uint64_t line_offset = offset;
      offset += static_cast<uint64_t>(n);
      if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      map(sc.encoding == Encoding::kUtf8 ? WithoutByteOrderMark(line, line_offset) : line, line_offset);
    }
  }
  ctx.read_time_ms = WallClockMillis();
  to_rules.End(ctx);
  std::free(buf);
  if (!is_stdin) std::fclose(in);
  progress.Done();
  std::fflush(stdout);

  if (options.stats) {
    const RuleStats& st = rules.stats();
    std::fprintf(stderr, "source \"%s\": %llu lines\n", options.source.c_str(), static_cast<unsigned long long>(lines));
    std::fprintf(stderr, "  %-32s %12s\n", "rule", "matched");
    for (size_t r : RulesOf(config, options.source)) {
      std::fprintf(stderr, "  %-32s %12llu\n", config.rules[r].name.c_str(),
                   static_cast<unsigned long long>(r < st.matched.size() ? st.matched[r] : 0));
    }
    std::fprintf(stderr, "  %-32s %12llu\n", "(no rule matched)", static_cast<unsigned long long>(st.unmatched[*source]));
    std::fprintf(stderr, "  %-32s %12llu\n", "(not JSON / not decodable)",
                 static_cast<unsigned long long>(st.not_json[*source] + Undecodable(to_rules)));
    if (to_rules.decoder) {
      const EnvelopeDecoder::Stats& ds = to_rules.decoder->stats();
      std::fprintf(stderr, "  %-32s %12llu\n", "records joined from pieces", static_cast<unsigned long long>(ds.joined));
      std::fprintf(stderr, "  %-32s %12llu\n", "records over max_line_bytes", static_cast<unsigned long long>(ds.cut));
    }
    std::fprintf(stderr, "  %-32s %12llu\n", "events", static_cast<unsigned long long>(st.events));
    std::fprintf(stderr, "  %-32s %12llu\n", "invalid events", static_cast<unsigned long long>(st.invalid));
    std::fprintf(stderr, "  %-32s %12llu\n", "timestamps not parsed", static_cast<unsigned long long>(st.timestamp_fallbacks));
    if (!unmatched_samples.empty()) {
      std::fprintf(stderr, "sample lines no rule matched:\n");
      for (const auto& [no, text] : unmatched_samples) std::fprintf(stderr, "  line %llu: %s\n", static_cast<unsigned long long>(no), text.c_str());
    }
    if (!not_json_samples.empty()) {
      std::fprintf(stderr, "sample lines that did not parse:\n");
      for (const auto& [no, text] : not_json_samples) std::fprintf(stderr, "  line %llu: %s\n", static_cast<unsigned long long>(no), text.c_str());
    }
  }
  return 0;
}

int RunRuleTests(const Config& config, RuleSet& rules) {
  if (config.tests.empty()) {
    const ConfigError error(config.path, Mark{1, 1},
                            "no tests: in the configuration (to map lines, give --source NAME [INPUT])");
    std::fprintf(stderr, "%s\n", error.what());
    return kExitConfig;
  }
  int failed = 0;
  for (size_t t = 0; t < config.tests.size(); ++t) {
    const RuleTestConfig& test = config.tests[t];
    const std::string name = test.name.empty() ? fmt::format("#{}", t + 1) : fmt::format("\"{}\"", test.name);
    CollectSink sink;
    LineContext ctx;
    ctx.source = static_cast<uint32_t>(*config.FindSource(test.source));  // the loader checked it exists
    ToRules to_rules(config.sources[ctx.source], rules, sink);
    ctx.path = "test";
    ctx.file_id = Fnv1a64(name) | 1;
    uint64_t offset = 0;
    for (const std::string& line : test.input) {
      ctx.line = line;
      ctx.offset = offset;
      ctx.read_time_ms = WallClockMillis();
      offset += line.size() + 1;
      to_rules.Raw(ctx);
    }
    to_rules.End(ctx);
    std::vector<std::string> problems;
    const size_t n = std::max(test.expect.size(), sink.events.size());
    for (size_t i = 0; i < n; ++i) {
      std::string want, got;
      bool keep_time = false;
      if (i < test.expect.size()) {
        if (!json::CanonicalEvent(test.expect[i], true, &want)) {
          problems.push_back(fmt::format("  expected event {} is {}", i + 1, want));
          continue;
        }
        // Only a top-level timestamp is compared (not properties.timestamp):
        // the canonical text loses something without it exactly then.
        std::string without;
        json::CanonicalEvent(test.expect[i], false, &without);
        keep_time = without != want;
        if (!keep_time) want = std::move(without);
      }
      if (i < sink.events.size()) json::CanonicalEvent(sink.events[i], keep_time, &got);
      if (want == got) continue;
      problems.push_back(fmt::format("  event {}:\n    expected: {}\n    actual:   {}", i + 1,
                                     want.empty() ? "(none)" : want, got.empty() ? "(none)" : got));
    }
    for (const auto& inv : sink.invalid) problems.push_back("  invalid (not sent): " + inv);
    if (problems.empty()) {
      std::printf("ok   test %s\n", name.c_str());
      continue;
    }
    ++failed;
    std::printf("FAIL test %s (%s:%d:%d)\n", name.c_str(), config.path.c_str(), test.mark.line, test.mark.column);
    for (const auto& p : problems) std::printf("%s\n", p.c_str());
  }
  std::printf("%zu tests, %d passed, %d failed\n", config.tests.size(), static_cast<int>(config.tests.size()) - failed,
              failed);
  return failed ? 1 : 0;
}

}  // namespace

int TestCommand(const TestOptions& options) {
  Config config;
  std::unique_ptr<RuleSet> rules;
  try {
    LoadOptions load;
    load.require_write_key = false;
    config = LoadConfig(options.config_path, ProcessEnv(), load);
    rules = RuleSet::Compile(config);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return kExitConfig;
  }
  if (options.source.empty()) return RunRuleTests(config, *rules);
  return MapInput(config, *rules, options);
}

}  // namespace tailtrack
