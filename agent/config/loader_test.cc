#include "config/loader.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include <unistd.h>

namespace tailtrack {
namespace {

using namespace std::chrono_literals;

EnvLookup MapEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::string kExample = std::string(TAILTRACK_SOURCE_DIR) + "/tests/data/spec/example-config.yaml";

// The smallest valid configuration; tests append to it or replace parts of it.
const std::string kMinimal =
    "collector:\n"
    "  url: https://c.example\n"
    "  write_key: k\n"
    "sources:\n"
    "  - name: app\n"
    "    type: file\n"
    "    paths: [/var/log/app.log]\n";

// The message a configuration is rejected with, or "ok".
std::string Check(const std::string& yaml, std::map<std::string, std::string> env = {},
                  LoadOptions options = {}) {
  try {
    LoadConfigFromString(yaml, "c.yaml", MapEnv(std::move(env)), options);
    return "ok";
  } catch (const ConfigError& e) {
    return e.what();
  }
}

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

// ---------------------------------------------------------------------------
// The reference configuration.

TEST(ConfigExample, LoadsWithAWriteKeyAndPutsValuesInTheirFields) {
  const Config c = LoadConfig(kExample, MapEnv({{"TAILTRACK_WRITE_KEY", "wk_123"}}));
  EXPECT_EQ(c.path, kExample);
  EXPECT_EQ(c.collector.url, "https://analytics.chatnationbot.com");
  EXPECT_EQ(c.collector.write_key, "wk_123");
  EXPECT_EQ(c.collector.timeout, 10s);
  EXPECT_EQ(c.collector.compression, Compression::kNone);
  EXPECT_EQ(c.collector.max_in_flight, 4);
  EXPECT_EQ(c.batch.max_events, 500u);
  EXPECT_EQ(c.batch.max_bytes, 500u * 1024);
  EXPECT_EQ(c.batch.flush_interval, 1s);
  EXPECT_EQ(c.state_dir, "/var/lib/tailtrack");
  EXPECT_EQ(c.spool.dir, "/var/lib/tailtrack/spool");
  EXPECT_EQ(c.spool.max_bytes, 1ull << 30);
  EXPECT_EQ(c.spool.when_full, WhenFull::kDropOldest);
  EXPECT_EQ(c.admin.listen, "127.0.0.1:9464");

  ASSERT_EQ(c.sources.size(), 4u);
  EXPECT_EQ(c.sources[0].name, "shop");
  EXPECT_EQ(c.sources[0].type, SourceType::kFile);
  EXPECT_EQ(c.sources[0].paths, std::vector<std::string>{"/var/log/shop/*.log"});
  EXPECT_EQ(c.sources[0].exclude, std::vector<std::string>{"*.gz"});
  EXPECT_EQ(c.sources[0].start_at, StartAt::kBeginning);
  EXPECT_EQ(c.sources[0].format, Format::kText);
  EXPECT_EQ(c.sources[0].mark.line, 31);
  EXPECT_EQ(c.sources[2].format, Format::kJson);
  EXPECT_EQ(c.sources[3].type, SourceType::kUnix);
  EXPECT_EQ(c.sources[3].path, "/run/tailtrack/events.sock");
  EXPECT_EQ(c.sources[3].protocol, SocketProtocol::kStream);
  EXPECT_EQ(c.sources[3].mode, 0660u);
  EXPECT_EQ(c.sources[3].format, Format::kEvent);

  ASSERT_EQ(c.rules.size(), 6u);
  EXPECT_EQ(c.rules[0].name, "order-completed");
  EXPECT_EQ(c.rules[0].sources, std::vector<std::string>{"shop"});
  EXPECT_EQ(c.rules[0].source_marks[0].line, 60);
  EXPECT_EQ(c.rules[0].source_marks[0].column, 15);
  EXPECT_TRUE(c.rules[0].regex.starts_with(R"(^(?P<ts>\S+) INFO order completed)"));
  EXPECT_EQ(c.rules[0].regex_mark.line, 61);
  EXPECT_EQ(c.rules[0].regex_mark.column, 12);
  EXPECT_FALSE(c.rules[0].continue_matching);
  const TemplateNode& event = c.rules[0].event;
  ASSERT_EQ(event.kind, TemplateNode::Kind::kMap);
  EXPECT_EQ(event.entries[0].first, "type");
  EXPECT_EQ(event.entries[0].second.text, "track");
  EXPECT_TRUE(event.entries[0].second.plain);
  EXPECT_EQ(event.entries[2].first, "userId");
  EXPECT_EQ(event.entries[2].second.text, "{{ user_id }}");
  EXPECT_FALSE(event.entries[2].second.plain);
  EXPECT_EQ(event.entries[4].first, "properties");
  EXPECT_EQ(event.entries[4].second.kind, TemplateNode::Kind::kMap);
  EXPECT_EQ(event.entries[4].second.entries[1].second.text, "{{ total | number }}");

  const RuleConfig& web = c.rules[3];
  ASSERT_EQ(web.when.size(), 1u);
  EXPECT_EQ(web.when[0].var, "status");
  EXPECT_EQ(web.when[0].kind, Condition::Kind::kRegex);
  EXPECT_EQ(web.when[0].value, "^2");

  const RuleConfig& signup = c.rules[4];
  ASSERT_EQ(signup.when.size(), 1u);
  EXPECT_EQ(signup.when[0].kind, Condition::Kind::kEquals);
  EXPECT_EQ(signup.when[0].value, "user signup");
  EXPECT_TRUE(signup.regex.empty());

  const RuleConfig& checkout = c.rules[5];
  ASSERT_EQ(checkout.when.size(), 2u);
  EXPECT_EQ(checkout.when[1].kind, Condition::Kind::kIn);
  EXPECT_EQ(checkout.when[1].values, (std::vector<std::string>{"info", "notice"}));
  EXPECT_TRUE(c.tests.empty());
}

TEST(ConfigExample, FillsInTheDefaultsItLeavesOut) {
  const Config c = LoadConfig(kExample, MapEnv({{"TAILTRACK_WRITE_KEY", "wk_123"}}));
  EXPECT_EQ(c.collector.retry.initial_backoff, 500ms);
  EXPECT_EQ(c.collector.retry.max_backoff, 60s);
  EXPECT_EQ(c.collector.tls.ca_file, "");
  EXPECT_FALSE(c.collector.tls.insecure_skip_verify);
  EXPECT_EQ(c.collector.drain_timeout, 10s);
  EXPECT_TRUE(c.spool.fsync);
  EXPECT_EQ(c.dead_letter.path, "/var/lib/tailtrack/dead-letter.jsonl");
  EXPECT_EQ(c.dead_letter.max_bytes, 64ull << 20);
  const SourceConfig& shop = c.sources[0];
  EXPECT_EQ(shop.inner, InnerFormat::kText);
  EXPECT_EQ(shop.fingerprint_bytes, 1024u);
  EXPECT_EQ(shop.rotate_wait, 5s);
  EXPECT_EQ(shop.idle_flush, 5s);
  EXPECT_EQ(shop.close_idle_after, 5min);
  EXPECT_EQ(shop.poll_interval, 1s);
  EXPECT_EQ(shop.max_line_bytes, 1u << 20);
  EXPECT_EQ(shop.on_long_line, LongLine::kTruncate);
  EXPECT_EQ(shop.timezone, "UTC");
  EXPECT_EQ(c.sources[3].group, "");
}

TEST(ConfigExample, TakesItsDirectoriesAndUrlFromTheEnvironment) {
  const Config c = LoadConfig(kExample, MapEnv({{"TAILTRACK_WRITE_KEY", "wk"},
                                                {"TAILTRACK_COLLECTOR_URL", "http://127.0.0.1:8080/"},
                                                {"TAILTRACK_STATE_DIR", "/tmp/tt"},
                                                {"TAILTRACK_LOG_DIR", "/srv/logs"}}));
  EXPECT_EQ(c.collector.url, "http://127.0.0.1:8080");  // the trailing slash is dropped
  EXPECT_EQ(c.state_dir, "/tmp/tt");
  EXPECT_EQ(c.spool.dir, "/tmp/tt/spool");
  EXPECT_EQ(c.dead_letter.path, "/tmp/tt/dead-letter.jsonl");
  EXPECT_EQ(c.sources[1].paths, std::vector<std::string>{"/srv/logs/access.log*"});
}

TEST(ConfigExample, NeedsAWriteKeyUnlessTheCommandSendsNothing) {
  EXPECT_EQ(Check(ReadText(kExample)),
            "c.yaml:10:14: collector.write_key is empty (set it, or its environment variable, or use "
            "write_key_file)");
  EXPECT_EQ(Check(ReadText(kExample), {}, LoadOptions{.require_write_key = false}), "ok");
}

TEST(ConfigMinimal, IsValid) { EXPECT_EQ(Check(kMinimal), "ok"); }

// ---------------------------------------------------------------------------
// Bad configurations: each is one line, FILE:LINE:COLUMN: message.

TEST(ConfigErrors, UnknownKeysAreRejectedWithASuggestionForTypos) {
  EXPECT_EQ(Check("colector:\n  url: x\n"), "c.yaml:1:1: unknown key \"colector\" (did you mean \"collector\"?)");
  EXPECT_EQ(Check(Replace(kMinimal, "  write_key: k\n", "  write_key: k\n  timout: 5s\n")),
            "c.yaml:4:3: unknown key \"timout\" in collector (did you mean \"timeout\"?)");
  EXPECT_EQ(Check(Replace(kMinimal, "    paths: [/var/log/app.log]\n", "    paths: [/var/log/app.log]\n    exlude: [x]\n")),
            "c.yaml:8:5: unknown key \"exlude\" in sources[0] (did you mean \"exclude\"?)");
  EXPECT_EQ(Check(kMinimal + "frobnicate: 1\n"), "c.yaml:8:1: unknown key \"frobnicate\"");
  EXPECT_EQ(Check(Replace(kMinimal, "  write_key: k\n", "  write_key: k\n  retry:\n    max_backof: 1s\n")),
            "c.yaml:5:5: unknown key \"max_backof\" in collector.retry (did you mean \"max_backoff\"?)");
}

TEST(ConfigErrors, KeysGivenTwiceAreRejected) {
  EXPECT_EQ(Check(Replace(kMinimal, "  write_key: k\n", "  write_key: k\n  url: https://y\n")),
            "c.yaml:4:3: duplicate key \"url\" in collector (first at line 2)");
}

TEST(ConfigErrors, BadDurationsNameTheKeyAndTheValue) {
  auto with_timeout = [](const std::string& value) {
    return Check(Replace(kMinimal, "  write_key: k\n", "  write_key: k\n  timeout: " + value + "\n"));
  };
  EXPECT_EQ(with_timeout("5x"),
            "c.yaml:4:12: collector.timeout: invalid duration \"5x\": expected a number and a unit (ms, s, m, h, d), "
            "e.g. 250ms, 5s, 1m30s");
  EXPECT_EQ(with_timeout("-5s"), "c.yaml:4:12: collector.timeout: invalid duration \"-5s\": durations cannot be negative");
  EXPECT_EQ(with_timeout("5"),
            "c.yaml:4:12: collector.timeout: invalid duration \"5\": a unit is required (ms, s, m, h, d), e.g. 250ms, "
            "5s, 1m30s");
  EXPECT_EQ(with_timeout("0s"), "c.yaml:4:12: collector.timeout must be more than 0s, got \"0s\"");
  EXPECT_EQ(with_timeout("{a: 1}"), "c.yaml:4:12: collector.timeout must be a duration, not a map");
}

TEST(ConfigErrors, BadSizesNameTheKeyAndTheValue) {
  EXPECT_EQ(Check(kMinimal + "batch:\n  max_bytes: lots\n"),
            "c.yaml:9:14: batch.max_bytes: invalid size \"lots\": expected a number of bytes and a unit (B, KB, MB, "
            "GB, KiB, MiB, GiB), e.g. 512B, 500KiB, 64MiB");
  EXPECT_EQ(Check(kMinimal + "batch:\n  max_bytes: 1MiB\n"),
            "c.yaml:9:14: batch.max_bytes must be a size from 1KiB to 500KiB (the collector's limit), got \"1MiB\"");
}

TEST(ConfigErrors, NumbersOutOfRangeAreRejected) {
  EXPECT_EQ(Check(Replace(kMinimal, "  write_key: k\n", "  write_key: k\n  max_in_flight: 100\n")),
            "c.yaml:4:18: collector.max_in_flight must be an integer from 1 to 64, got \"100\"");
  EXPECT_EQ(Check(Replace(kMinimal, "  write_key: k\n", "  write_key: k\n  max_in_flight: many\n")),
            "c.yaml:4:18: collector.max_in_flight must be an integer from 1 to 64, got \"many\"");
  EXPECT_EQ(Check(kMinimal + "batch:\n  max_events: 0\n"),
            "c.yaml:9:15: batch.max_events must be an integer from 1 to 10000, got \"0\"");
}

TEST(ConfigErrors, EnumsListTheAllowedValues) {
  EXPECT_EQ(Check(Replace(kMinimal, "  write_key: k\n", "  write_key: k\n  compression: zstd\n")),
            "c.yaml:4:16: collector.compression must be one of none, gzip; got \"zstd\"");
  EXPECT_EQ(Check(Replace(kMinimal, "    type: file\n", "    type: tcp\n")),
            "c.yaml:6:11: sources[0].type must be one of file, unix; got \"tcp\"");
  EXPECT_EQ(Check(kMinimal + "spool:\n  fsync: yes\n"), "c.yaml:9:10: spool.fsync must be true or false, got \"yes\"");
}

TEST(ConfigErrors, WrongShapesAreRejected) {
  EXPECT_EQ(Check("collector: [a]\n"), "c.yaml:1:12: collector must be a map, not a list");
  EXPECT_EQ(Check("collector:\n  url: https://x\n  write_key: k\nsources:\n  name: a\n"),
            "c.yaml:5:3: sources must be a list of sources, not a map");
  EXPECT_EQ(Check(Replace(kMinimal, "    paths: [/var/log/app.log]\n", "    paths: /var/log/app.log\n")),
            "c.yaml:7:12: sources[0].paths must be a list of strings, not a single value");
  EXPECT_EQ(Check(Replace(kMinimal, "  write_key: k\n", "  write_key: k\n  timeout:\n")),
            "c.yaml:4:3: collector.timeout has no value");
  EXPECT_EQ(Check(kMinimal + "admin:\n"), "c.yaml:8:1: admin has no value");
}

TEST(ConfigErrors, RequiredKeysAreRequired) {
  EXPECT_EQ(Check("collector:\n  url: https://x\n  write_key: k\n"), "c.yaml:1:1: missing required key \"sources\"");
  EXPECT_EQ(Check("collector:\n  write_key: k\nsources:\n  - name: a\n    type: file\n    paths: [x]\n"),
            "c.yaml:1:1: missing required key \"collector.url\"");
  EXPECT_EQ(Check("collector:\n  url: https://x\n  write_key: k\nsources: []\n"),
            "c.yaml:4:10: sources must list at least one source");
  EXPECT_EQ(Check(Replace(kMinimal, "    type: file\n", "")), "c.yaml:5:5: missing required key \"sources[0].type\"");
  EXPECT_EQ(Check(Replace(kMinimal, "    paths: [/var/log/app.log]\n", "")),
            "c.yaml:5:5: missing required key \"sources[0].paths\"");
  EXPECT_EQ(Check(kMinimal + "  - name: s\n    type: unix\n"), "c.yaml:8:5: missing required key \"sources[1].path\"");
  EXPECT_EQ(Check(kMinimal + "rules:\n  - name: r\n    regex: x\n"), "c.yaml:9:5: missing required key \"rules[0].event\"");
}

TEST(ConfigErrors, KeysOfTheOtherSourceTypeAreRejected) {
  EXPECT_EQ(Check(kMinimal + "  - name: s\n    type: unix\n    path: /run/s.sock\n    paths: [a]\n"),
            "c.yaml:11:5: sources[1].paths is only valid for type: file sources");
  EXPECT_EQ(Check(Replace(kMinimal, "    paths: [/var/log/app.log]\n", "    paths: [/var/log/app.log]\n    path: /x\n")),
            "c.yaml:8:5: sources[0].path is only valid for type: unix sources");
  EXPECT_EQ(Check(kMinimal + "  - name: s\n    type: unix\n    path: /run/s.sock\n    format: cri\n"),
            "c.yaml:11:13: sources[1].format cri is only valid for type: file sources");
  EXPECT_EQ(Check(Replace(kMinimal, "    paths: [/var/log/app.log]\n", "    paths: [/var/log/app.log]\n    inner: json\n")),
            "c.yaml:8:5: sources[0].inner is only valid with format: cri or docker");
}

TEST(ConfigErrors, SourceNamesAreUniqueAndPlain) {
  EXPECT_EQ(Check(kMinimal + "  - name: app\n    type: file\n    paths: [b]\n"),
            "c.yaml:8:11: duplicate source name \"app\" (first at line 5)");
  EXPECT_EQ(Check(Replace(kMinimal, "name: app", "name: my app")),
            "c.yaml:5:11: sources[0].name must be letters, digits, _, - or ., got \"my app\"");
}

TEST(ConfigErrors, SocketModeMustBeOctal) {
  EXPECT_EQ(Check(kMinimal + "  - name: s\n    type: unix\n    path: /run/s.sock\n    mode: rw\n"),
            "c.yaml:11:11: sources[1].mode must be an octal file mode like \"0660\", got \"rw\"");
  EXPECT_EQ(Check(kMinimal + "  - name: s\n    type: unix\n    path: /run/s.sock\n    mode: \"0999\"\n"),
            "c.yaml:11:11: sources[1].mode must be an octal file mode like \"0660\", got \"0999\"");
}

TEST(ConfigErrors, CollectorUrlMustBeHttp) {
  EXPECT_EQ(Check(Replace(kMinimal, "https://c.example", "ftp://c.example")),
            "c.yaml:2:8: collector.url must be an http:// or https:// URL with a host, got \"ftp://c.example\"");
  EXPECT_EQ(Check(Replace(kMinimal, "https://c.example", "https://")),
            "c.yaml:2:8: collector.url must be an http:// or https:// URL with a host, got \"https://\"");
}

TEST(ConfigErrors, CollectorUrlEndingInTheEndpointPathIsRefusedWithTheBaseUrlToUse) {
  // Else every POST would go to /v1/capture/v1/capture.
  EXPECT_EQ(Check(Replace(kMinimal, "https://c.example", "https://c.example/v1/capture/")),
            "c.yaml:2:8: collector.url is the collector's base URL; tailtrack adds /v1/capture itself: use "
            "\"https://c.example\" instead of \"https://c.example/v1/capture\"");
}

TEST(ConfigErrors, BackoffCapMustNotBeBelowTheFirstBackoff) {
  EXPECT_EQ(Check(Replace(kMinimal, "  write_key: k\n",
                          "  write_key: k\n  retry:\n    initial_backoff: 5s\n    max_backoff: 1s\n")),
            "c.yaml:6:18: collector.retry.max_backoff (1s) must not be less than collector.retry.initial_backoff (5s)");
}

TEST(ConfigErrors, AdminListenMustHaveAPort) {
  EXPECT_EQ(Check(kMinimal + "admin:\n  listen: localhost\n"),
            "c.yaml:9:11: admin.listen must be HOST:PORT or a port number, got \"localhost\"");
}

TEST(ConfigErrors, RulesMustNameKnownSources) {
  EXPECT_EQ(Check(kMinimal + "rules:\n  - name: r\n    sources: [app, ap]\n    regex: x\n    event: {type: track}\n"),
            "c.yaml:10:20: unknown source \"ap\" in rules[0].sources (did you mean \"app\"?)");
  EXPECT_EQ(Check(kMinimal + "rules:\n  - name: r\n    sources: [billing]\n    event: {type: track}\n"),
            "c.yaml:10:15: unknown source \"billing\" in rules[0].sources (sources: app)");
  EXPECT_EQ(Check(kMinimal + "  - name: s\n    type: unix\n    path: /run/s.sock\n    format: event\n"
                  "rules:\n  - name: r\n    sources: [s]\n    event: {type: track}\n"),
            "c.yaml:14:15: source \"s\" has format: event; its lines are events already and take no rules");
}

TEST(ConfigErrors, RuleNamesAreUnique) {
  EXPECT_EQ(Check(kMinimal + "rules:\n  - name: r\n    event: {type: track}\n  - name: r\n    event: {type: track}\n"),
            "c.yaml:11:5: duplicate rule name \"r\" (first at line 9)");
}

TEST(ConfigErrors, FieldNeedsARegex) {
  EXPECT_EQ(Check(kMinimal + "rules:\n  - name: r\n    field: msg\n    event: {type: track}\n"),
            "c.yaml:10:5: rules[0].field needs a regex to apply to");
}

TEST(ConfigErrors, ConditionsHaveOneOfFourShapes) {
  const std::string rule = kMinimal + "rules:\n  - name: r\n    when:\n      status: ";
  EXPECT_EQ(Check(rule + "{regexp: '^2'}\n    event: {type: track}\n"),
            "c.yaml:11:16: unknown condition \"regexp\" in rules[0].when.status (did you mean \"regex\"?)");
  EXPECT_EQ(Check(rule + "{between: 1}\n    event: {type: track}\n"),
            "c.yaml:11:16: unknown condition \"between\" in rules[0].when.status; write a literal, {regex: RE}, "
            "{in: [a, b]} or {exists: true|false}");
  EXPECT_EQ(Check(rule + "[a, b]\n    event: {type: track}\n"),
            "c.yaml:11:15: rules[0].when.status must be a literal, {regex: RE}, {in: [a, b]} or {exists: "
            "true|false}, not a list (for one of several values write {in: [a, b]})");
  EXPECT_EQ(Check(rule + "{exists: maybe}\n    event: {type: track}\n"),
            "c.yaml:11:24: rules[0].when.status.exists must be true or false, got \"maybe\"");
  EXPECT_EQ(Check(rule + "{in: []}\n    event: {type: track}\n"),
            "c.yaml:11:20: rules[0].when.status.in must list at least one value");
}

TEST(ConfigErrors, TestsMustNameKnownSourcesAndHoldEvents) {
  EXPECT_EQ(Check(kMinimal + "tests:\n  - name: t\n    source: nope\n    input: [a]\n"),
            "c.yaml:10:13: unknown source \"nope\" in tests[0].source (sources: app)");
  EXPECT_EQ(Check(kMinimal + "tests:\n  - name: t\n    source: app\n    input: [a]\n    expect: [1]\n"),
            "c.yaml:12:14: tests[0].expect[0] must be a map (an event), not a single value");
  EXPECT_EQ(Check(kMinimal + "tests:\n  - name: t\n    source: app\n    input: []\n"),
            "c.yaml:11:12: tests[0].input must list at least one line");
  EXPECT_EQ(Check(kMinimal + "tests:\n  - name: t\n    source: app\n    input: [a]\n    expect: [{a: &e [*e]}]\n"),
            "c.yaml:12:18: tests[0].expect[0].a[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]"
            "[0][0][0][0][0][0][0][0] is nested too deeply");
}

TEST(ConfigErrors, YamlSyntaxErrorsKeepTheirPosition) {
  EXPECT_EQ(Check("collector:\n  url: [a, b\nsources: x\n"), "c.yaml:3:8: invalid YAML: end of sequence flow not found");
  EXPECT_EQ(Check("a: b: c\n"), "c.yaml:1:5: invalid YAML: illegal map value");
}

TEST(ConfigErrors, EmptyOrNonMapFilesAreRejected) {
  EXPECT_EQ(Check(""), "c.yaml:1:1: the configuration is empty");
  EXPECT_EQ(Check("# only a comment\n"), "c.yaml:1:1: the configuration is empty");
  EXPECT_EQ(Check("- a\n- b\n"), "c.yaml:1:1: the configuration must be a map of settings, not a list");
  EXPECT_EQ(Check("hello\n"), "c.yaml:1:1: the configuration must be a map of settings, not a single value");
}

TEST(ConfigErrors, AnUnreadableFileIsOneLine) {
  try {
    LoadConfig("/nonexistent/tailtrack.yaml", MapEnv({}));
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "/nonexistent/tailtrack.yaml:1:1: cannot read configuration: No such file or directory");
  }
  try {
    LoadConfig("/", MapEnv({}));
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "/:1:1: cannot read configuration: Is a directory");
  }
}

