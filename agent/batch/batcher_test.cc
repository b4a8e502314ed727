#include "batch/batcher.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <vector>

#include "batch/gzip.h"

namespace tailtrack {
namespace {

class Collect : public BatchListener {
 public:
  void OnBatch(std::unique_ptr<Batch> batch) override { batches.push_back(std::move(batch)); }
  void OnDeadLetter(std::string_view reason, std::string_view, uint32_t) override {
    dead.emplace_back(reason);
  }
  std::vector<std::unique_ptr<Batch>> batches;
  std::vector<std::string> dead;
};

std::string Event(int i, size_t pad = 0) {
  return R"({"type":"track","event":"E","userId":"u)" + std::to_string(i) + R"(","p":")" + std::string(pad, 'x') +
         "\"}";
}

LineContext Line(uint64_t offset, uint32_t source = 0, uint64_t file_id = 7) {
  LineContext c;
  c.offset = offset;
  c.source = source;
  c.file_id = file_id;
  c.read_time_ms = 1000;
  return c;
}

TEST(Batcher, SendsABatchWhenItHoldsMaxEvents) {
  BatchConfig config;
  config.max_events = 3;
  Collect out;
  Batcher b(config, out);
  for (int i = 0; i < 7; ++i) b.OnEvent(Event(i), Line(i * 10));
  ASSERT_EQ(out.batches.size(), 2u);
  EXPECT_EQ(out.batches[0]->event_count(), 3u);
  EXPECT_EQ(out.batches[1]->event_count(), 3u);
  EXPECT_TRUE(b.has_open_batch());
  b.Flush();
  ASSERT_EQ(out.batches.size(), 3u);
  EXPECT_EQ(out.batches[2]->event_count(), 1u);
  EXPECT_FALSE(b.has_open_batch());
}

TEST(Batcher, ABodyNeverExceedsMaxBytes) {
  BatchConfig config;
  config.max_bytes = 1000;
  Collect out;
  Batcher b(config, out);
  for (int i = 0; i < 50; ++i) b.OnEvent(Event(i, i * 3), Line(i));
  b.Flush();
  size_t events = 0;
  for (const auto& batch : out.batches) {
    EXPECT_LE(batch->body().size(), 1000u);
    events += batch->event_count();
  }
  EXPECT_EQ(events, 50u);
  EXPECT_GT(out.batches.size(), 2u);
  // Full batches are full: the next event would not have fitted.
  EXPECT_GT(out.batches[0]->body().size() + 1 + out.batches[1]->event(0).size(), 1000u);
}

TEST(Batcher, TheBodyIsOneJsonObjectWithBatchAndSentAtStampedInPlace) {
  BatchConfig config;
  Collect out;
  Batcher b(config, out);
  b.OnEvent(Event(1), Line(0));
  b.OnEvent(Event(2), Line(5));
  b.Flush();
  ASSERT_EQ(out.batches.size(), 1u);
  Batch& batch = *out.batches[0];
  const size_t size = batch.body().size();
  batch.StampSentAt(1768890600123);  // 2026-01-20T06:30:00.123Z
  EXPECT_EQ(batch.body().size(), size);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(batch.body());
  EXPECT_EQ(std::string_view(doc["sentAt"]), "2026-01-20T06:30:00.123Z");
  EXPECT_EQ(simdjson::dom::array(doc["batch"]).size(), 2u);
  EXPECT_EQ(batch.event(0), Event(1));
  EXPECT_EQ(batch.event(1), Event(2));
  batch.StampSentAt(1768890601000);
  EXPECT_NE(batch.body().find("\"sentAt\":\"2026-01-20T06:30:01.000Z\"}"), std::string::npos);
}

TEST(Batcher, RemembersTheLastLineOfEveryFileInTheBatch) {
  BatchConfig config;
  Collect out;
  Batcher b(config, out);
  b.OnEvent(Event(1), Line(0, 0, 7));
  b.OnEvent(Event(2), Line(100, 1, 9));
  b.OnEvent(Event(3), Line(50, 0, 7));
  b.Flush();
  const auto& origins = out.batches[0]->origins;
  ASSERT_EQ(origins.size(), 2u);
  EXPECT_EQ(origins[0].file_id, 7u);
  EXPECT_EQ(origins[0].last_offset, 50u);
  EXPECT_EQ(origins[1].source, 1u);
  EXPECT_EQ(origins[1].last_offset, 100u);
  EXPECT_EQ(out.batches[0]->event_source(1), 1u);
}

TEST(Batcher, AnEventThatCannotFitAnyBatchIsDeadLettered) {
  BatchConfig config;
  config.max_bytes = 200;
  Collect out;
  Batcher b(config, out);
  b.OnEvent(Event(1, 300), Line(0));
  b.OnEvent(Event(2, 33 * 1024), Line(1));
  EXPECT_EQ(out.dead.size(), 2u);
  EXPECT_FALSE(b.has_open_batch());
}

TEST(Gzip, RoundTripsThroughZlib) {
  std::string body(10000, 'a');
  std::string gz;
  ASSERT_TRUE(Gzip(body, &gz));
  EXPECT_LT(gz.size(), 200u);
  EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
}

}  // namespace
}  // namespace tailtrack
