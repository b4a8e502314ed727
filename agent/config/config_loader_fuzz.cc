// libFuzzer: arbitrary bytes as the YAML configuration, through the loader and,
// when it takes them, the rule compiler and a few lines of each source.
//
// The outcome is a Config or one ConfigError: a single line that starts with
// the file's name and points at a line and column, that never shows the write
// key taken from the environment; never another exception, never a crash. The
// rules of a configuration that loads compile or fail the same way, and what
// they make of ordinary lines is a JSON object.
#include <simdjson.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "config/loader.h"
#include "core/error.h"
#include "rules/rule_set.h"

namespace {

using namespace tailtrack;

constexpr std::string_view kSecret = "wk-s3cr3t-Fuzz";

[[noreturn]] void Fail(const char* why, std::string_view what) {
  std::fprintf(stderr, "%s: [%.*s]\n", why, static_cast<int>(what.size()), what.data());
  std::abort();
}

void CheckError(const ConfigError& e, std::string_view text, bool from_loader) {
  const std::string_view what = e.what();
  if (what.empty() || what.find_first_of("\r\n") != std::string_view::npos) Fail("not one line", what);
  if (!what.starts_with("fuzz.yaml:")) Fail("no file name", what);
  if (from_loader && (e.mark().line < 1 || e.mark().column < 1)) Fail("no line and column", what);
  // Unless the text names the key's variable somewhere else than at
  // collector.write_key (a regex may well say ${TAILTRACK_WRITE_KEY}).
  const size_t named = text.find("WRITE_KEY");
  const bool once = named == std::string_view::npos || text.find("WRITE_KEY", named + 1) == std::string_view::npos;
  if (once && text.find(kSecret) == std::string_view::npos && what.find(kSecret) != std::string_view::npos) {
    Fail("the write key shows", what);
  }
}

class CheckSink final : public EventSink {
 public:
  void OnEvent(std::string_view event, const LineContext&) override { Check(event); }
  void OnInvalid(std::string_view, std::string_view event, const LineContext&) override { Check(event); }

 private:
  void Check(std::string_view event) {
    auto doc = parser_.parse(event.data(), event.size(), true);
    if (doc.error() || !doc.value_unsafe().is_object()) std::abort();
  }
  simdjson::dom::parser parser_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const EnvLookup env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "TAILTRACK_WRITE_KEY" || name == "WRITE_KEY") return std::string(kSecret);
    if (name == "HOME") return std::string("/root");
    return std::nullopt;
  };
  Config config;
  try {
    config = LoadConfigFromString(text, "fuzz.yaml", env);
  } catch (const ConfigError& e) {
    CheckError(e, text, true);
    return 0;
  }
  std::unique_ptr<RuleSet> rules;
  try {
    rules = RuleSet::Compile(config);
  } catch (const ConfigError& e) {
    CheckError(e, text, false);
    return 0;
  }
  static const char* kLines[] = {
      R"(127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "-" "Mozilla")",
      R"({"level":"info","msg":"order completed","user":"u1","amount":12.5,"ts":"2026-01-20T06:30:01Z"})",
      R"({"type":"track","event":"Signed Up","userId":"u1","properties":{"plan":"pro"}})",
      "2026-01-20 06:30:01,123 INFO order=42 user=alice total=19.99 status=completed",
  };
  CheckSink sink;
  for (uint32_t source = 0; source < config.sources.size(); ++source) {
    const bool container = config.sources[source].format == Format::kCri ||
                           config.sources[source].format == Format::kDocker;
    for (const char* text_line : kLines) {
      LineContext line;
      line.line = text_line;
      line.source = source;
      line.file_id = 1;
      line.decoded = container;
      if (container) line.stream = "stdout";
      rules->Map(line, sink);
    }
  }
  return 0;
}