// ---------------------------------------------------------------------------
// The write key.

TEST(ConfigWriteKey, IsRequiredOnce) {
  EXPECT_EQ(Check(Replace(kMinimal, "  write_key: k\n", "")),
            "c.yaml:1:1: collector.write_key or collector.write_key_file is required");
  EXPECT_EQ(Check(Replace(kMinimal, "  write_key: k\n", "  write_key: ${NOPE:-}\n")),
            "c.yaml:3:14: collector.write_key is empty (set it, or its environment variable, or use write_key_file)");
  EXPECT_EQ(Check(Replace(kMinimal, "  write_key: k\n", "  write_key: k\n  write_key_file: /x\n")),
            "c.yaml:4:3: collector.write_key and collector.write_key_file are both set; use one");
  EXPECT_EQ(Check(Replace(kMinimal, "  write_key: k\n", "  write_key: \"ab\\ncd\"\n")),
            "c.yaml:3:14: collector.write_key holds a control character");
  EXPECT_EQ(Check(Replace(kMinimal, "  write_key: k\n", ""), {}, LoadOptions{.require_write_key = false}), "ok");
}

TEST(ConfigWriteKey, IsReadFromItsFileWithoutTheTrailingNewline) {
  char path[] = "/tmp/tailtrack_key_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "wk_secret\n", 10), 10);
  close(fd);
  const Config c = LoadConfigFromString(
      Replace(kMinimal, "  write_key: k\n", std::string("  write_key_file: ") + path + "\n"), "c.yaml", MapEnv({}));
  EXPECT_EQ(c.collector.write_key, "wk_secret");
  EXPECT_EQ(c.collector.write_key_file, path);
  unlink(path);
}

