#include "rules/rule_set.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "decode/envelope.h"
#include "event/canonical.h"
#include "event/json_writer.h"
#include "rules/matcher.h"

// Counts allocations while a test asks (NoAllocationPerNonMatchingLine).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // new and delete below pair malloc and free
#endif
static std::atomic<bool> g_count_news{false};
static std::atomic<long> g_news{0};
void* operator new(size_t size) {
  if (g_count_news.load(std::memory_order_relaxed)) g_news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t size) { return operator new(size); }
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  if (g_count_news.load(std::memory_order_relaxed)) g_news.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size ? size : 1);
}
void* operator new[](size_t size, const std::nothrow_t& tag) noexcept { return operator new(size, tag); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace tailtrack {
namespace {

TemplateNode Scalar(std::string text, int line = 0, int column = 0, bool plain = false) {
  TemplateNode n;
  n.text = std::move(text);
  n.mark = Mark{line, column};
  n.plain = plain;
  return n;
}

TemplateNode MapNode(std::vector<std::pair<std::string, TemplateNode>> entries, int line = 0) {
  TemplateNode n;
  n.kind = TemplateNode::Kind::kMap;
  n.entries = std::move(entries);
  n.mark = Mark{line, 5};
  return n;
}

SourceConfig Source(std::string name, Format format) {
  SourceConfig s;
  s.name = std::move(name);
  s.format = format;
  return s;
}

// A config with a text source "app", a json source "js", an event source "ev".
Config Base() {
  Config c;
  c.path = "t.yaml";
  c.sources = {Source("app", Format::kText), Source("js", Format::kJson), Source("ev", Format::kEvent)};
  return c;
}

RuleConfig Rule(std::string name, std::string source, std::string regex, TemplateNode event) {
  RuleConfig r;
  r.name = std::move(name);
  r.sources = {source};
  r.source_marks = {Mark{3, 15}};
  r.regex = std::move(regex);
  r.regex_mark = Mark{4, 12};
  r.event = std::move(event);
  r.mark = Mark{2, 5};
  return r;
}

TemplateNode Track(std::string user = "{{ user }}") {
  return MapNode({{"type", Scalar("track", 6, 13)}, {"event", Scalar("Done", 7, 14)}, {"userId", Scalar(user, 8, 15)}}, 5);
}

std::string CompileError(const Config& c) {
  try {
    RuleSet::Compile(c);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

struct Collect : EventSink {
  void OnEvent(std::string_view e, const LineContext&) override { events.emplace_back(e); }
  void OnInvalid(std::string_view r, std::string_view, const LineContext&) override { invalid.emplace_back(r); }
  std::vector<std::string> events, invalid;
};

std::vector<std::string> MapLines(const Config& c, uint32_t source, std::vector<std::string> lines,
                                  std::vector<std::string>* invalid = nullptr, RuleStats* stats = nullptr) {
  auto rules = RuleSet::Compile(c);
  Collect sink;
  uint64_t offset = 0;
  for (const auto& l : lines) {
    LineContext ctx;
    ctx.line = l;
    ctx.source = source;
    ctx.file_id = 42;
    ctx.offset = offset;
    ctx.read_time_ms = 1768890600000;
    offset += l.size() + 1;
    rules->Map(ctx, sink);
  }
  if (invalid) *invalid = sink.invalid;
  if (stats) *stats = rules->stats();
  std::vector<std::string> out;
  for (const auto& e : sink.events) {
    std::string canon;
    json::CanonicalEvent(e, false, &canon);
    out.push_back(canon);
  }
  return out;
}

// --- Errors a user can make, each pinned to FILE:LINE:COLUMN ---

TEST(RuleCompile, BadRegexGivesRe2sReasonAtTheRegex) {
  Config c = Base();
  c.rules.push_back(Rule("r", "app", "^(?P<user>\\S+", Track()));
  EXPECT_EQ(CompileError(c), "t.yaml:4:12: bad regex in rule \"r\": missing ): ^(?P<user>\\S+");
}

// Found by config_loader_fuzz: a regex written over several lines (a quoted
// YAML scalar keeps a blank line as a line break) made a two-line error.
TEST(RuleCompile, ABadRegexWithALineBreakIsStillAOneLineError) {
  Config c = Base();
  c.rules.push_back(Rule("r", "app", "^(?P<:\n  url: x", Track()));
  EXPECT_EQ(CompileError(c), "t.yaml:4:12: bad regex in rule \"r\": invalid named capture group: (?P<:\\n  url: x");
}

TEST(RuleCompile, UnknownFilterIsAnErrorAtItsTemplate) {
  Config c = Base();
  c.rules.push_back(Rule("r", "app", "^(?P<user>\\S+)", Track("{{ user | shout }}")));
  EXPECT_EQ(CompileError(c),
            "t.yaml:8:15: unknown filter \"shout\" (filters: number, int, bool, string, lower, upper, trim, default, "
            "timestamp, sha256, json)");
}

TEST(RuleCompile, WrongFilterArgumentsAreAnError) {
  Config c = Base();
  c.rules.push_back(Rule("r", "app", "^(?P<user>\\S+)", Track("{{ user | default }}")));
  EXPECT_EQ(CompileError(c), "t.yaml:8:15: filter \"default\" takes 1 argument, not 0");
  c.rules[0] = Rule("r", "app", "^(?P<user>\\S+)", Track("{{ user | lower('x') }}"));
  EXPECT_EQ(CompileError(c), "t.yaml:8:15: filter \"lower\" takes no arguments");
  c.rules[0] = Rule("r", "app", "^(?P<user>\\S+)", Track("{{ user | timestamp('a', 'b') }}"));
  EXPECT_EQ(CompileError(c), "t.yaml:8:15: filter \"timestamp\" takes 0 to 1 arguments, not 2");
}

TEST(RuleCompile, UnterminatedExpressionIsAnError) {
  Config c = Base();
  c.rules.push_back(Rule("r", "app", "^(?P<user>\\S+)", Track("{{ user ")));
  EXPECT_EQ(CompileError(c), "t.yaml:8:15: unterminated \"{{\" in template: missing \"}}\"");
}

TEST(RuleCompile, VariableThatNoCaptureDefinesIsAnErrorForTextSources) {
  Config c = Base();
  c.rules.push_back(Rule("r", "app", "^(?P<name>\\S+)", Track("{{ user }}")));
  EXPECT_EQ(CompileError(c),
            "t.yaml:8:15: variable \"user\" is not a named capture of the regex of rule \"r\" (captures: name; "
            "built-ins: _line, _source, _path, _offset, _host)");
}

TEST(RuleCompile, AnyDottedPathIsAllowedForJsonSources) {
  Config c = Base();
  c.rules.push_back(Rule("r", "js", "", Track("{{ user.id }}")));
  EXPECT_EQ(CompileError(c), "no error");
}

TEST(RuleCompile, EventsThatCanNeverBeValidAreErrors) {
  Config c = Base();
  c.rules.push_back(Rule("r", "app", "^(?P<user>\\S+)", MapNode({{"userId", Scalar("{{ user }}", 8, 15)}}, 5)));
  EXPECT_EQ(CompileError(c), "t.yaml:5:5: the event of rule \"r\" has no \"type\" (track, page or identify)");
  c.rules[0].event = MapNode({{"type", Scalar("track", 6, 13)}, {"userId", Scalar("{{ user }}", 8, 15)}}, 5);
  EXPECT_EQ(CompileError(c), "t.yaml:5:5: the track event of rule \"r\" has no \"event\" (its name)");
  c.rules[0].event = MapNode({{"type", Scalar("page", 6, 13)}}, 5);
  EXPECT_EQ(CompileError(c),
            "t.yaml:5:5: the event of rule \"r\" has neither \"userId\" nor \"anonymousId\"; the collector needs one");
  c.rules[0].event = MapNode({{"type", Scalar("alias", 6, 13)}, {"userId", Scalar("{{ user }}", 8, 15)}}, 5);
  EXPECT_EQ(CompileError(c), "t.yaml:6:13: type \"alias\" is not one the collector takes: track, page or identify");
}

TEST(RuleCompile, BadConditionRegexIsAnErrorAtTheCondition) {
  Config c = Base();
  c.rules.push_back(Rule("r", "app", "^(?P<user>\\S+)", Track()));
  Condition cond;
  cond.var = "user";
  cond.kind = Condition::Kind::kRegex;
  cond.value = "[";
  cond.mark = Mark{9, 20};
  c.rules[0].when.push_back(cond);
  EXPECT_EQ(CompileError(c), "t.yaml:9:20: bad regex for \"user\" in rule \"r\": missing ]: [");
}

TEST(RuleCompile, UnknownTimeZoneIsAnError) {
  Config c = Base();
  c.sources[0].timezone = "Mars/Base";
  c.sources[0].timezone_mark = Mark{11, 17};
  EXPECT_EQ(CompileError(c),
            "t.yaml:11:17: unknown time zone \"Mars/Base\" (an IANA name such as Europe/Berlin, or UTC)");
}

// --- Mapping ---

TEST(RuleMap, FirstMatchWinsUnlessContinue) {
  Config c = Base();
  c.rules.push_back(Rule("a", "app", "^(?P<user>\\S+)", Track()));
  c.rules.push_back(Rule("b", "app", "^(?P<user>\\S+)", Track("{{ user | upper }}")));
  EXPECT_EQ(MapLines(c, 0, {"joe"}).size(), 1u);
  c.rules[0].continue_matching = true;
  const auto events = MapLines(c, 0, {"joe"});
  ASSERT_EQ(events.size(), 2u);
  EXPECT_NE(events[1].find("\"userId\":\"JOE\""), std::string::npos);
}

// Many rules get a prefilter (an RE2::Set of their regexes). What each line
// makes must be what trying the rules one by one makes: each rule alone (one
// rule has no prefilter) says whether it matches, and the rules in order, up to
// the first match without `continue`, say which events come out.
void ExpectSameAsRulesOneByOne(const Config& c, uint32_t source, const std::vector<std::string>& lines) {
  for (size_t n = 0; n < lines.size(); ++n) {
    std::vector<std::string> expected;
    for (const RuleConfig& rule : c.rules) {
      Config alone = c;
      alone.rules = {rule};
      const auto events = MapLines(alone, source, {lines[n]});
      if (events.empty()) continue;
      expected.insert(expected.end(), events.begin(), events.end());
      if (!rule.continue_matching) break;
    }
    EXPECT_EQ(MapLines(c, source, {lines[n]}), expected) << "line " << n << ": " << lines[n];
  }
}

TEST(RulePrefilter, TextRulesKeepTheirOrderContinueAndConditions) {
  Config c = Base();
  c.rules.push_back(Rule("login", "app", R"(^(?P<user>\S+) INFO login)", Track()));
  c.rules.push_back(Rule("any-info", "app", R"(^(?P<user>\S+) INFO )", Track("{{ user | upper }}")));
  c.rules.push_back(Rule("vip", "app", R"((?P<user>vip\w*) )", Track()));
  c.rules.back().continue_matching = true;
  c.rules.push_back(Rule("error", "app", R"(^(?P<user>\S+) ERROR (?P<code>\d+))", Track()));
  c.rules.back().when = {Condition{"code", Condition::Kind::kIn, "", {"500", "503"}, true, {}}};
  c.rules.push_back(Rule("no-regex", "app", "", Track("{{ _source }}")));
  c.rules.back().when = {Condition{"_line", Condition::Kind::kRegex, "fallback", {}, true, {}}};
  c.rules.push_back(Rule("warn", "app", R"((?:WARN|NOTICE) (?P<user>\S+))", Track()));
  c.rules.push_back(Rule("last", "app", R"((?P<user>\S+)$)", Track()));
  c.rules.back().continue_matching = true;
  ExpectSameAsRulesOneByOne(c, 0, {"joe INFO login ok", "joe INFO logout", "vipann INFO login", "vipann ERROR 500",
                                   "bob ERROR 404", "bob ERROR 503", "x fallback WARN amy", "x WARN amy",
                                   "nothing here", "caf\xE9 INFO login", "vip\xFF ERROR 500", "", " ",
                                   "fallback "});  // no regex matches the last one: the rule without one does
  c.rules[1].continue_matching = true;
  c.rules[2].continue_matching = false;
  ExpectSameAsRulesOneByOne(c, 0, {"joe INFO login ok", "vipann INFO login", "vipann ERROR 500", "x fallback"});
}

TEST(RulePrefilter, JsonRulesWithAndWithoutRegexOrFieldKeepTheirOrder) {
  Config c = Base();
  c.rules.push_back(Rule("by-line", "js", R"("level":"error")", Track("{{ user }}")));
  c.rules.push_back(Rule("by-field", "js", "^admin", Track("{{ user }}")));
  c.rules.back().field = "user";
  c.rules.push_back(Rule("when-only", "js", "", Track("{{ user | upper }}")));
  c.rules.back().when = {Condition{"n", Condition::Kind::kRegex, "^4", {}, true, {}}};
  c.rules.back().continue_matching = true;
  c.rules.push_back(Rule("kind-a", "js", R"("kind":"a")", Track("{{ user }}")));
  c.rules.push_back(Rule("kind-b", "js", R"("kind":"b")", Track("{{ user }}")));
  c.rules.push_back(Rule("user", "js", R"("user":")", Track("{{ user }}")));
  ExpectSameAsRulesOneByOne(c, 1, {R"({"user":"u1","level":"error","kind":"a"})", R"({"user":"admin2","kind":"b"})",
                                   R"({"user":"u3","n":42,"kind":"b"})", R"({"user":"u4","n":5,"kind":"a"})",
                                   R"({"user":"u5"})", R"({"user" : "u7", "n": 47})", "{\"user\":\"caf\xE9\",\"kind\":\"a\"}", "[1]"});
}

TEST(RulePrefilter, ManyRulesFindTheOneThatMatches) {
  Config c = Base();
  for (int i = 0; i < 100; ++i) {
    c.rules.push_back(Rule(fmt::format("r{}", i), "app", fmt::format(R"(^(?P<user>\S+) INFO event{} )", i), Track()));
  }
  RuleStats stats;
  const auto events = MapLines(c, 0, {"u INFO event7 x", "u INFO event99 x", "u INFO event100 x"}, nullptr, &stats);
  EXPECT_EQ(events.size(), 2u);
  EXPECT_EQ(stats.matched[7], 1u);
  EXPECT_EQ(stats.matched[99], 1u);
  EXPECT_EQ(stats.unmatched[0], 1u);
}

TEST(RuleMap, ASourceNamedTwiceRunsTheRuleOnce) {
  Config c = Base();
  c.rules.push_back(Rule("a", "app", "^(?P<user>\\S+)", Track()));
  c.rules[0].sources = {"app", "app"};
  c.rules[0].source_marks = {Mark{3, 15}, Mark{3, 20}};
  c.rules[0].continue_matching = true;
  EXPECT_EQ(MapLines(c, 0, {"joe"}).size(), 1u);
}

TEST(RuleMap, ConditionsMustAllHold) {
  Config c = Base();
  c.rules.push_back(Rule("r", "js", "", Track("{{ user }}")));
  Condition eq{"level", Condition::Kind::kEquals, "info", {}, true, {}};
  Condition in{"kind", Condition::Kind::kIn, "", {"a", "b"}, true, {}};
  Condition ex{"gone", Condition::Kind::kExists, "", {}, false, {}};
  Condition re{"n", Condition::Kind::kRegex, "^4", {}, true, {}};
  c.rules[0].when = {eq, in, ex, re};
  const auto events = MapLines(c, 1, {
                                         R"({"user":"u1","level":"info","kind":"a","n":42})",
                                         R"({"user":"u2","level":"warn","kind":"a","n":42})",
                                         R"({"user":"u3","level":"info","kind":"c","n":42})",
                                         R"({"user":"u4","level":"info","kind":"b","n":42,"gone":1})",
                                         R"({"user":"u5","level":"info","kind":"b","n":52})",
                                     });
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(events[0].find("u1"), std::string::npos);
}

TEST(RuleMap, TypesValuesAndLeavesEmptyOnesOut) {
  Config c = Base();
  c.rules.push_back(Rule("r", "js", "",
                         MapNode({{"type", Scalar("track")},
                                  {"event", Scalar("E {{ what }}")},
                                  {"userId", Scalar("{{ id | string }}")},
                                  {"properties", MapNode({{"n", Scalar("{{ n | number }}")},
                                                          {"i", Scalar("{{ f | int }}")},
                                                          {"b", Scalar("{{ flag | bool }}")},
                                                          {"s", Scalar("{{ n }}")},
                                                          {"missing", Scalar("{{ nope }}")},
                                                          {"bad", Scalar("{{ word | number }}")},
                                                          {"d", Scalar("{{ nope | default('x') }}")},
                                                          {"lit", Scalar("5", 0, 0, true)},
                                                          {"quoted", Scalar("5")},
                                                          {"h", Scalar("{{ what | sha256 }}")},
                                                          {"j", Scalar("{{ obj | json }}")},
                                                          {"t", Scalar("{{ pad | trim | lower }}")}})},
                                  {"traits", MapNode({{"empty", Scalar("{{ nope }}")}})}})));
  const auto events = MapLines(
      c, 1, {R"({"what":"x","id":7,"n":"42.50","f":"34.9","flag":"yes","word":"abc","obj":{"a":[1]},"pad":"  HeY "})"});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0],
            R"({"event":"E x","properties":{"b":true,"d":"x","h":"2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881","i":34,"j":{"a":[1]},"lit":5,"n":42.5,"quoted":"5","s":"42.50","t":"hey"},"type":"track","userId":"7"})");
}

TEST(RuleMap, MessageIdIsDeterministicPerFileOffsetAndRule) {
  Config c = Base();
  c.rules.push_back(Rule("order", "app", "^(?P<user>\\S+)", Track()));
  auto rules = RuleSet::Compile(c);
  Collect sink;
  LineContext ctx;
  ctx.line = "joe";
  ctx.file_id = 0xabc;
  ctx.offset = 0x1f;
  rules->Map(ctx, sink);
  rules->Map(ctx, sink);
  ASSERT_EQ(sink.events.size(), 2u);
  EXPECT_EQ(sink.events[0], sink.events[1]);
  EXPECT_EQ(sink.events[0].rfind("{\"messageId\":\"tt-0000000000000abc-1f-", 0), 0u) << sink.events[0];
  ctx.file_id = 0;  // a socket: random prefix and a counter
  rules->Map(ctx, sink);
  rules->Map(ctx, sink);
  EXPECT_NE(sink.events[2].substr(0, 60), sink.events[3].substr(0, 60));
}

TEST(RuleMap, TimestampFallsBackToReadTimeAndIsCounted) {
  Config c = Base();
  auto event = Track();
  event.entries.push_back({"timestamp", Scalar("{{ ts }}")});
  c.rules.push_back(Rule("r", "app", "^(?P<ts>\\S+) (?P<user>\\S+)", event));
  RuleStats stats;
  const auto rules = RuleSet::Compile(c);
  Collect sink;
  LineContext ctx;
  ctx.read_time_ms = 1768890600000;
  ctx.line = "yesterday joe";
  rules->Map(ctx, sink);
  ctx.line = "2026-01-20T08:30:03+02:00 joe";
  rules->Map(ctx, sink);
  ASSERT_EQ(sink.events.size(), 2u);
  EXPECT_NE(sink.events[0].find("\"timestamp\":\"2026-01-20T06:30:00.000Z\""), std::string::npos);
  EXPECT_NE(sink.events[1].find("\"timestamp\":\"2026-01-20T06:30:03.000Z\""), std::string::npos);
  EXPECT_EQ(rules->stats().timestamp_fallbacks, 1u);
}

TEST(RuleMap, InvalidUtf8AndControlBytesStillMakeValidJson) {
  Config c = Base();
  // (RE2's `.` does not match invalid UTF-8: the whole line comes through _line.)
  c.rules.push_back(Rule("r", "app", "", Track("{{ _line }}")));
  auto rules = RuleSet::Compile(c);
  Collect sink;
  LineContext ctx;
  const std::string line("j\xF3\xFF\x00\x01\"\\e", 8);
  ctx.line = line;
  rules->Map(ctx, sink);
  ASSERT_EQ(sink.events.size(), 1u);
  simdjson::dom::parser parser;
  auto doc = parser.parse(sink.events[0]);
  ASSERT_EQ(doc.error(), simdjson::SUCCESS);
  std::string_view user;
  ASSERT_EQ(doc["userId"].get(user), simdjson::SUCCESS);
  EXPECT_EQ(user, std::string_view("j\xEF\xBF\xBD\xEF\xBF\xBD\x00\x01\"\\e", 12));
}

TEST(RuleMap, JsonLinesWithInvalidUtf8AreRepairedNotRefused) {
  Config c = Base();
  c.sources.push_back(Source("dk", Format::kDocker));
  c.sources.back().inner = InnerFormat::kJson;
  c.rules.push_back(Rule("r", "js", "", Track()));
  c.rules.push_back(Rule("d", "dk", "", Track()));
  auto rules = RuleSet::Compile(c);
  Collect sink;
  // On dk, lines pass the envelope decoder first, as in the agent.
  struct ToRules : LineSink {
    RuleSet* rules;
    Collect* sink;
    void OnLine(const LineContext& l) override { rules->Map(l, *sink); }
  } to_rules;
  to_rules.rules = rules.get();
  to_rules.sink = &sink;
  EnvelopeDecoder decoder(c.sources[3]);
  LineContext ctx;
  const std::string lines[] = {
      "{\"user\":\"j\xFF\"}",                                      // json
      "{\"log\":\"{\\\"user\\\":\\\"d\xC3\\\"}\\n\",\"stream\":\"stdout\"}",  // docker, inner json
      "\xFF not json",
  };
  for (const uint32_t source : {1u, 3u}) {
    for (const auto& line : lines) {
      ctx.source = source;
      ctx.line = line;
      if (source == 3) decoder.OnLine(ctx, to_rules);
      else rules->Map(ctx, sink);
    }
  }
  ASSERT_EQ(sink.events.size(), 2u);  // the json line on js, the docker line on dk
  std::string_view user;
  simdjson::dom::parser parser;
  ASSERT_EQ(parser.parse(sink.events[0])["userId"].get(user), simdjson::SUCCESS);
  EXPECT_EQ(user, "j\xEF\xBF\xBD");
  ASSERT_EQ(parser.parse(sink.events[1])["userId"].get(user), simdjson::SUCCESS);
  EXPECT_EQ(user, "d\xEF\xBF\xBD");
  // On js, the docker line is an object without "user": made, but invalid.
  EXPECT_EQ(sink.invalid.size(), 1u);
  EXPECT_EQ(rules->stats().not_json[1], 1u);  // "\xFF not json"
  EXPECT_EQ(decoder.stats().undecodable, 2u);  // a json line without "log", and "\xFF not json"
}

TEST(RuleMap, NonJsonLinesOfJsonSourcesAreCounted) {
  Config c = Base();
  c.rules.push_back(Rule("r", "js", "", Track()));
  RuleStats stats;
  MapLines(c, 1, {"not json at all", "[1,2]", R"({"user":"u"})", R"({"user":"u","n":123456789012345678901234})"},
           nullptr, &stats);
  EXPECT_EQ(stats.not_json[1], 3u);  // as docs/rules.md says of numbers past 64 bits
  EXPECT_EQ(stats.matched[0], 1u);
}

TEST(RuleMap, EventsOverThirtyTwoKibibytesAreInvalid) {
  Config c = Base();
  auto event = Track();
  event.entries.push_back({"properties", MapNode({{"big", Scalar("{{ _line }}")}})});
  c.rules.push_back(Rule("r", "app", "^(?P<user>\\S+)", event));
  std::vector<std::string> invalid;
  const auto events = MapLines(c, 0, {"joe " + std::string(40000, 'x')}, &invalid);
  EXPECT_TRUE(events.empty());
  ASSERT_EQ(invalid.size(), 1u);
  EXPECT_NE(invalid[0].find("over the collector's limit"), std::string::npos);
}

TEST(RuleMap, EventsLargerThanTheScratchBufferAreCheckedSafely) {
  // The rendered type was kept as a view into the event buffer, which moves
  // when an event outgrows it (ASan: heap-use-after-free).
  Config c = Base();
  auto event = Track();
  event.entries.push_back({"properties", MapNode({{"big", Scalar("{{ _line }}")}})});
  c.rules.push_back(Rule("r", "app", "^(?P<user>\\S+)", event));
  std::vector<std::string> invalid;
  MapLines(c, 0, {"joe " + std::string(100000, 'x')}, &invalid);
  ASSERT_EQ(invalid.size(), 1u);
  EXPECT_NE(invalid[0].find("over the collector's limit"), std::string::npos) << invalid[0];
}

TEST(RuleMap, OnlyAnExpressionEndingInATypedFilterIsTyped) {
  Config c = Base();
  c.rules.push_back(Rule("r", "js", "",
                         MapNode({{"type", Scalar("track")},
                                  {"event", Scalar("E")},
                                  {"userId", Scalar("u")},
                                  {"properties", MapNode({{"d", Scalar("{{ n | number | default('0') }}")},
                                                          {"b", Scalar("{{ f | bool | default('no') }}")},
                                                          {"j", Scalar("{{ o | json | default('{}') }}")},
                                                          {"n", Scalar("{{ n | default('0') | number }}")}})}})));
  EXPECT_EQ(MapLines(c, 1, {R"({"n":"5","f":"yes","o":{"a":1}})", R"({"x":1})"}),
            (std::vector<std::string>{
                R"({"event":"E","properties":{"b":"true","d":"5","j":"{\"a\":1}","n":5},"type":"track","userId":"u"})",
                R"({"event":"E","properties":{"b":"no","d":"0","j":"{}","n":0},"type":"track","userId":"u"})"}));
}

TEST(RuleMap, RenderedEventsMissingRequiredFieldsAreInvalid) {
  Config c = Base();
  c.rules.push_back(Rule("r", "js", "", MapNode({{"type", Scalar("{{ kind }}")}, {"event", Scalar("{{ name }}")},
                                                 {"userId", Scalar("{{ user }}")}})));
  std::vector<std::string> invalid;
  MapLines(c, 1, {R"({"kind":"track","user":"u"})", R"({"kind":"track","name":"n"})", R"({"kind":"alias","user":"u"})"},
           &invalid);
  EXPECT_EQ(invalid, (std::vector<std::string>{"track event without \"event\"",
                                               "event without \"userId\" or \"anonymousId\"",
                                               "\"type\" is not track, page or identify"}));
}

TEST(RuleMap, CountedRepetitionsDoNotHideLinesFromTheRegex) {
  // Not one-pass (unanchored), so RE2 runs behind the required-literal
  // prefilter, which once asked for the text "10,13".
  Config c = Base();
  c.rules.push_back(Rule("r", "app", R"(ts=\d{10,13} (?P<user>\S+))", Track()));
  EXPECT_EQ(MapLines(c, 0, {"x ts=1700000000000 joe"}).size(), 1u);
}

TEST(RuleMap, NoAllocationPerNonMatchingLine) {
  Config c = Base();
  c.rules.push_back(Rule("fast", "app", R"(^(?P<user>\S+) INFO (?P<what>[a-z]+)$)", Track()));
  c.rules.push_back(Rule("re2", "app", R"((?:GET|PUT) (?P<user>\S+) done)", Track()));
  c.rules.push_back(Rule("json", "js", "", Track("{{ user }}")));
  Condition eq{"level", Condition::Kind::kEquals, "error", {}, true, {}};
  Condition re{"n", Condition::Kind::kRegex, "^4", {}, true, {}};
  Condition off{"_offset", Condition::Kind::kIn, "", {"1"}, true, {}};
  c.rules[2].when = {re, off, eq};
  auto rules = RuleSet::Compile(c);
  Collect sink;
  const std::vector<std::pair<uint32_t, std::string>> lines = {
      {0, "joe WARN x"}, {0, "joe INFO x y"}, {0, "GET joe failed"}, {0, "caf\xC3\xA9 INFO x "},
      {1, R"({"user":"u","level":"info","n":42.5})"}, {1, R"({"user":"u","level":"error","n":5})"}, {1, "[1]"}};
  auto map_all = [&] {
    for (const auto& [source, line] : lines) {
      LineContext ctx;
      ctx.source = source;
      ctx.line = line;
      ctx.offset = 12345;
      rules->Map(ctx, sink);
    }
  };
  map_all();  // warm: scratch buffers, RE2's DFA caches, simdjson's parser
  g_news = 0;
  g_count_news = true;
  for (int i = 0; i < 100; ++i) map_all();
  g_count_news = false;
  EXPECT_EQ(g_news.load(), 0);
  EXPECT_TRUE(sink.events.empty());
  EXPECT_EQ(rules->stats().unmatched[0], 101u * 4);
}

TEST(RuleMap, ReadyMadeMessageIdsAreLimitedToOneHundredCharactersNotBytes) {
  Config c = Base();
  std::string ok, too_long;
  for (int i = 0; i < 100; ++i) ok += "\xC3\xA9";  // 100 characters, 200 bytes
  too_long = ok + "x";
  const auto event = [](const std::string& id) {
    return R"({"type":"page","anonymousId":"a","messageId":")" + id + R"("})";
  };
  std::vector<std::string> invalid;
  EXPECT_EQ(MapLines(c, 2, {event(ok), event(too_long)}, &invalid).size(), 1u);
  EXPECT_EQ(invalid, std::vector<std::string>{"\"messageId\" is longer than 100 characters"});
}

TEST(RuleMap, ReadyMadeEventsKeepTheirMessageIdAndGetATimestamp) {
  Config c = Base();
  auto rules = RuleSet::Compile(c);
  Collect sink;
  LineContext ctx;
  ctx.source = 2;
  ctx.read_time_ms = 1768890600000;
  ctx.line = R"({"type":"page","messageId":"mine","anonymousId":"a","context":{"library":{"name":"x"},"ip":"1"}})";
  rules->Map(ctx, sink);
  ASSERT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(sink.events[0],
            R"({"messageId":"mine","type":"page","anonymousId":"a","context":{"ip":"1","library":{"name":"tailtrack","version":")" TAILTRACK_VERSION
            R"("}},"timestamp":"2026-01-20T06:30:00.000Z"})");
}

