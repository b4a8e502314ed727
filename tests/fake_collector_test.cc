// The fake collector's opt-in behaviours, driven by a plain HTTP client.
#include "fake_collector.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <string>

#include "core/clock.h"

namespace tailtrack::testing {
namespace {

constexpr char kKey[] = "fc-key";

std::string Event(const std::string& id, const std::string& order) {
  return R"({"messageId":")" + id + R"(","type":"track","event":"Order Completed","userId":"u1",)"
         R"("properties":{"order_id":")" + order + R"(","total":1.5}})";
}

std::string Body(const std::vector<std::string>& events) {
  std::string body = R"({"batch":[)";
  for (size_t i = 0; i < events.size(); ++i) body += (i ? "," : "") + events[i];
  return body + R"(],"sentAt":"2026-01-20T06:30:00.000Z"})";
}

// The status of one POST, 0 when the connection failed (refused or broken).
int Post(const FakeCollector& c, const std::string& body, const std::string& key = kKey,
         std::string* answer = nullptr) {
  httplib::Client client("127.0.0.1", c.port());
  client.set_connection_timeout(2);
  client.set_read_timeout(5);
  auto res = client.Post("/v1/capture", {{"X-Write-Key", key}}, body, "application/json");
  if (!res) return 0;
  if (answer) *answer = res->body;
  return res->status;
}

TEST(FakeCollector, ReSendsOfOneEventAreDuplicatesAndAReusedIdIsAForeignCollision) {
  FakeCollector c(kKey);
  EXPECT_EQ(Post(c, Body({Event("a", "ord_1"), Event("b", "ord_2")})), 201);
  // The same event again, its fields in another order: a harmless re-send.
  EXPECT_EQ(Post(c, Body({R"({"properties":{"total":1.5,"order_id":"ord_1"},"userId":"u1","event":"Order Completed",)"
                          R"("type":"track","messageId":"a"})"})),
            201);
  EXPECT_EQ(c.accepted_unique(), 2u);
  EXPECT_EQ(c.duplicate_deliveries(), 1u);
  EXPECT_EQ(c.foreign_id_collisions(), 0u);
  // Another line under a used id: a real collector would drop it.
  EXPECT_EQ(Post(c, Body({Event("b", "ord_3")})), 201);
  EXPECT_EQ(c.accepted_unique(), 2u);
  EXPECT_EQ(c.duplicate_deliveries(), 2u);
  EXPECT_EQ(c.foreign_id_collisions(), 1u);
  ASSERT_EQ(c.foreign_id_collision_examples().size(), 1u);
  EXPECT_NE(c.foreign_id_collision_examples()[0].find("ord_3"), std::string::npos);
  // What was refused is not accepted, so not counted.
  EXPECT_EQ(Post(c, Body({Event("c", "ord_4")}), "wrong"), 401);
  EXPECT_EQ(c.accepted_unique(), 2u);

  const auto ids = c.AcceptedIdsBy("properties.order_id");
  ASSERT_EQ(ids.size(), 2u);  // ord_3 was never kept: "b" holds ord_2
  EXPECT_EQ(ids.at("ord_1"), std::set<std::string>{"a"});
  EXPECT_EQ(ids.at("ord_2"), std::set<std::string>{"b"});
  EXPECT_EQ(c.accepted_events(), 4u);  // every 2xx event, re-sends included, as before
}

TEST(FakeCollector, IgnoredFieldsDoNotMakeAForeignCollision) {
  FakeCollector c(kKey);
  c.IgnoreFieldsWhenComparing({"sentAt", "timestamp"});
  EXPECT_EQ(Post(c, Body({R"({"messageId":"a","type":"track","timestamp":"2026-01-20T06:30:00.000Z"})"})), 201);
  EXPECT_EQ(Post(c, Body({R"({"messageId":"a","type":"track","timestamp":"2026-01-20T06:31:00.000Z"})"})), 201);
  EXPECT_EQ(c.duplicate_deliveries(), 1u);
  EXPECT_EQ(c.foreign_id_collisions(), 0u);
  EXPECT_EQ(Post(c, Body({R"({"type":"track"})"})), 201);
  EXPECT_EQ(c.accepted_without_message_id(), 1u);
}

TEST(FakeCollector, FailRandomlyFailsAboutThatFractionHalfOfThemBrokenAndRepeatsWithTheSeed) {
  auto run = [](uint64_t seed) {
    FakeCollector c(kKey);
    c.FailRandomly(0.4, seed);
    std::string statuses;
    for (int i = 0; i < 200; ++i) {
      const int s = Post(c, Body({Event("id" + std::to_string(i), "ord")}));
      statuses += s == 201 ? 'o' : s == 503 ? 'f' : s == 0 ? 'x' : '?';
    }
    return statuses;
  };
  const std::string a = run(7);
  EXPECT_EQ(a, run(7));
  EXPECT_NE(a, run(8));
  const auto ok = std::count(a.begin(), a.end(), 'o');
  const auto failed = std::count(a.begin(), a.end(), 'f');
  const auto broken = std::count(a.begin(), a.end(), 'x');
  EXPECT_EQ(ok + failed + broken, 200) << a;
  EXPECT_GT(failed + broken, 50) << a;
  EXPECT_LT(failed + broken, 110) << a;
  EXPECT_GT(failed, 15) << a;
  EXPECT_GT(broken, 15) << a;
}

TEST(FakeCollector, FailAllUntilHeal) {
  FakeCollector c(kKey);
  c.FailAll(ScriptedAnswer::Status(429, "2"));
  EXPECT_EQ(Post(c, Body({Event("a", "ord_1")})), 429);
  EXPECT_EQ(Post(c, Body({Event("a", "ord_1")})), 429);
  c.Script(ScriptedAnswer::Status(500));  // scripted answers still come first
  EXPECT_EQ(Post(c, Body({Event("a", "ord_1")})), 500);
  c.Heal();
  EXPECT_EQ(Post(c, Body({Event("a", "ord_1")})), 201);
  EXPECT_EQ(c.accepted_unique(), 1u);
  EXPECT_EQ(c.duplicate_deliveries(), 0u);
}

TEST(FakeCollector, ABatchWithAPoisonEventIsRefusedWhole) {
  FakeCollector c(kKey);
  c.RefuseEventsContaining("poison");
  std::string answer;
  EXPECT_EQ(Post(c, Body({Event("a", "ord_1"), Event("b", "ord_poison_2"), Event("c", "ord_3")}), kKey, &answer), 400);
  EXPECT_EQ(answer, R"({"error":"invalid event"})");
  EXPECT_EQ(c.accepted_unique(), 0u);
  EXPECT_EQ(Post(c, Body({Event("a", "ord_1"), Event("c", "ord_3")})), 201);
  EXPECT_EQ(c.accepted_unique(), 2u);
  c.RefuseEventsContaining("");
  EXPECT_EQ(Post(c, Body({Event("b", "ord_poison_2")})), 201);
}

TEST(FakeCollector, ANewWriteKeyIsTheOnlyOneAccepted) {
  FakeCollector c(kKey);
  c.SetWriteKey("new-key");
  EXPECT_EQ(Post(c, Body({Event("a", "ord_1")})), 401);
  EXPECT_EQ(Post(c, Body({Event("a", "ord_1")}), "new-key"), 201);
}

TEST(FakeCollector, StopRefusesConnectionsEvenKeptAliveOnesAndRestartServesOnTheSamePort) {
  FakeCollector c(kKey);
  const int port = c.port();
  httplib::Client kept("127.0.0.1", port);
  kept.set_keep_alive(true);
  auto res = kept.Post("/v1/capture", {{"X-Write-Key", kKey}}, Body({Event("a", "ord_1")}), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 201);

  const auto t0 = std::chrono::steady_clock::now();
  c.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(500));
  EXPECT_FALSE(c.serving());
  EXPECT_EQ(Post(c, Body({Event("b", "ord_2")})), 0);  // refused
  // On the connection kept from before: not accepted either.
  res = kept.Post("/v1/capture", {{"X-Write-Key", kKey}}, Body({Event("c", "ord_3")}), "application/json");
  EXPECT_TRUE(!res || res->status / 100 != 2);
  EXPECT_EQ(c.accepted_unique(), 1u);