TEST(ConfigWriteKey, AnUnreadableKeyFilePointsAtTheKey) {
  EXPECT_EQ(Check(Replace(kMinimal, "  write_key: k\n", "  write_key_file: /nonexistent/key\n")),
            "c.yaml:3:19: cannot read collector.write_key_file \"/nonexistent/key\": No such file or directory");
  EXPECT_EQ(Check(Replace(kMinimal, "  write_key: k\n", "  write_key_file: /dev/null\n")),
            "c.yaml:3:19: collector.write_key_file \"/dev/null\" is empty");
  EXPECT_EQ(Check(Replace(kMinimal, "  write_key: k\n", "  write_key_file: /nonexistent/key\n"), {},
                  LoadOptions{.require_write_key = false}),
            "ok");
}

TEST(ConfigCollector, AnUnreadableCaFilePointsAtThePath) {
  const std::string tls = "  tls:\n    ca_file: /nonexistent/ca.pem\n";
  EXPECT_EQ(Check(kMinimal.substr(0, kMinimal.find("sources:")) + tls + kMinimal.substr(kMinimal.find("sources:"))),
            "c.yaml:5:14: cannot read collector.tls.ca_file \"/nonexistent/ca.pem\": No such file or directory");
  // Not checked when nothing will be sent (dry run, `tailtrack test`).
  EXPECT_EQ(Check(kMinimal.substr(0, kMinimal.find("sources:")) + tls + kMinimal.substr(kMinimal.find("sources:")), {},
                  LoadOptions{.require_write_key = false}),
            "ok");
  char path[] = "/tmp/tailtrack_ca_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  EXPECT_EQ(Check(kMinimal.substr(0, kMinimal.find("sources:")) + "  tls:\n    ca_file: " + path + "\n" +
                  kMinimal.substr(kMinimal.find("sources:"))),
            "ok");
  unlink(path);
}