// --- Text that is not valid UTF-8 is repaired before the rules see it ---

// A track event whose userId is the capture `name` and whose properties carry the line.
TemplateNode NameAndLine() {
  return MapNode({{"type", Scalar("track")},
                  {"event", Scalar("Seen")},
                  {"userId", Scalar("{{ name }}")},
                  {"properties", MapNode({{"line", Scalar("{{ _line }}")}})}});
}

TEST(RuleMap, ALatin1LineMapsLikeTheSameLineWithReplacementCharacters) {
  const std::string fffd = "\xEF\xBF\xBD";
  const std::pair<const char*, std::string> cases[] = {
      {"name=(?P<name>.*)", "Jos" + fffd},           // RE2
      {"(?P<name>.*)$", "name=Jos" + fffd},          // RE2
      {"^name=(?P<name>.*)$", "Jos" + fffd},         // the one-pass matcher stops at 0xE9, then RE2
      {R"(^(?P<name>[a-z]+)=Jos)", "name"},          // the one-pass matcher alone
  };
  ASSERT_TRUE(OnePassMatcher::TryCompile(std::get<0>(cases[2])));
  ASSERT_TRUE(OnePassMatcher::TryCompile(std::get<0>(cases[3])));
  for (const auto& [regex, name] : cases) {
    Config c = Base();
    c.rules.push_back(Rule("r", "app", regex, NameAndLine()));
    const auto latin1 = MapLines(c, 0, {"name=Jos\xE9"});
    const auto replaced = MapLines(c, 0, {"name=Jos" + fffd});
    ASSERT_EQ(latin1.size(), 1u) << regex;
    EXPECT_EQ(latin1, replaced) << regex;
    EXPECT_EQ(latin1[0], R"({"event":"Seen","properties":{"line":"name=Jos)" + fffd +
                             R"("},"type":"track","userId":")" + name + R"("})")
        << regex;
  }
}

