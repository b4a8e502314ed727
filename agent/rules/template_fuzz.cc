// libFuzzer: a template compiled from the fuzz bytes, rendered against a line
// (also from the bytes) of a text source and of a JSON source. Compile may
// refuse the template (ConfigError); what Map makes must be a JSON object in
// valid UTF-8.
#include <simdjson.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "rules/rule_set.h"

namespace {

using namespace tailtrack;

class CheckSink final : public EventSink {
 public:
  void OnEvent(std::string_view event, const LineContext&) override { Check(event); }
  void OnInvalid(std::string_view, std::string_view event, const LineContext&) override { Check(event); }

 private:
  void Check(std::string_view event) {
    if (!simdjson::validate_utf8(event.data(), event.size())) std::abort();
    auto doc = parser_.parse(event.data(), event.size(), true);
    if (doc.error() || !doc.value_unsafe().is_object()) std::abort();
  }
  simdjson::dom::parser parser_;
};

TemplateNode Scalar(std::string text) {
  TemplateNode n;
  n.text = std::move(text);
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nl = input.find('\n');
  const std::string tmpl(input.substr(0, nl));
  const std::string_view line = nl == std::string_view::npos ? std::string_view("a b {\"a\":1}") : input.substr(nl + 1);

  Config config;
  config.path = "fuzz.yaml";
  SourceConfig text, json;
  text.name = "text";
  json.name = "json";
  json.format = Format::kJson;
  config.sources = {text, json};
  for (int i = 0; i < 2; ++i) {
    RuleConfig rule;
    rule.name = i ? "json" : "text";
    rule.sources = {rule.name};
    if (i == 0) rule.regex = R"(^(?P<a>\S*) ?(?P<b>\S*) ?(?P<c>.*))";
    rule.event.kind = TemplateNode::Kind::kMap;
    TemplateNode props;
    props.kind = TemplateNode::Kind::kMap;
    props.entries = {{"x", Scalar(tmpl)}, {"y", Scalar("pre {{ a }} " + tmpl)}};
    rule.event.entries = {{"type", Scalar("track")},
                          {"event", Scalar(tmpl)},
                          {"userId", Scalar(tmpl)},
                          {"anonymousId", Scalar("{{ _line }}")},
                          {"timestamp", Scalar(tmpl)},
                          {"properties", props}};
    config.rules.push_back(rule);
  }
  std::unique_ptr<RuleSet> rules;
  try {
    rules = RuleSet::Compile(config);
  } catch (const ConfigError&) {
    return 0;
  }
  CheckSink sink;
  for (uint32_t source = 0; source < 2; ++source) {
    LineContext ctx;
    ctx.line = line;
    ctx.source = source;
    ctx.file_id = 1;
    rules->Map(ctx, sink);
  }
  return 0;
}