TEST(ConfigWriteKey, NeverAppearsInAnErrorMessage) {
  const std::string key = "wk_SUPERSECRET_42";
  const std::vector<std::string> bad_write_keys = {
      "  write_key: " + key + "\n  write_key_file: /x\n",
      "  write_key: ${KEY}\n  write_key_file: /x\n",
      "  write_key: " + key + "${\n",
      "  write_key: " + key + "${1BAD}\n",
      "  write_key: \"" + key + "\\n\"\n",
      "  write_key: [" + key + "]\n",
      "  write_key: {" + key + ": 1}\n",
  };
  for (const std::string& bad : bad_write_keys) {
    const std::string message = Check(Replace(kMinimal, "  write_key: k\n", bad), {{"KEY", key}});
    EXPECT_NE(message, "ok") << bad;
    EXPECT_EQ(message.find("SUPERSECRET"), std::string::npos) << message;
  }
}

// ---------------------------------------------------------------------------
// ${VAR} substitution.

TEST(ConfigEnv, IsSubstitutedInEveryString) {
  const std::string yaml = kMinimal +
                           "rules:\n"
                           "  - name: r\n"
                           "    regex: '^${PREFIX} (?P<x>\\S+)$'\n"
                           "    when: {level: '${LEVEL:-info}'}\n"
                           "    event:\n"
                           "      type: track\n"
                           "      event: '${EVENT}'\n"
                           "      n: ${N:-5}\n"
                           "tests:\n"
                           "  - name: t\n"
                           "    source: app\n"
                           "    input: ['${PREFIX} 1']\n"
                           "    expect:\n"
                           "      - n: ${N:-5}\n"
                           "        s: '${N:-5}'\n";
  const Config c = LoadConfigFromString(yaml, "c.yaml", MapEnv({{"PREFIX", "app"}, {"EVENT", "Hit"}}));
  EXPECT_EQ(c.rules[0].regex, "^app (?P<x>\\S+)$");
  EXPECT_EQ(c.rules[0].when[0].value, "info");
  EXPECT_EQ(c.rules[0].event.entries[1].second.text, "Hit");
  EXPECT_EQ(c.rules[0].event.entries[2].second.text, "5");
  EXPECT_TRUE(c.rules[0].event.entries[2].second.plain);
  EXPECT_EQ(c.tests[0].input, std::vector<std::string>{"app 1"});
  EXPECT_EQ(c.tests[0].expect, std::vector<std::string>{R"({"n":5,"s":"5"})"});
}