TEST(RuleMap, ConditionsAndFiltersOnTheLineSeeItRepaired) {
  // The one-pass matcher decides this regex on the ASCII prefix alone; `_line` must still be repaired.
  const char* regex = R"(^(?P<name>[a-z]+)=)";
  ASSERT_TRUE(OnePassMatcher::TryCompile(regex));
  Config c = Base();
  RuleConfig rule = Rule("r", "app", regex,
                         MapNode({{"type", Scalar("track")},
                                  {"event", Scalar("Seen")},
                                  {"userId", Scalar("{{ name }}")},
                                  {"properties", MapNode({{"h", Scalar("{{ _line | sha256 }}")}})}}));
  rule.when = {Condition{"_line", Condition::Kind::kRegex, "Jos.$", {}, true, {}}};
  c.rules.push_back(rule);
  const auto latin1 = MapLines(c, 0, {"name=Jos\xE9"});
  ASSERT_EQ(latin1.size(), 1u);
  EXPECT_EQ(latin1, MapLines(c, 0, {"name=Jos\xEF\xBF\xBD"}));
  // printf 'name=Jos\xef\xbf\xbd' | sha256sum
  EXPECT_NE(latin1[0].find("f8cc3d20bd82bf8d5563c8547494292a809baed05ebd1fd97bed51d26b2486d1"), std::string::npos) << latin1[0];
}

