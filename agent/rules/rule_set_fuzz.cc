// libFuzzer: the rule set end to end. The configurations the repository ships
// (the spec's example, the real-log rules: text, JSON, container and event
// sources, time zones, filters) are loaded and compiled once; the fuzz bytes
// pick a source and are its lines.
//
// Every event made must be what EventSink promises: one JSON object (simdjson)
// in valid UTF-8 sendable ones with a messageId and within kMaxEventBytes; an
// unsendable one comes with a one-line reason.
#include <simdjson.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "config/loader.h"
#include "rules/rule_set.h"

namespace {

using namespace tailtrack;

class CheckSink final : public EventSink {
 public:
  void OnEvent(std::string_view event, const LineContext&) override {
    if (event.size() > kMaxEventBytes) std::abort();
    Check(event, true);
  }
  void OnInvalid(std::string_view reason, std::string_view event, const LineContext&) override {
    if (reason.empty() || reason.find('\n') != std::string_view::npos) std::abort();
    Check(event, false);
  }

 private:
  void Check(std::string_view event, bool sendable) {
    if (!simdjson::validate_utf8(event.data(), event.size())) Fail("not UTF-8", event);
    auto doc = parser_.parse(event.data(), event.size(), true);
    if (doc.error()) Fail(simdjson::error_message(doc.error()), event);
    if (!doc.value_unsafe().is_object()) Fail("not an object", event);
    std::string_view id;
    if (sendable && (doc.value_unsafe()["messageId"].get(id) || id.empty())) Fail("no messageId", event);
  }
  [[noreturn]] static void Fail(const char* why, std::string_view event) {
    std::fprintf(stderr, "%s: %.*s\n", why, static_cast<int>(event.size()), event.data());
    std::abort();
  }
  simdjson::dom::parser parser_;
};

struct Loaded {
  Config config;
  std::unique_ptr<RuleSet> rules;
};

std::vector<Loaded>& Configs() {
  static std::vector<Loaded> configs = [] {
    std::vector<Loaded> out;
    const EnvLookup env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
    for (const char* file : {"/tests/data/spec/example-config.yaml", "/tests/data/rules/real-logs.yaml"}) {
      const std::string path = std::string(TAILTRACK_SOURCE_DIR) + file;
      try {
        Loaded l;
        l.config = LoadConfig(path, env, LoadOptions{.require_write_key = false});
        l.rules = RuleSet::Compile(l.config);
        out.push_back(std::move(l));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "cannot load %s: %s\n", path.c_str(), e.what());
        std::abort();
      }
    }
    return out;
  }();
  return configs;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::vector<Loaded>& configs = Configs();
  Loaded& loaded = configs[data[0] % configs.size()];
  const uint32_t source = (data[0] / configs.size()) % loaded.config.sources.size();
  const Format format = loaded.config.sources[source].format;
  const bool container = format == Format::kCri || format == Format::kDocker;

  CheckSink sink;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t pos = 0;
  while (pos <= input.size()) {
    size_t end = input.find('\n', pos);
    if (end == std::string_view::npos) end = input.size();
    LineContext line;
    line.line = input.substr(pos, end - pos);
    line.source = source;
    line.path = "/var/log/fuzz.log";
    line.offset = pos;
    line.file_id = 7;
    line.read_time_ms = 1'768'890'601'000;
    if (container) {  // as EnvelopeDecoder hands them on
      line.decoded = true;
      line.stream = (pos & 1) ? "stderr" : "stdout";
      line.runtime_time = "2026-01-20T06:30:01.123456789Z";
    }
    if (!line.line.empty()) loaded.rules->Map(line, sink);
    pos = end + 1;
  }
  return 0;
}