TEST(ConfigEnv, UnsetVariablesAreErrorsAtTheirValue) {
  EXPECT_EQ(Check(Replace(kMinimal, "https://c.example", "${COLLECTOR_URL}")),
            "c.yaml:2:8: environment variable COLLECTOR_URL is not set (write ${COLLECTOR_URL:-default} to give a "
            "default)");
  EXPECT_EQ(Check(Replace(kMinimal, "https://c.example", "${COLLECTOR_URL:?set it to the collector's URL}")),
            "c.yaml:2:8: environment variable COLLECTOR_URL is not set: set it to the collector's URL");
  EXPECT_EQ(Check(Replace(kMinimal, "https://c.example", "https://${HOST")),
            "c.yaml:2:8: unterminated \"${\" (write $$ for a literal $)");
  EXPECT_EQ(Check(Replace(kMinimal, "https://c.example", "${A:-${B}}")),
            "c.yaml:2:8: invalid variable reference \"${A:-${B}\" (expected ${NAME}, ${NAME:-default} or "
            "${NAME:?message}; substitution is not nested)");
}

TEST(ConfigEnv, TypedValuesAreSubstitutedBeforeTheyAreTyped) {
  const Config c = LoadConfigFromString(
      Replace(kMinimal, "  write_key: k\n", "  write_key: k\n  timeout: ${T:-3s}\n  max_in_flight: ${F}\n"), "c.yaml",
      MapEnv({{"F", "8"}}));
  EXPECT_EQ(c.collector.timeout, 3s);
  EXPECT_EQ(c.collector.max_in_flight, 8);
}