TEST(RuleMap, AStrayByteIsOneReplacementCharacterThatClassesMatch) {
  Config c = Base();
  c.rules.push_back(Rule("r", "app", R"(^(?P<name>\S+) paid$)", NameAndLine()));
  const auto events = MapLines(c, 0, {"jo\xFF" "e paid", "\xFF paid"});
  ASSERT_EQ(events.size(), 2u);
  EXPECT_NE(events[0].find(R"("userId":"jo)" "\xEF\xBF\xBD" R"(e")"), std::string::npos) << events[0];
  EXPECT_NE(events[1].find(R"("userId":")" "\xEF\xBF\xBD" R"(")"), std::string::npos) << events[1];
}

TEST(RuleMap, ATruncatedSequenceAtLineEndIsOneReplacementCharacter) {
  Config c = Base();
  c.rules.push_back(Rule("r", "app", "name=(?P<name>.*)$", NameAndLine()));
  // Two bytes of a three-byte sequence (U+20AC is E2 82 AC) are one maximal subpart.
  const auto events = MapLines(c, 0, {"name=caf\xC3", "name=\xE2\x82"});
  ASSERT_EQ(events.size(), 2u);
  EXPECT_NE(events[0].find(R"("userId":"caf)" "\xEF\xBF\xBD" R"(")"), std::string::npos) << events[0];
  EXPECT_NE(events[1].find(R"("userId":")" "\xEF\xBF\xBD" R"(")"), std::string::npos) << events[1];
}

