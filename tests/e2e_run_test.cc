// End to end: the real binary, a real file, a real HTTP collector on loopback.
#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/clock.h"
#include "fake_collector.h"
#include "test_util.h"

namespace tailtrack::testing {
namespace {

constexpr char kKey[] = "e2e-write-key";

std::string OrderLine(int i, const std::string& currency = "USD") {
  return "2026-01-20T06:30:0" + std::to_string(i % 10) + ".123Z INFO order completed order_id=ord_" +
         std::to_string(i) + " user_id=user_" + std::to_string(i) + " total=99.99 currency=" + currency + "\n";
}

struct Settings {
  std::string max_events = "500";
  std::string max_bytes = "500KiB";
  std::string flush_interval = "200ms";
  std::string compression = "none";
  std::string extra_collector;  // more keys under collector:, each line indented 2
};

class RunTest : public ::testing::Test {
 protected:
  std::string WriteConfig(const Settings& s) {
    const std::string path = dir_ / "tailtrack.yaml";
    WriteFile(path, "collector:\n"
                    "  url: " + collector_.url() + "\n"
                    "  write_key: " + kKey + "\n"
                    "  timeout: 5s\n"
                    "  compression: " + s.compression + "\n"
                    "  max_in_flight: 2\n" + s.extra_collector +
                    "batch:\n"
                    "  max_events: " + s.max_events + "\n"
                    "  max_bytes: " + s.max_bytes + "\n"
                    "  flush_interval: " + s.flush_interval + "\n"
                    "state_dir: " + (dir_ / "state") + "\n"
                    "sources:\n"
                    "  - name: shop\n"
                    "    type: file\n"
                    "    paths: [\"" + (dir_ / "*.log") + "\"]\n"
                    "    start_at: beginning\n"
                    "    format: text\n"
                    "rules:\n"
                    "  - name: order-completed\n"
                    "    sources: [shop]\n"
                    "    regex: '^(?P<ts>\\S+) INFO order completed order_id=(?P<order_id>\\S+) "
                    "user_id=(?P<user_id>\\S+) total=(?P<total>[0-9.]+) currency=(?P<currency>[A-Z]{3})'\n"
                    "    event:\n"
                    "      type: track\n"
                    "      event: Order Completed\n"
                    "      userId: \"{{ user_id }}\"\n"
                    "      timestamp: \"{{ ts }}\"\n"
                    "      properties:\n"
                    "        order_id: \"{{ order_id }}\"\n"
                    "        total: \"{{ total | number }}\"\n"
                    "        currency: \"{{ currency }}\"\n"
                    "      context:\n"
                    "        channel: web\n");
    return path;
  }