// ---------------------------------------------------------------------------
// Rules and tests as the later stages see them.

TEST(ConfigRules, EventTemplatesKeepTheirShapeQuotingAndMarks) {
  const Config c = LoadConfigFromString(kMinimal +
                                            "rules:\n"
                                            "  - name: r\n"
                                            "    continue: true\n"
                                            "    event:\n"
                                            "      type: track\n"
                                            "      version: 2\n"
                                            "      quoted: \"2\"\n"
                                            "      tags: [a, '{{ x }}']\n",
                                        "c.yaml", MapEnv({}));
  const RuleConfig& rule = c.rules[0];
  EXPECT_TRUE(rule.continue_matching);
  EXPECT_TRUE(rule.sources.empty());
  const auto& e = rule.event.entries;
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[1].first, "version");
  EXPECT_TRUE(e[1].second.plain);
  EXPECT_EQ(e[1].second.mark.line, 13);
  EXPECT_EQ(e[1].second.mark.column, 16);
  EXPECT_FALSE(e[2].second.plain);
  ASSERT_EQ(e[3].second.kind, TemplateNode::Kind::kList);
  ASSERT_EQ(e[3].second.items.size(), 2u);
  EXPECT_EQ(e[3].second.items[1].text, "{{ x }}");
}

TEST(ConfigRules, ConditionsOfEachShapeAreRead) {
  const Config c = LoadConfigFromString(kMinimal +
                                            "rules:\n"
                                            "  - name: r\n"
                                            "    when:\n"
                                            "      a: 200\n"
                                            "      b: {regex: '^x'}\n"
                                            "      c: {in: [1, two]}\n"
                                            "      d: {exists: false}\n"
                                            "    event: {type: track}\n",
                                        "c.yaml", MapEnv({}));
  const auto& w = c.rules[0].when;
  ASSERT_EQ(w.size(), 4u);
  EXPECT_EQ(w[0].kind, Condition::Kind::kEquals);
  EXPECT_EQ(w[0].value, "200");
  EXPECT_EQ(w[1].kind, Condition::Kind::kRegex);
  EXPECT_EQ(w[1].value, "^x");
  EXPECT_EQ(w[1].mark.line, 12);
  EXPECT_EQ(w[1].mark.column, 18);
  EXPECT_EQ(w[2].kind, Condition::Kind::kIn);
  EXPECT_EQ(w[2].values, (std::vector<std::string>{"1", "two"}));
  EXPECT_EQ(w[3].kind, Condition::Kind::kExists);
  EXPECT_FALSE(w[3].exists);
}