TEST(RuleMap, LinesTheOnePassMatcherDecidesUnrepairedMapAsIfRepaired) {
  // Such a line is not even scanned for invalid UTF-8 (the valid-line path
  // stays as fast as it was); the answer must be the one on the repaired line.
  const char* regexes[] = {R"(^(?P<user>[a-z]+) paid)", R"(^(?P<user>[a-z]+) paid$)",
                           R"(^(?P<user>\S+) paid (?P<amount>[0-9.]+))", R"(^(?P<user>[^ ]*) (?P<what>.*)$)"};
  const std::string lines[] = {"joe paid \xFF", "joe paid\xFF",   "jo\xE9 paid 12.5", "joe paid 12.5\xC3",
                               "\xFF",          "joe \xE2\x82 paid", "joe paid 1\xF0\x9F\x98\x80"};
  for (const char* regex : regexes) {
    ASSERT_TRUE(OnePassMatcher::TryCompile(regex)) << regex;
    Config c = Base();
    c.rules.push_back(Rule("r", "app", regex, Track()));
    for (const std::string& line : lines) {
      std::string repaired;
      json::RepairUtf8(line, repaired);
      RuleStats raw_stats, repaired_stats;
      EXPECT_EQ(MapLines(c, 0, {line}, nullptr, &raw_stats), MapLines(c, 0, {repaired}, nullptr, &repaired_stats))
          << regex << " on " << line;
      EXPECT_EQ(raw_stats.unmatched, repaired_stats.unmatched) << regex << " on " << line;
    }
  }
}

