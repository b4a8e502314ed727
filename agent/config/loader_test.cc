#include "config/loader.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

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

}  // namespace
}  // namespace tailtrack