  c.Restart();
  EXPECT_TRUE(c.serving());
  EXPECT_EQ(c.port(), port);
  EXPECT_EQ(Post(c, Body({Event("d", "ord_4")})), 201);
  EXPECT_EQ(c.accepted_unique(), 2u);
  c.Restart();  // no-op while serving
  EXPECT_EQ(Post(c, Body({Event("e", "ord_5")})), 201);
  // Down and up again.
  c.Stop();
  EXPECT_EQ(Post(c, Body({Event("f", "ord_6")})), 0);
  c.Restart();
  EXPECT_EQ(Post(c, Body({Event("f", "ord_6")})), 201);
  EXPECT_EQ(c.accepted_unique(), 4u);
}

TEST(FakeCollector, RequestsBetweenCountsByArrivalTime) {
  FakeCollector c(kKey);
  const int64_t t0 = WallClockMillis();
  for (int i = 0; i < 3; ++i) Post(c, Body({Event("a", "ord_1")}));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const int64_t t1 = WallClockMillis();
  for (int i = 0; i < 2; ++i) Post(c, Body({Event("a", "ord_1")}), "wrong");
  const int64_t t2 = WallClockMillis() + 1;
  EXPECT_EQ(c.request_count(), 5u);
  EXPECT_EQ(c.requests_between(t0, t1), 3u);
  EXPECT_EQ(c.requests_between(t1, t2), 2u);
  EXPECT_EQ(c.requests_between(t2, t2 + 1000), 0u);
}

}  // namespace
}  // namespace tailtrack::testing