TEST(ConfigTests, ExpectedEventsBecomeJsonWithTypesPreserved) {
  const Config c = LoadConfigFromString(kMinimal +
                                            "tests:\n"
                                            "  - name: t\n"
                                            "    source: app\n"
                                            "    input: [a, '2']\n"
                                            "    expect:\n"
                                            "      - type: track\n"
                                            "        n: 42\n"
                                            "        f: -1.5e3\n"
                                            "        b: true\n"
                                            "        z: null\n"
                                            "        s: \"42\"\n"
                                            "        h: 0x1F\n"
                                            "        q: 'say \"hi\"\\'\n"
                                            "        l: [1, x, {k: false}]\n",
                                        "c.yaml", MapEnv({}));
  ASSERT_EQ(c.tests.size(), 1u);
  EXPECT_EQ(c.tests[0].input, (std::vector<std::string>{"a", "2"}));
  EXPECT_EQ(c.tests[0].expect, std::vector<std::string>{
                                   R"({"type":"track","n":42,"f":-1.5e3,"b":true,"z":null,"s":"42","h":"0x1F",)"
                                   R"("q":"say \"hi\"\\","l":[1,"x",{"k":false}]})"});
  EXPECT_EQ(c.tests[0].source_mark.line, 10);
}

}  // namespace
}  // namespace tailtrack