  std::unique_ptr<Child> Start(const Settings& s, std::vector<std::string> extra = {}) {
    WriteFile(log_, "");
    std::vector<std::string> argv = {TAILTRACK_BINARY, "run", "-c", WriteConfig(s)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<Child>(argv);
  }

  // SIGTERM, then the exit status.
  static int Stop(Child& agent) {
    agent.Signal(SIGTERM);
    return agent.Wait();
  }

  TempDir dir_;
  FakeCollector collector_{kKey};
  std::string log_ = dir_ / "shop.log";
  simdjson::dom::parser parser_;
};

TEST_F(RunTest, LinesAppendedToATailedFileArriveAsEventsWithTheRightHeadersAndShape) {
  auto agent = Start({});
  AppendFile(log_, OrderLine(1) + "2026-01-20T06:30:01.000Z DEBUG cache miss key=cart:user_1\n" + OrderLine(2, "EUR"));
  ASSERT_TRUE(collector_.WaitForEvents(2)) << agent->err();
  EXPECT_EQ(Stop(*agent), 0) << agent->err();

  const auto reqs = collector_.requests();
  for (const auto& r : reqs) {
    EXPECT_EQ(r.status, 201);
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(r.write_key, kKey);
    EXPECT_EQ(r.user_agent.rfind("tailtrack/", 0), 0u);
    ASSERT_EQ(r.sent_at.size(), 24u);
    EXPECT_EQ(r.sent_at.back(), 'Z');
  }
  const auto events = collector_.accepted_event_list();
  ASSERT_EQ(events.size(), 2u);
  simdjson::dom::element e = parser_.parse(events[1]);
  EXPECT_EQ(std::string_view(e["type"]), "track");
  EXPECT_EQ(std::string_view(e["event"]), "Order Completed");
  EXPECT_EQ(std::string_view(e["userId"]), "user_2");
  EXPECT_EQ(std::string_view(e["timestamp"]), "2026-01-20T06:30:02.123Z");
  EXPECT_EQ(double(e["properties"]["total"]), 99.99);
  EXPECT_EQ(std::string_view(e["properties"]["currency"]), "EUR");
  EXPECT_EQ(std::string_view(e["context"]["channel"]), "web");
  EXPECT_EQ(std::string_view(e["context"]["library"]["name"]), "tailtrack");
  const std::string_view id = e["messageId"];
  EXPECT_FALSE(id.empty());
  EXPECT_LE(id.size(), 100u);
  // The write key is never logged.
  EXPECT_EQ(agent->err().find(kKey), std::string::npos);
}

TEST_F(RunTest, BatchesHoldAtMostMaxEventsAndSigtermDeliversTheRest) {
  Settings s;
  s.max_events = "3";
  s.flush_interval = "1h";  // only full batches go out until the drain
  auto agent = Start(s);
  std::string lines;
  for (int i = 0; i < 10; ++i) lines += OrderLine(i);
  AppendFile(log_, lines);
  ASSERT_TRUE(collector_.WaitForEvents(9)) << agent->err();
  // The tenth waits in the open batch until SIGTERM drains it.
  EXPECT_EQ(Stop(*agent), 0) << agent->err();
  const auto reqs = collector_.requests();
  ASSERT_EQ(reqs.size(), 4u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(reqs[i].events.size(), 3u);
  EXPECT_EQ(reqs[3].events.size(), 1u);
  EXPECT_EQ(collector_.accepted_events(), 10u);
}

TEST_F(RunTest, BatchBodiesNeverExceedMaxBytes) {
  Settings s;
  s.max_bytes = "2KiB";
  auto agent = Start(s);
  std::string lines;
  for (int i = 0; i < 40; ++i) lines += OrderLine(i);
  AppendFile(log_, lines);
  ASSERT_TRUE(collector_.WaitForEvents(40)) << agent->err();
  EXPECT_EQ(Stop(*agent), 0);
  const auto reqs = collector_.requests();
  EXPECT_GT(reqs.size(), 2u);
  for (const auto& r : reqs) EXPECT_LE(r.body.size(), 2048u);
}

TEST_F(RunTest, AnUnfilledBatchIsSentWhenItsFirstEventIsFlushIntervalOld) {
  Settings s;
  s.flush_interval = "300ms";
  auto agent = Start(s);
  const int64_t appended = WallClockMillis();
  AppendFile(log_, OrderLine(1));
  ASSERT_TRUE(collector_.WaitForEvents(1)) << agent->err();
  EXPECT_GE(collector_.requests()[0].received_ms - appended, 300);
  EXPECT_EQ(Stop(*agent), 0);
}

TEST_F(RunTest, A503IsRetriedAndTheSameEventsAreAccepted) {
  collector_.Script(ScriptedAnswer::Status(503));
  auto agent = Start({});
  AppendFile(log_, OrderLine(1) + OrderLine(2));
  ASSERT_TRUE(collector_.WaitForEvents(2)) << agent->err();
  EXPECT_EQ(Stop(*agent), 0);
  const auto reqs = collector_.requests();
  ASSERT_GE(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].status, 503);
  EXPECT_EQ(reqs.back().status, 201);
  EXPECT_EQ(reqs[0].events, reqs.back().events);
}

TEST_F(RunTest, SigtermWithTheCollectorDownSpoolsWhatWaitsAndExitsZero) {
  collector_.Stop();  // connections are refused
  Settings s;
  s.extra_collector = "  drain_timeout: 300ms\n  retry:\n    initial_backoff: 50ms\n    max_backoff: 100ms\n";
  auto agent = Start(s);
  AppendFile(log_, OrderLine(1));
  ASSERT_TRUE(Eventually([&] { return agent->err().find("cannot deliver") != std::string::npos; })) << agent->err();
  EXPECT_EQ(Stop(*agent), 0) << agent->err();
  EXPECT_NE(agent->err().find("1 batches (1 events) wait in the spool"), std::string::npos) << agent->err();
}

TEST_F(RunTest, AFileCreatedAfterStartIsFoundAndReadFromItsBeginning) {
  auto agent = Start({});
  // Once the first glob has run, what appears is new (found by the stat pass).
  ASSERT_TRUE(Eventually([&] { return agent->err().find("1 files match") != std::string::npos; })) << agent->err();
  WriteFile(dir_ / "later.log", OrderLine(7));
  ASSERT_TRUE(collector_.WaitForEvents(1)) << agent->err();
  EXPECT_EQ(Stop(*agent), 0);
  simdjson::dom::element e = parser_.parse(collector_.accepted_event_list()[0]);
  EXPECT_EQ(std::string_view(e["userId"]), "user_7");
}

TEST_F(RunTest, GzipBodiesCarryContentEncoding) {
  Settings s;
  s.compression = "gzip";
  auto agent = Start(s);
  AppendFile(log_, OrderLine(1));
  ASSERT_TRUE(collector_.WaitForEvents(1)) << agent->err();
  EXPECT_EQ(Stop(*agent), 0);
  EXPECT_EQ(collector_.requests()[0].content_encoding, "gzip");
}

TEST_F(RunTest, ARefusedBatchGoesToTheDeadLetterFile) {
  collector_.Script(ScriptedAnswer::Status(400));
  auto agent = Start({});
  AppendFile(log_, OrderLine(1));
  const std::string dead = dir_ / "state/dead-letter.jsonl";
  ASSERT_TRUE(Eventually([&] { return ReadFile(dead).find("\n") != std::string::npos; })) << agent->err();
  EXPECT_EQ(Stop(*agent), 0);
  simdjson::dom::element e = parser_.parse(ReadFile(dead));
  EXPECT_EQ(std::string_view(e["source"]), "shop");
  EXPECT_NE(std::string_view(e["reason"]).find("400"), std::string_view::npos);
  EXPECT_EQ(std::string_view(e["event"]["userId"]), "user_1");
}

TEST_F(RunTest, DryRunPrintsEachBatchAndNeedsNoWriteKey) {
  Settings s;
  s.max_events = "2";
  WriteFile(log_, "");
  std::string config = ReadFile(WriteConfig(s));
  config.replace(config.find("  write_key: "), std::string("  write_key: ").size() + std::strlen(kKey) + 1, "");
  WriteFile(dir_ / "dry.yaml", config);
  Child agent({TAILTRACK_BINARY, "run", "--dry-run", "-c", dir_ / "dry.yaml"});
  AppendFile(log_, OrderLine(1) + OrderLine(2) + OrderLine(3));
  ASSERT_TRUE(Eventually([&] { return agent.out().find("user_2") != std::string::npos; })) << agent.err();
  EXPECT_EQ(Stop(agent), 0) << agent.err();
  const std::string out = agent.out();  // parse_many keeps a view of it
  simdjson::dom::document_stream docs = parser_.parse_many(out);
  size_t events = 0;
  for (auto doc : docs) {
    simdjson::dom::element body = doc.value();
    events += simdjson::dom::array(body["batch"]).size();
    EXPECT_EQ(std::string_view(body["sentAt"]).size(), 24u);
  }
  EXPECT_EQ(events, 3u);
  EXPECT_TRUE(collector_.requests().empty());
  EXPECT_FALSE(std::filesystem::exists(dir_ / "state"));
}

TEST_F(RunTest, ABadConfigExits78WithOneLineOnStderr) {
  const std::string path = dir_ / "bad.yaml";
  WriteFile(path, ReadFile(WriteConfig({})) + "no_such_key: 1\n");
  Child agent({TAILTRACK_BINARY, "run", "-c", path});
  EXPECT_EQ(agent.Wait(), 78);
  const std::string err = agent.err();
  EXPECT_EQ(err.rfind(path + ":", 0), 0u) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

TEST_F(RunTest, AStateDirThatCannotBeCreatedExits78PointingAtTheKey) {
  WriteFile(dir_ / "state", "a regular file where the state directory should go\n");
  const std::string path = WriteConfig({});
  Child agent({TAILTRACK_BINARY, "run", "-c", path});
  EXPECT_EQ(agent.Wait(), 78);
  // state_dir is on line 11 of the config WriteConfig writes, its value at column 12.
  const std::string expected = path + ":11:12: cannot create state_dir " + (dir_ / "state") + ": Not a directory\n";
  EXPECT_EQ(agent.err(), expected);
}

}  // namespace
}  // namespace tailtrack::testing