TEST(RuleMap, AValidLineIsMatchedAsItIs) {
  Config c = Base();
  c.rules.push_back(Rule("r", "app", "name=(?P<name>.*)$", NameAndLine()));
  const std::string line = "name=Jos\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80 \xEF\xBF\xBD";
  const auto events = MapLines(c, 0, {line});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], R"({"event":"Seen","properties":{"line":")" + line + R"("},"type":"track","userId":")" +
                           line.substr(5) + R"("})");
}

TEST(RuleMap, RepairingALineAllocatesNothingOnceWarm) {
  Config c = Base();
  c.rules.push_back(Rule("r", "app", R"(^(?P<user>\S+) INFO (?P<what>[a-z]+)$)", Track()));
  auto rules = RuleSet::Compile(c);
  Collect sink;
  const std::vector<std::string> lines = {"jo\xFF WARN x", "Jos\xE9 INFO x y", std::string(300, '\xE9')};
  auto map_all = [&] {
    for (const auto& line : lines) {
      LineContext ctx;
      ctx.line = line;
      rules->Map(ctx, sink);
    }
  };
  map_all();
  g_news = 0;
  g_count_news = true;
  for (int i = 0; i < 100; ++i) map_all();
  g_count_news = false;
  EXPECT_EQ(g_news.load(), 0);
  EXPECT_TRUE(sink.events.empty());
  EXPECT_EQ(rules->stats().unmatched[0], 101u * 3);
}

}  // namespace
}  // namespace tailtrack
